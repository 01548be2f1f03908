// Thrust and CUB taking their memory from a stream_ordered_resource on the GPU: through
// thrust_allocator (a sort's temporary storage, a device_vector's elements) and through a
// cuda::mr::async_resource_ref (CUB's temporary storage). The pool's statistics show where
// the memory came from; the results are checked against the host's. SKIPs without a
// VMM-capable GPU, and without nvcc (the algorithms are in support/cccl_algorithms.cu).
#include <catch2/catch_test_macros.hpp>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

#if VMM_PMR_TEST_KERNELS
#include "support/cccl_algorithms.hpp"
#include "support/test_kernels.hpp"
#endif

namespace {

#if VMM_PMR_TEST_KERNELS
std::vector<std::uint32_t> random_words(std::size_t count) {
  std::mt19937 random(20261207);
  std::vector<std::uint32_t> words(count);
  for (std::uint32_t& word : words) word = static_cast<std::uint32_t>(random());
  return words;
}
#endif

}  // namespace

TEST_CASE("thrust::sort takes its temporary storage from the pool, on the algorithm's stream",
          "[gpu][cccl]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
#if VMM_PMR_TEST_KERNELS
  vmm_pmr::test::kernels::cuda_stream stream;
  vmm_pmr::stream_ordered_resource pool(gpu);
  const std::vector<std::uint32_t> keys = random_words(std::size_t{1} << 22);
  const vmm_pmr::stream_ordered_stats before = pool.stats();

  const std::vector<std::uint32_t> sorted = vmm_pmr::test::cccl::thrust_sort(pool, stream, keys);

  std::vector<std::uint32_t> expected = keys;
  std::sort(expected.begin(), expected.end());
  CHECK(sorted == expected);
  const vmm_pmr::stream_ordered_stats after = pool.stats();
  // The keys' vector, and at least one temporary buffer for the sort.
  CHECK(after.allocations - before.allocations >= 2);
  CHECK(after.live_count == 0);
  const auto usages = pool.stream_stats();
  CHECK(std::any_of(usages.begin(), usages.end(), [&](const vmm_pmr::stream_usage& usage) {
    return usage.stream == stream.view() && usage.allocations >= 2;
  }));
  CHECK(pool.check_invariants() == "");
#endif
}

TEST_CASE("a thrust::device_vector with thrust_allocator keeps its elements in the pool",
          "[gpu][cccl]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
#if VMM_PMR_TEST_KERNELS
  vmm_pmr::test::kernels::cuda_stream stream;
  vmm_pmr::stream_ordered_resource pool(gpu);
  const std::vector<std::uint32_t> values = random_words(100'000);

  const vmm_pmr::test::cccl::device_vector_view seen =
      vmm_pmr::test::cccl::thrust_device_vector(pool, stream, values);

  CHECK(seen.live_count == 1);
  CHECK(seen.live_bytes == values.size() * sizeof(std::uint32_t));
  CHECK(seen.elements == values);
  CHECK(pool.stats().live_count == 0);  // freed with the vector
#endif
}

TEST_CASE("cub::DeviceReduce takes its temporary storage through a cuda::mr::async_resource_ref",
          "[gpu][cccl]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
#if VMM_PMR_TEST_KERNELS
  vmm_pmr::test::kernels::cuda_stream stream;
  vmm_pmr::stream_ordered_resource pool(gpu);
  const std::vector<std::uint32_t> values = random_words(std::size_t{1} << 20);

  const vmm_pmr::test::cccl::reduction result = vmm_pmr::test::cccl::cub_sum(pool, stream, values);

  CHECK(result.sum == std::accumulate(values.begin(), values.end(), std::uint64_t{0}));
  CHECK(result.temporary_bytes > 0);
  const vmm_pmr::stream_ordered_stats stats = pool.stats();
  CHECK(stats.allocations == 3);  // input, output, CUB's temporary storage
  CHECK(stats.deallocations == 3);
  CHECK(stats.peak_live_bytes >= values.size() * sizeof(std::uint32_t) + result.temporary_bytes);
#endif
}
