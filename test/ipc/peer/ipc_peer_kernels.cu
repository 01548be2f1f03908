// The IPC peer's kernels: one fill, launched through the CUDA runtime.
#include <cuda_runtime.h>

#include "ipc/peer/ipc_peer_kernels.hpp"

namespace vmm_pmr::test {
namespace {

__global__ void fill_bytes(unsigned char* data, std::size_t bytes, unsigned char value) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < bytes;
       i += stride) {
    data[i] = value;
  }
}

kernel_outcome ran(cudaError_t result) { return {true, cudaGetErrorName(result)}; }

}  // namespace

std::string kernels_unavailable_reason() { return {}; }

kernel_outcome fill_with_kernel(int device, void* data, std::size_t bytes, unsigned char value) {
  if (cudaError_t result = cudaSetDevice(device); result != cudaSuccess) return ran(result);
  fill_bytes<<<128, 256>>>(static_cast<unsigned char*>(data), bytes, value);
  if (cudaError_t result = cudaGetLastError(); result != cudaSuccess) return ran(result);
  return ran(cudaDeviceSynchronize());
}

}  // namespace vmm_pmr::test
