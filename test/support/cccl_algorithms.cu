// Thrust and CUB through vmm_pmr's allocator and cuda::mr glue (cccl_algorithms.hpp).
#include "support/cccl_algorithms.hpp"

#include <cuda_runtime.h>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/sort.h>

#include <cub/device/device_reduce.cuh>
#include <stdexcept>
#include <string>

#include "vmm_pmr/interop/cccl.hpp"
#include "vmm_pmr/interop/thrust_allocator.hpp"

namespace vmm_pmr::test::cccl {
namespace {

void check(cudaError_t result, const char* what) {
  if (result != cudaSuccess) {
    throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorName(result));
  }
}

template <typename T>
using pool_vector = thrust::device_vector<T, thrust_allocator<T>>;

}  // namespace

std::vector<std::uint32_t> thrust_sort(stream_ordered_resource& pool, stream_view stream,
                                       const std::vector<std::uint32_t>& keys) {
  const thrust_allocator<std::uint32_t> memory(pool, stream);
  pool_vector<std::uint32_t> device_keys(keys.begin(), keys.end(), memory);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // the vector's copy ran elsewhere
  thrust::sort(thrust::cuda::par_nosync(thrust_allocator<char>(pool, stream)).on(stream.get()),
               device_keys.begin(), device_keys.end());
  check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
  std::vector<std::uint32_t> sorted(keys.size());
  thrust::copy(device_keys.begin(), device_keys.end(), sorted.begin());
  return sorted;
}

device_vector_view thrust_device_vector(stream_ordered_resource& pool, stream_view stream,
                                        const std::vector<std::uint32_t>& values) {
  const stream_ordered_stats before = pool.stats();
  pool_vector<std::uint32_t> vector(values.begin(), values.end(),
                                    thrust_allocator<std::uint32_t>(pool, stream));
  const stream_ordered_stats during = pool.stats();
  device_vector_view seen;
  seen.live_count = during.live_count - before.live_count;
  seen.live_bytes = during.live_bytes - before.live_bytes;
  seen.elements.resize(values.size());
  thrust::copy(vector.begin(), vector.end(), seen.elements.begin());
  return seen;
}

reduction cub_sum(stream_ordered_resource& pool, stream_view stream,
                  const std::vector<std::uint32_t>& values) {
  cuda::mr::async_resource_ref<cuda::mr::device_accessible> memory(pool);
  const cuda::stream_ref on(stream.get());
  const std::size_t input_bytes = values.size() * sizeof(std::uint32_t);
  auto* input = static_cast<std::uint32_t*>(memory.allocate_async(input_bytes, 256, on));
  auto* output = static_cast<std::uint64_t*>(memory.allocate_async(sizeof(std::uint64_t), 256, on));
  check(cudaMemcpyAsync(input, values.data(), input_bytes, cudaMemcpyHostToDevice, stream.get()),
        "cudaMemcpyAsync");
  reduction result;
  check(cub::DeviceReduce::Sum(nullptr, result.temporary_bytes, input, output, values.size(),
                               stream.get()),
        "cub::DeviceReduce::Sum (size query)");
  void* temporary = memory.allocate_async(result.temporary_bytes, 256, on);
  check(cub::DeviceReduce::Sum(temporary, result.temporary_bytes, input, output, values.size(),
                               stream.get()),
        "cub::DeviceReduce::Sum");
  memory.deallocate_async(temporary, result.temporary_bytes, 256, on);
  check(cudaMemcpyAsync(&result.sum, output, sizeof(result.sum), cudaMemcpyDeviceToHost,
                        stream.get()),
        "cudaMemcpyAsync");
  check(cudaStreamSynchronize(stream.get()), "cudaStreamSynchronize");
  memory.deallocate_async(output, sizeof(std::uint64_t), 256, on);
  memory.deallocate_async(input, input_bytes, 256, on);
  return result;
}

}  // namespace vmm_pmr::test::cccl
