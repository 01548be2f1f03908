/* vmm_pmr's C interface: stream-ordered device memory pools (stream_ordered_resource) for
 * C programs and for frameworks that load an allocator from a shared library by name
 * (PyTorch's CUDAPluggableAllocator, CuPy's CFunctionAllocator).
 *
 * No C++ type and no exception crosses it, and nothing aborts: a call that fails returns
 * NULL or -1 and leaves a message in vmm_pmr_last_error() (per thread) saying what was
 * asked, why it failed and what to do.
 *
 * Streams are CUstream / cudaStream_t values passed as void*; NULL is the legacy default
 * stream. On the host backend they are plain tokens.
 *
 * Options, for vmm_pmr_pool_create() and the VMM_PMR_CONF environment variable, are
 * "key=value" pairs separated by commas, e.g. "footprint_limit=1.02,release_threshold=1GiB":
 *   backend            cuda (default) or host (no GPU needed; for tests and replays)
 *   footprint_limit    a number >= 1 (stream_ordered_options::footprint_limit)
 *   release_threshold  bytes (4096, 512MiB, 1GiB, ...) cached before memory goes back
 *   reservation_size   bytes of address space reserved up front (0: the default)
 *   record             a file to write every allocate and free to, in RMM's log format
 * Sizes take B, KiB, MiB, GiB and TiB. An unknown key or a value that makes no sense
 * fails the call that reads it, naming the key, the value and what is accepted. */
#ifndef VMM_PMR_C_H
#define VMM_PMR_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmm_pmr_pool vmm_pmr_pool;

/* A pool's statistics (stream_ordered_stats), all in bytes or counts. */
typedef struct vmm_pmr_stats {
  uint64_t live_count;
  uint64_t live_bytes;
  uint64_t cached_bytes;
  uint64_t mapped_bytes;
  uint64_t reserved_bytes;
  uint64_t peak_live_bytes;
  uint64_t peak_mapped_bytes;
  uint64_t chunk_count;
  uint64_t alias_ranges;
  uint64_t alias_bytes;
  uint64_t allocations;
  uint64_t deallocations;
  uint64_t chunks_mapped;
  uint64_t chunks_released;
  uint64_t bytes_released;
  uint64_t trims;
  uint64_t deallocation_errors;
  uint64_t sleeping_bytes; /* of mapped_bytes: asleep, with no physical memory */
} vmm_pmr_stats;

/* The message of this thread's last failed call; "" when none has failed. Valid until
 * this thread's next call into the library. */
const char* vmm_pmr_last_error(void);

/* ---- Pools the caller owns ---- */

/* A pool on `device` with `options` (NULL or "": defaults). NULL on failure. */
vmm_pmr_pool* vmm_pmr_pool_create(int device, const char* options);
/* Waits for the streams with cached blocks, unmaps everything and destroys the pool.
 * Returns the number of allocations still live (their memory is gone: reported as
 * leaks on stderr), or -1 for a NULL pool. */
int64_t vmm_pmr_pool_destroy(vmm_pmr_pool* pool);

/* Memory usable on `stream` at once; NULL on failure (out of memory included). A
 * zero-size request returns a non-NULL pointer that must not be dereferenced. */
void* vmm_pmr_pool_allocate(vmm_pmr_pool* pool, size_t size, void* stream);
/* Frees `pointer` (of `size` bytes, as allocated) on `stream`: after the work queued on
 * `stream` so far, the memory may be reused. 0, or -1 for a pointer this pool did not
 * hand out, a double free or a wrong size (the allocation then stays live). */
int vmm_pmr_pool_deallocate(vmm_pmr_pool* pool, void* pointer, size_t size, void* stream);
/* Frees `pointer` by address alone, on the stream it was allocated on. 0 or -1. */
int vmm_pmr_pool_free(vmm_pmr_pool* pool, void* pointer);

/* Releases whole free chunks while more than `bytes_to_keep` stay cached; waits for the
 * streams that freed into them. The bytes released, or -1. */
int64_t vmm_pmr_pool_trim(vmm_pmr_pool* pool, size_t bytes_to_keep);
/* Waits for `stream`'s work; the blocks freed on it become reusable by every stream.
 * Call it before destroying a stream that freed memory into the pool. 0 or -1. */
