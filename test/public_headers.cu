// Compiled by nvcc: every public header must build inside a CUDA translation unit,
// next to a kernel, and the library must be usable from it. Runs on the host backend,
// so it needs no GPU.
#include <cstdio>
#include <memory_resource>
#include <vector>

#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"
#include "vmm_pmr/vmm_pmr.hpp"

__global__ void fill(int* data, int value, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) data[i] = value;
}

int main() {
  vmm_pmr::vmm_resource resource(vmm_pmr::make_host_backend());
  std::pmr::vector<int> values(&resource);
  values.assign(1000, 7);
  const auto stats = resource.stats();
  std::printf("nvcc: %s\n", vmm_pmr::to_string(stats).c_str());
  return (values[999] == 7 && stats.live_count == 1) ? 0 : 1;
}
