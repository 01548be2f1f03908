// device_buffer and device_vector with real kernels and a non-default stream: what only a
// GPU can show. SKIPs without a VMM-capable GPU, and without the test kernels (built only
// where nvcc is: VMM_PMR_TEST_KERNELS).
#include <catch2/catch_test_macros.hpp>

#include <cstdint>
#include <numeric>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/growth_fixtures.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

#if VMM_PMR_TEST_KERNELS
#include "support/test_kernels.hpp"
#endif

namespace {}  // namespace

#if VMM_PMR_TEST_KERNELS

namespace kernels = vmm_pmr::test::kernels;

namespace {

std::uint32_t* words(vmm_pmr::device_buffer& buffer, std::size_t offset_bytes = 0) {
  return reinterpret_cast<std::uint32_t*>(static_cast<std::byte*>(buffer.data()) + offset_bytes);
}

}  // namespace

TEST_CASE(
    "a kernel's data survives growth into reserved address space, and the new part takes a "
    "kernel's writes",
    "[device_buffer][growth][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream stream;
  vmm_pmr::vmm_resource resource(gpu);
  constexpr std::size_t old_bytes = std::size_t{64} << 20;
  constexpr std::size_t new_bytes = std::size_t{256} << 20;
  // Address space reserved ahead: what keeps the pointer on the driver (a hint for the
  // address behind is only a wish).
  vmm_pmr::device_buffer buffer(0, stream, &resource);
  buffer.reserve_address_space(new_bytes);
  buffer.resize(old_bytes, stream);
  kernels::fill(words(buffer), 0xa5a5a5a5, old_bytes / 4, stream);
  void* const data = buffer.data();

  buffer.resize(new_bytes, stream);  // maps behind while the fill may still run
  CHECK(buffer.data() == data);
  CHECK(kernels::count_mismatches(words(buffer), 0xa5a5a5a5, old_bytes / 4, stream) == 0);
  kernels::fill(words(buffer, old_bytes), 0x5a5a5a5a, (new_bytes - old_bytes) / 4, stream);
  CHECK(kernels::count_mismatches(words(buffer, old_bytes), 0x5a5a5a5a, (new_bytes - old_bytes) / 4,
                                  stream) == 0);
  CHECK(kernels::count_mismatches(words(buffer), 0xa5a5a5a5, old_bytes / 4, stream) == 0);
  stream.synchronize();
}

TEST_CASE("a kernel's data survives growth by remapping while the kernel may still run",
          "[device_buffer][growth][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream stream;
  // Every hint refused: the growth moves (a blocker reserved behind with a hint is not
  // reliable on the driver, which may place it elsewhere).
  auto [counting, faults] = vmm_pmr::test::decorate_for_relocation(gpu);
  vmm_pmr::vmm_resource resource(faults);
  constexpr std::size_t old_bytes = std::size_t{64} << 20;
  vmm_pmr::device_buffer buffer(old_bytes, stream, &resource);
  const auto info = *resource.find(buffer.data());
  // Still writing when the buffer moves: the old addresses must outlive the kernel.
  kernels::fill_for(words(buffer), 7, old_bytes / 4, 100'000, stream);

  buffer.resize(2 * old_bytes, stream);
  CHECK(reinterpret_cast<vmm_pmr::address>(buffer.data()) != info.base);
  CHECK(kernels::count_mismatches(words(buffer), 7, old_bytes / 4, stream) == 0);
  // The same physical memory at the new address: nothing was copied.
  CHECK(resource.find(buffer.data())->chunks.front().handle == info.chunks.front().handle);
  stream.synchronize();  // throws if the kernel hit an unmapped address
}

TEST_CASE("a buffer on a stream-ordered resource grows on a non-default stream",
          "[device_buffer][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream stream;
  vmm_pmr::stream_ordered_resource pool(gpu);
  {
    vmm_pmr::device_buffer buffer(std::size_t{16} << 20, stream, &pool);
    kernels::fill_for(words(buffer), 3, (std::size_t{16} << 20) / 4, 50'000, stream);
    buffer.resize(std::size_t{64} << 20, stream);  // copy ordered after the kernel
    CHECK(kernels::count_mismatches(words(buffer), 3, (std::size_t{16} << 20) / 4, stream) == 0);
  }
  stream.synchronize();
  pool.settle(stream);
}

TEST_CASE("a device_vector round-trips through host memory on a non-default stream",
          "[device_vector][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream stream;
  vmm_pmr::vmm_resource resource(gpu);
  std::vector<std::uint32_t> host(1 << 20);
  std::iota(host.begin(), host.end(), 0u);
  vmm_pmr::device_vector<std::uint32_t> values(0, stream, &resource);
  for (int batch = 0; batch < 8; ++batch) values.append(host, stream);
  CHECK(values.size() == 8 * host.size());
  CHECK(values.element(3 * host.size() + 17, stream) == 17);
  values.set_element(5, 99, stream);
  const auto back = values.to_host(stream);
  CHECK(back[5] == 99);
  CHECK(back[host.size() + 5] == 5);
  kernels::fill(values.data(), 4, values.size(), stream);
  CHECK(values.element(values.size() - 1, stream) == 4);
}

#else

TEST_CASE("device_buffer GPU tests", "[device_buffer][gpu]") {
  vmm_pmr::test::require_gpu_with_kernels();
}

#endif
