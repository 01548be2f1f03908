// The benchmarks' spin kernel; see gpu_kernels.hpp.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "workloads/gpu_kernels.hpp"

namespace vmm_pmr::bench::kernels {
namespace {

__global__ void spin_kernel(std::uint64_t nanoseconds) {
  std::uint64_t start;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  std::uint64_t now = start;
  while (now - start < nanoseconds) asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
}

}  // namespace

void spin(CUstream_st* stream, std::uint64_t nanoseconds) {
  spin_kernel<<<1, 1, 0, stream>>>(nanoseconds);
  if (const cudaError_t result = cudaGetLastError(); result != cudaSuccess) {
    throw std::runtime_error(std::string("spin kernel launch: ") + cudaGetErrorName(result));
  }
}

}  // namespace vmm_pmr::bench::kernels
