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
  const int seven[] = {7, 7, 7};
  vmm_pmr::device_vector<int> grown(0, {}, &resource);
  grown.append(seven, {});
  return (values[999] == 7 && stats.live_count == 1 && grown.element(2, {}) == 7) ? 0 : 1;
}
