// device_buffer: untyped device memory that knows its size, capacity, stream and resource,
// and grows without copying when its memory is VMM-backed.
//
// What the buffer does depends on its resource, found once at construction:
//   vmm_resource          growth maps new physical memory right behind the current pages
//                         (same pointer, nothing copied) when there is address space
//                         there: always within reserve_address_space(), otherwise only if
//                         the driver grants the address behind, which on a GPU it often
//                         does not. Else the same physical memory is mapped at a range
//                         twice the new size (the pointer changes, still nothing copied;
//                         the next growths fit there). shrink_to_fit()
//                         unmaps and releases the tail. Driver calls are synchronous: the
//                         buffer's stream is waited for before memory is unmapped or freed.
//   stream_ordered_resource, or a view of one bound to any stream (stream_bound_resource)
//                         allocation and deallocation on the buffer's stream (the view's
//                         own stream is not used); growing allocates, copies and frees on
//                         the stream, without waiting.
//   any other resource    allocate, copy on the stream, wait for the stream, free. The
//                         memory must be device memory or host memory the copy engine can
//                         reach (the CUDA driver with unified addressing, or memmove when
//                         there is no driver: then all memory is host memory).
// Copies run on a stream (backend::copy_on_stream): ordered after the stream's work so
// far, and before work submitted later.
//
// Invariants: size() <= capacity(); data() is null exactly when capacity() is 0; the
// memory resource is null only for a default-constructed, moved-from or released buffer,
// which holds no memory and refuses to allocate (invalid_argument). Every operation that
// throws leaves the buffer as it was. Like a standard container, one buffer is not to be
// changed from two threads at once.
//
// Lifetime: the memory resource must outlive every buffer that holds its memory (declare
// it before them). A resource destroyed first frees the buffers' memory itself (and
// reports it as a leak), and the buffer's destructor would then call into the destroyed
// resource. Debug builds (NDEBUG not defined) check this for vmm_resource and
// stream_ordered_resource memory, and abort with a message saying so; release builds do
// not check.
#pragma once

#include <cstddef>
#include <memory_resource>

#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr {

class backend;
class vmm_resource;
class stream_ordered_resource;

class device_buffer {
 public:
  // cudaMalloc's alignment, which every allocation of a buffer has.
  static constexpr std::size_t alignment = 256;

  // Empty, with no resource: only assignment gives it memory.
  device_buffer() noexcept = default;
  // `size` bytes, uninitialised, allocated on `stream` from `resource` (default: device
  // 0's current resource, current_device_resource()).
  device_buffer(std::size_t size, stream_view stream,
                std::pmr::memory_resource* resource = nullptr);
  // A copy of `other`'s bytes, made on `stream`, from `resource` (default: other's).
  device_buffer(const device_buffer& other, stream_view stream,
                std::pmr::memory_resource* resource = nullptr);

  // Copies need a stream: use the constructor above.
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  // Leave `other` empty, with no resource.
  device_buffer(device_buffer&& other) noexcept;
  device_buffer& operator=(device_buffer&& other) noexcept;
  // Frees on the buffer's stream (see the header comment).
  ~device_buffer();

  void* data() noexcept { return data_; }
  const void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  // What the buffer may grow to without allocating; on a vmm_resource a multiple of the
  // granularity (those bytes are mapped anyway).
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  stream_view stream() const noexcept { return stream_; }
  std::pmr::memory_resource* memory_resource() const noexcept { return resource_; }
  // Whether growth maps new memory instead of copying (a vmm_resource). The pointer is
  // sure to stay only within address_space(); see the header comment.
  bool grows_in_place() const noexcept { return vmm_ != nullptr; }
  // The address space the allocation keeps reserved (VMM only; 0 otherwise).
  std::size_t address_space() const noexcept { return address_space_; }

  // The stream on which the buffer's memory is used, allocated and freed from now on.
  // The caller orders it after the previous stream's work on the buffer.
  void set_stream(stream_view stream) noexcept { stream_ = stream; }

  // Each of these makes `stream` the buffer's stream first (like rmm::device_buffer).
  // Capacity at least `capacity` bytes; the contents stay.
  void reserve(std::size_t capacity, stream_view stream);
  // Size `size`; bytes past the old size are uninitialised. Never releases memory.
  void resize(std::size_t size, stream_view stream);
  // Capacity down to size (for VMM: the chunks wholly past it are unmapped and released,
  // and the address space stays reserved).
  void shrink_to_fit(stream_view stream);
  // VMM: keeps `bytes` of address space reserved, so the buffer grows up to that size
  // without ever moving (it may move once now, without copying, when the address space
  // behind it is taken). Other resources: no effect.
  void reserve_address_space(std::size_t bytes);

  // Frees the memory (as the destructor does) and leaves the buffer empty, with no
  // resource.
  void release() noexcept;

  // Copies `bytes` from host memory to offset `offset`, on `stream` (host memory must
  // stay valid until the stream has run the copy; pageable memory: until the call
  // returns). Throws out_of_range when the range does not lie within size().
  void copy_from_host(std::size_t offset, const void* source, std::size_t bytes,
                      stream_view stream);
  // Copies `bytes` at offset `offset` to host memory on `stream`, and waits for the
  // stream. Throws out_of_range like copy_from_host.
  void copy_to_host(void* destination, std::size_t offset, std::size_t bytes,
                    stream_view stream) const;
  // Waits until the work submitted to `stream` so far has completed.
  void synchronize(stream_view stream) const;

 private:
  void adopt_resource(std::pmr::memory_resource* resource);
  void check_resource(const char* operation, std::size_t bytes) const;
  void check_range(const char* operation, std::size_t offset, std::size_t bytes) const;
  // The size of an allocation that holds `bytes`: rounded up to the granularity for VMM,
  // whose memory is mapped by granules anyway.
  std::size_t allocation_size(const char* operation, std::size_t bytes) const;
  void* allocate(std::size_t bytes);
  void deallocate(void* pointer, std::size_t bytes) noexcept;
  // New memory of `capacity` bytes holding the first size() bytes; the old one freed.
  void reallocate(std::size_t capacity);
  void copy_on_stream(void* destination, const void* source, std::size_t bytes,
                      stream_view stream) const;
  void wait_before_free() const noexcept;

  void* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  stream_view stream_;
  std::pmr::memory_resource* resource_ = nullptr;
  // What resource_ is, found once (null when it is something else).
  vmm_resource* vmm_ = nullptr;
  stream_ordered_resource* stream_ordered_ = nullptr;
  // Copies, waits: the resource's backend, the CUDA backend for other resources, or null
  // (memmove; no waits) without a driver.
  backend* backend_ = nullptr;
  std::size_t address_space_ = 0;
};

}  // namespace vmm_pmr