int vmm_pmr_pool_settle(vmm_pmr_pool* pool, void* stream);
/* 0 and *out filled, or -1. */
int vmm_pmr_pool_stats(const vmm_pmr_pool* pool, vmm_pmr_stats* out);

/* Gives all of the pool's physical memory back to the driver while every address stays
 * valid (stream_ordered_resource::sleep): waits for all work on the device, then releases
 * the free chunks and unmaps the others, first copying the contents of live allocations
 * to host memory when `keep_contents` is nonzero. Asleep, vmm_pmr_pool_allocate fails
 * (NULL) and frees work. The bytes released (0 when already asleep), or -1. */
int64_t vmm_pmr_pool_sleep(vmm_pmr_pool* pool, int keep_contents);
/* Maps new memory at the same addresses and restores kept contents. 0, or -1; when the
 * device cannot hold it the pool stays asleep, ready for another call. */
int vmm_pmr_pool_wake(vmm_pmr_pool* pool);
/* 1 asleep, 0 awake, -1 for a NULL pool. */
int vmm_pmr_pool_asleep(const vmm_pmr_pool* pool);
/* A function vmm_pmr_pool_sleep calls first, or vmm_pmr_pool_wake calls once the memory is
 * back (to deregister and register buffers with NCCL, say), with the pool and `user`. */
typedef void (*vmm_pmr_sleep_hook)(vmm_pmr_pool* pool, void* user);
/* Sets the pool's hooks (NULL: none); a sleep or wake with nothing to do calls neither.
 * 0, or -1. */
int vmm_pmr_pool_set_sleep_hooks(vmm_pmr_pool* pool, vmm_pmr_sleep_hook before_sleep,
                                 vmm_pmr_sleep_hook after_wake, void* user);

/* ---- The device pools the framework hooks use ---- */

/* The process's pool for `device`, created at its first use with the options of
 * VMM_PMR_CONF (read once); NULL on failure. Owned by the library and never destroyed
 * (frameworks free from their own exit handlers, and the driver may be gone by then);
 * traces are flushed at exit. With record=FILE, device 0's pool writes FILE and device
 * D's writes FILE.D. With backend=host, every device number gets a pool of host memory. */
vmm_pmr_pool* vmm_pmr_device_pool(int device);

/* ---- Tags: memory that sleeps and wakes together ---- */

/* Makes `tag` the calling thread's tag (NULL or "": none). The framework hooks then take
 * memory from the device's pool for that tag, made at its first use with the options of
 * VMM_PMR_CONF (without record=), and free it by address into the pool that holds it; so
 * one tag's memory sleeps and wakes apart from the rest (vmm_pmr_tagged_pool, then
 * vmm_pmr_pool_sleep). 0, or -1 for a tag of more than 63 bytes. */
int vmm_pmr_set_tag(const char* tag);
/* The calling thread's tag; "" when it has none. */
const char* vmm_pmr_current_tag(void);
/* The pool of `device` for `tag` (NULL or "": vmm_pmr_device_pool(device)), made at its
 * first use; owned by the library, like the device pools. NULL on failure, also past 32
 * tags. */
vmm_pmr_pool* vmm_pmr_tagged_pool(int device, const char* tag);
/* The pool of `device`, of any tag, whose addresses hold `pointer`; when none does,
 * vmm_pmr_device_pool(device), where freeing it is reported as a bad free. */
vmm_pmr_pool* vmm_pmr_pool_holding(int device, const void* pointer);

/* PyTorch's torch.cuda.memory.CUDAPluggableAllocator(path, "vmm_pmr_torch_malloc",
 * "vmm_pmr_torch_free"). PyTorch does not check for NULL: a framework that must see its
 * own out-of-memory error uses the Python module (vmm_pmr.torch), not these directly. */
void* vmm_pmr_torch_malloc(size_t size, int device, void* stream);
void vmm_pmr_torch_free(void* pointer, size_t size, int device, void* stream);

/* CuPy's cupy.cuda.memory.CFunctionAllocator signatures: no size and no stream on free,
 * so the pool frees by address on the stream of the allocation; allocations are on the
 * legacy default stream. `param` is unused. */
void* vmm_pmr_cupy_malloc(void* param, size_t size, int device);
void vmm_pmr_cupy_free(void* param, void* pointer, int device);

#ifdef __cplusplus
}
#endif

#endif /* VMM_PMR_C_H */
