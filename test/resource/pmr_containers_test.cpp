// Standard pmr containers on vmm_resource: over the host backend, and over host-location
// VMM memory on the GPU (which the host CPU may dereference, and kernels read and write).
// And the two facts behind "Pitfalls of pmr with device memory" in docs/interop.md: the
// standard monotonic and pool resources write their bookkeeping into the upstream memory
// (so they belong over host-accessible memory only), while stream_ordered_resource keeps
// its bookkeeping off the memory it hands out.
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

#if VMM_PMR_TEST_KERNELS
#include "support/test_kernels.hpp"
#endif

namespace {

// Memory the host CPU can dereference: any host-backend memory; host-location
// memory on the GPU.
vmm_pmr::vmm_options host_readable_options() {
  vmm_pmr::vmm_options options;
  options.location = vmm_pmr::memory_location::on_host();
  return options;
}

constexpr unsigned char untouched = 0xab;

// An upstream that fills every block it hands out with `untouched` and remembers it, so a
// test can see which bytes the resource on top wrote without being asked to.
class marking_upstream final : public std::pmr::memory_resource {
 public:
  explicit marking_upstream(std::pmr::memory_resource& upstream) : upstream_(upstream) {}

  // Bytes of the live upstream blocks that no longer hold the mark.
  std::size_t bytes_written() const {
    std::size_t written = 0;
    for (const auto& [block, bytes] : blocks_) {
      const auto* first = static_cast<const unsigned char*>(block);
      written += static_cast<std::size_t>(
          std::count_if(first, first + bytes, [](unsigned char b) { return b != untouched; }));
    }
    return written;
  }
  std::size_t blocks() const { return blocks_.size(); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    void* block = upstream_.allocate(bytes, alignment);
    std::memset(block, untouched, bytes);
    blocks_.emplace_back(block, bytes);
    return block;
  }
  void do_deallocate(void* block, std::size_t bytes, std::size_t alignment) override {
    std::erase(blocks_, std::pair<void*, std::size_t>(block, bytes));
    upstream_.deallocate(block, bytes, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource& upstream_;
  std::vector<std::pair<void*, std::size_t>> blocks_;
};

}  // namespace

BACKEND_TEST_CASE("std::pmr::vector<int> grows and keeps its elements in VMM memory",
                  "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::vector<int> values(&resource);
    for (int i = 0; i < 100000; ++i) values.push_back(i);
    CHECK(std::accumulate(values.begin(), values.end(), 0LL) == 100000LL * 99999 / 2);
    CHECK(resource.find(values.data()));
    CHECK(resource.stats().live_count == 1);
    CHECK(resource.stats().total_count > 1);  // it reallocated on the way
  }
  CHECK(resource.stats().live_count == 0);
  CHECK(resource.stats().deallocation_errors == 0);
}

TEST_CASE("kernels read and write a std::pmr::vector in host-location VMM memory",
          "[pmr_containers][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
#if VMM_PMR_TEST_KERNELS
  namespace kernels = vmm_pmr::test::kernels;
  if (!gpu->attributes(0).host_location_vmm) SKIP("device 0 has no host-location VMM");
  vmm_pmr::vmm_resource resource(gpu, host_readable_options());
  kernels::cuda_stream stream;
  std::pmr::vector<std::uint32_t> values(std::size_t{1} << 20, 7u, &resource);  // the CPU writes
  CHECK(kernels::count_mismatches(values.data(), 7u, values.size(), stream) == 0);
  kernels::fill(values.data(), 9u, values.size(), stream);  // a kernel writes
  stream.synchronize();
  CHECK(std::all_of(values.begin(), values.end(), [](std::uint32_t v) { return v == 9u; }));
  values.push_back(11u);  // reallocates within the resource: the copy is the CPU's
  CHECK(resource.find(values.data()));
  CHECK(kernels::count_mismatches(values.data(), 9u, values.size() - 1, stream) == 0);
  CHECK(kernels::count_mismatches(values.data() + values.size() - 1, 11u, 1, stream) == 0);
#endif
}

BACKEND_TEST_CASE("std::pmr::string allocates from VMM memory beyond the small-string buffer",
                  "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::string text(&resource);
    text.assign(1000, 'x');
    text += " and more";
    CHECK(text.size() == 1009);
    CHECK(text.substr(1000) == " and more");
    CHECK(resource.find(text.data()));
  }
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("nested pmr containers all allocate from the same resource", "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::vector<std::pmr::string> words(&resource);
    for (int i = 0; i < 50; ++i)
      words.emplace_back(std::string(100, static_cast<char>('a' + i % 26)));
    CHECK(words[49].front() == 'x');
    CHECK(resource.find(words[10].data()));  // the element's allocator came from the vector
    CHECK(resource.stats().live_count >= 51);
  }
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("std::pmr's monotonic and pool resources write bookkeeping into upstream memory",
                  "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  marking_upstream upstream(resource);
  SECTION("monotonic_buffer_resource") {
    std::pmr::monotonic_buffer_resource monotonic(&upstream);
    // Allocated, never written by the caller.
    for (int i = 0; i < 100; ++i) (void)monotonic.allocate(1000, 8);
    REQUIRE(upstream.blocks() >= 1);
    CHECK(upstream.bytes_written() > 0);
  }
  SECTION("unsynchronized_pool_resource") {
    std::pmr::unsynchronized_pool_resource pool(&upstream);
    std::vector<void*> blocks;
    for (int i = 0; i < 100; ++i) blocks.push_back(pool.allocate(64, 8));
    for (void* block : blocks) pool.deallocate(block, 64, 8);
    REQUIRE(upstream.blocks() >= 1);
    CHECK(upstream.bytes_written() > 0);
  }
  CHECK(upstream.blocks() == 0);
}

TEST_CASE("stream_ordered_resource keeps its bookkeeping off the memory it hands out",
          "[pmr_containers][stream_ordered]") {
  vmm_pmr::stream_ordered_resource pool(vmm_pmr::test::make_test_host_backend());
  std::vector<void*> blocks;
  for (int i = 0; i < 64; ++i) {
    blocks.push_back(pool.allocate(4096));
    std::memset(blocks.back(), untouched, 4096);
  }
  // Freed blocks go to the free lists, and come back from them: no byte of theirs (nor of
  // their neighbours) was used to keep track of them.
  for (std::size_t i = 0; i < blocks.size(); i += 2) pool.deallocate(blocks[i], 4096);
  for (std::size_t i = 0; i < blocks.size(); i += 2) blocks[i] = pool.allocate(4096);
  for (void* block : blocks) {
    const auto* first = static_cast<const unsigned char*>(block);
    REQUIRE(std::all_of(first, first + 4096, [](unsigned char b) { return b == untouched; }));
  }
  for (void* block : blocks) pool.deallocate(block, 4096);
}
