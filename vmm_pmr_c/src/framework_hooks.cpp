// The allocator hooks PyTorch (CUDAPluggableAllocator) and CuPy (CFunctionAllocator) load
// by name, over the device pools: the calling thread's tag picks the pool to allocate from
// (tagged_pools.cpp), and a free goes to the pool that holds its address. Their frees return
// nothing: a bad free is counted by the pool (vmm_pmr_stats::deallocation_errors), left in
// vmm_pmr_last_error(), and printed on stderr the first time for each hook, so that a framework
// freeing wrongly in a loop does not flood the output.
#include <atomic>
#include <cstdio>
#include <optional>
#include <string>

#include "last_error.hpp"
#include "pool.hpp"
#include "vmm_pmr_c.h"

namespace {

void report_bad_free(std::atomic<bool>& reported, const char* hook) noexcept {
  if (reported.exchange(true)) return;
  std::fprintf(stderr,
               "vmm_pmr: %s: %s (reported once; later bad frees are counted in "
               "vmm_pmr_stats.deallocation_errors and left in vmm_pmr_last_error())\n",
               hook, vmm_pmr_last_error());
}

std::atomic<bool> torch_reported{false};
std::atomic<bool> cupy_reported{false};

}  // namespace

extern "C" {

void* vmm_pmr_torch_malloc(size_t size, int device, void* stream) {
  vmm_pmr_pool* pool = vmm_pmr_tagged_pool(device, vmm_pmr_current_tag());
  return pool == nullptr ? nullptr : vmm_pmr_pool_allocate(pool, size, stream);
}

void vmm_pmr_torch_free(void* pointer, size_t size, int device, void* stream) {
  vmm_pmr_pool* pool = vmm_pmr_pool_holding(device, pointer);
  if (pool == nullptr || vmm_pmr_pool_deallocate(pool, pointer, size, stream) != 0) {
    report_bad_free(torch_reported, "vmm_pmr_torch_free");
  }
}

void* vmm_pmr_cupy_malloc(void* /*param*/, size_t size, int device) {
  vmm_pmr_pool* pool = vmm_pmr_tagged_pool(device, vmm_pmr_current_tag());
  return pool == nullptr ? nullptr : vmm_pmr_pool_allocate(pool, size, nullptr);
}

void vmm_pmr_cupy_free(void* /*param*/, void* pointer, int device) {
  vmm_pmr_pool* pool = vmm_pmr_pool_holding(device, pointer);
  if (pool == nullptr || vmm_pmr_pool_free(pool, pointer) != 0) {
    report_bad_free(cupy_reported, "vmm_pmr_cupy_free");
  }
}

}  // extern "C"
