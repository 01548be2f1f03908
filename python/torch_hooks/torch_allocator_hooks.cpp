// PyTorch's allocator hooks over vmm_pmr's device pools: the functions vmm_pmr.torch
// hands to torch.cuda.memory.CUDAPluggableAllocator.
//
// PyTorch does not check a pluggable allocator's result for NULL, so a failed allocation
// must throw, and only c10::OutOfMemoryError reaches Python as torch.OutOfMemoryError
// (a std::bad_alloc becomes a plain RuntimeError). That is why these hooks are a library
// of their own, compiled against the installed PyTorch's headers with its C++ ABI and
// linked to its libc10, while libvmm_pmr_c stays free of PyTorch.
#include <vmm_pmr_c.h>

#include <c10/util/Exception.h>

#include <atomic>
#include <cstddef>
#include <cstdio>

extern "C" {

// The PyTorch version these hooks were compiled against: vmm_pmr.torch refuses another,
// since c10's exception types must match the ones PyTorch catches.
const char* vmm_pmr_torch_built_for() { return VMM_PMR_TORCH_VERSION; }

// CUDAPluggableAllocator's alloc_fn: void*(size_t, int, cudaStream_t). The stream is a
// pointer here as in vmm_pmr_c.h, the same ABI without CUDA's headers.
void* vmm_pmr_torch_allocate(std::size_t size, int device, void* stream) {
  vmm_pmr_pool* pool = vmm_pmr_tagged_pool(device, vmm_pmr_current_tag());
  TORCH_CHECK(pool != nullptr, "vmm_pmr has no pool for CUDA device ", device, ": ",
              vmm_pmr_last_error());
  void* pointer = vmm_pmr_pool_allocate(pool, size, stream);
  TORCH_CHECK_WITH(OutOfMemoryError, pointer != nullptr,
                   "CUDA out of memory in vmm_pmr's pool on device ", device, ": ",
                   vmm_pmr_last_error());
  return pointer;
}

// CUDAPluggableAllocator's free_fn: void(void*, size_t, int, cudaStream_t), called with
// the size, device and stream of the allocation. It runs in a tensor's deleter, which
// must not throw: a refused free (counted in the pool's deallocation_errors) is said on
// stderr, once, so that a loop of them does not flood the output, and the program goes on.
void vmm_pmr_torch_deallocate(void* pointer, std::size_t size, int device, void* stream) {
  static std::atomic<bool> reported{false};
  vmm_pmr_pool* pool = vmm_pmr_pool_holding(device, pointer);
  if (pool == nullptr || vmm_pmr_pool_deallocate(pool, pointer, size, stream) != 0) {
    if (reported.exchange(true)) return;
    std::fprintf(stderr,
                 "vmm_pmr: freeing PyTorch's %zu bytes at %p on device %d failed: %s (reported "
                 "once; later failures are counted in vmm_pmr_stats.deallocation_errors)\n",
                 size, pointer, device, vmm_pmr_last_error());
  }
}

}  // extern "C"
