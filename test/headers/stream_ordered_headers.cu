// Compiled by nvcc: the stream-ordered resource's public headers inside a CUDA
// translation unit, next to a kernel, taking the runtime's own stream types. Runs on
// the host backend, so it needs no GPU.
#include <cuda_runtime.h>

#include <cstdio>
#include <memory_resource>
#include <vector>

#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/stream_ordered/stream_bound_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

__global__ void scale(float* data, float factor, int count) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) data[i] *= factor;
}

int main() {
  // cudaStream_t and CUstream are the same pointer type: both convert to stream_view.
  const cudaStream_t legacy = cudaStreamLegacy;
  const vmm_pmr::stream_view from_runtime = legacy;
  const vmm_pmr::stream_view per_thread = cudaStreamPerThread;

  vmm_pmr::stream_ordered_resource resource(vmm_pmr::make_host_backend());
  auto on_stream = resource.on_stream(per_thread);
  std::pmr::vector<float> values(&on_stream);
  values.assign(1000, 1.5f);
  void* block = resource.allocate(4096, from_runtime);
  resource.deallocate(block, 4096, from_runtime);
  const auto stats = resource.stats();
  std::printf("nvcc: %s\n", vmm_pmr::to_string(stats).c_str());
  const bool ok = from_runtime.is_legacy_default() && per_thread.is_per_thread_default() &&
                  values[999] == 1.5f && stats.live_count == 1;
  return ok ? 0 : 1;
}
