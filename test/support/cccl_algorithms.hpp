// Thrust and CUB algorithms whose memory comes from a stream_ordered_resource, as plain
// C++ functions for the GPU tests (cccl_gpu_test.cpp).
//
// Implemented in cccl_algorithms.cu, built with the test kernels only where nvcc is (the
// test binary then defines VMM_PMR_TEST_KERNELS): the Thrust allocator and the cuda::mr
// glue are compiled by nvcc wherever CI builds, and run on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

namespace vmm_pmr::test::cccl {

// thrust::sort of `keys` on `stream`, its temporary storage from `pool`
// (thrust::cuda::par_nosync(thrust_allocator).on(stream)); the sorted keys come back.
std::vector<std::uint32_t> thrust_sort(stream_ordered_resource& pool, stream_view stream,
                                       const std::vector<std::uint32_t>& keys);

// What a thrust::device_vector<uint32_t, thrust_allocator<uint32_t>> of `values` saw of the
// pool while it lived (its live allocations and bytes), and its elements read back.
struct device_vector_view {
  std::size_t live_count = 0;
  std::size_t live_bytes = 0;
  std::vector<std::uint32_t> elements;
};
device_vector_view thrust_device_vector(stream_ordered_resource& pool, stream_view stream,
                                        const std::vector<std::uint32_t>& values);

// cub::DeviceReduce::Sum of `values` on `stream`, its temporary storage allocated through a
// cuda::mr::async_resource_ref<device_accessible> to `pool`; `temporary_bytes` is what CUB
// asked for.
struct reduction {
  std::uint64_t sum = 0;
  std::size_t temporary_bytes = 0;
};
reduction cub_sum(stream_ordered_resource& pool, stream_view stream,
                  const std::vector<std::uint32_t>& values);

}  // namespace vmm_pmr::test::cccl
