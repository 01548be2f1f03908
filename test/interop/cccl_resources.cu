// Compiled by nvcc: vmm_pmr's resources as CCCL memory resources (vmm_pmr/cccl.hpp). The
// static_asserts are the compile-time checks (the concepts of CCCL 3.0, which the toolkit
// ships, and the member spellings of CCCL 3.1 and later, checked against those concepts'
// requirements written out below); main() then allocates through cuda::mr references on
// the host backend, so it needs no GPU. Exit status 0 when every check holds.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/interop/cccl.hpp"

namespace {

using cuda::mr::device_accessible;
using cuda::mr::host_accessible;
using vmm_pmr::host_accessible_resource;
using vmm_pmr::stream_bound_resource;
using vmm_pmr::stream_ordered_resource;
using vmm_pmr::vmm_resource;

// References are made from the resources themselves, which cannot be copied.
static_assert(std::is_constructible_v<cuda::mr::async_resource_ref<device_accessible>,
                                      stream_ordered_resource&>);
static_assert(std::is_constructible_v<cuda::mr::async_resource_ref<device_accessible>,
                                      stream_bound_resource&>);
static_assert(std::is_constructible_v<cuda::mr::resource_ref<device_accessible>, vmm_resource&>);
static_assert(std::is_constructible_v<cuda::mr::resource_ref<device_accessible, host_accessible>,
                                      host_accessible_resource&>);
// Wrong uses are rejected: vmm_resource has no stream-ordered calls, and nothing claims host
// access that a resource's type does not promise.
static_assert(
    !std::is_constructible_v<cuda::mr::async_resource_ref<device_accessible>, vmm_resource&>);
static_assert(!std::is_constructible_v<cuda::mr::resource_ref<host_accessible>, vmm_resource&>);
static_assert(!std::is_constructible_v<cuda::mr::async_resource_ref<host_accessible>,
                                       stream_ordered_resource&>);

// CCCL 3.1 and later: synchronous_resource and resource, as they require.
template <typename Resource>
concept synchronous_resource_31 = requires(Resource& r, void* p, std::size_t n, std::size_t a) {
  { r.allocate_sync(n, a) } -> std::same_as<void*>;
  { r.deallocate_sync(p, n, a) } -> std::same_as<void>;
};
template <typename Resource>
concept resource_31 = synchronous_resource_31<Resource> &&
    requires(Resource& r, void* p, std::size_t n, std::size_t a, cuda::stream_ref s) {
  { r.allocate(s, n, a) } -> std::same_as<void*>;
  { r.deallocate(s, p, n, a) } -> std::same_as<void>;
};
static_assert(resource_31<stream_ordered_resource>);
static_assert(resource_31<stream_bound_resource>);
static_assert(synchronous_resource_31<vmm_resource> && !resource_31<vmm_resource>);
static_assert(synchronous_resource_31<host_accessible_resource>);

// Host memory under another backend's name: a resource host_accessible_resource must refuse.
class renamed_backend final : public vmm_pmr::forwarding_backend {
 public:
  using forwarding_backend::forwarding_backend;
  std::string name() const override { return "not-host"; }
};

int failures = 0;
void expect(bool holds, const char* what) {
  if (!holds) {
    std::printf("FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  const auto host = vmm_pmr::make_host_backend();
  stream_ordered_resource pool(host);
  const cuda::stream_ref stream(reinterpret_cast<cudaStream_t>(0x5000));
  {
    cuda::mr::async_resource_ref<device_accessible> ref(pool);
    void* p = ref.allocate_async(1000, 256, stream);
    const auto usages = pool.stream_stats();
    expect(pool.stats().live_count == 1, "allocate_async through the reference uses the pool");
    expect(usages.size() == 1 && usages[0].stream == vmm_pmr::stream_view(stream.get()),
           "allocate_async allocates on the stream it is given");
    ref.deallocate_async(p, 1000, 256, stream);
    expect(pool.stats().live_count == 0, "deallocate_async frees it");
  }
  {
    auto view = pool.on_stream({});
    cuda::mr::async_resource_ref<device_accessible> ref(view);
    void* p = ref.allocate_async(512, 256, stream);
    expect(pool.stream_stats().size() == 1, "a view's allocate_async takes the explicit stream");
    ref.deallocate_async(p, 512, 256, stream);
    const std::uint64_t allocations = pool.stats().allocations;
    void* q = pool.allocate(stream, 4096, 256);  // the CCCL 3.1 spelling
    expect(pool.stats().live_count == 1, "the 3.1 spelling allocates from the pool");
    pool.deallocate(stream, q, 4096, 256);
    expect(pool.stats().allocations == allocations + 1 && pool.stats().live_count == 0,
           "the 3.1 spelling frees on the pool");
  }
  {
    vmm_resource resource(host);
    cuda::mr::resource_ref<device_accessible> ref(resource);
    void* p = ref.allocate(1 << 20, 256);
    expect(resource.stats().live_count == 1, "resource_ref allocates from the vmm_resource");
    ref.deallocate(p, 1 << 20, 256);
    host_accessible_resource host_memory(resource);
    cuda::mr::resource_ref<device_accessible, host_accessible> both(host_memory);
    auto* bytes = static_cast<unsigned char*>(both.allocate(4096, 256));
    std::memset(bytes, 0x5a, 4096);  // host-accessible: written from the host
    expect(bytes[4095] == 0x5a && resource.stats().live_count == 1,
           "host_accessible_resource allocates host memory from the vmm_resource");
    both.deallocate(bytes, 4096, 256);
  }
  {
    vmm_resource elsewhere(std::make_shared<renamed_backend>(host));
    bool refused = false;
    try {
      host_accessible_resource claimed(elsewhere);
    } catch (const vmm_pmr::invalid_argument& error) {
      refused = std::strstr(error.what(), "device memory") != nullptr;
    }
    expect(refused, "host_accessible_resource refuses a resource of device memory");
  }
  std::printf("cccl_resources: %s\n", failures == 0 ? "all checks hold" : "checks failed");
  return failures == 0 ? 0 : 1;
}
