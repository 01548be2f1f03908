// The member functions that CCCL's memory-resource concepts look for, in both spellings:
//   CCCL 3.0 (cuda::mr::resource, cuda::mr::async_resource):
//     allocate(bytes, alignment), deallocate(p, bytes, alignment)   (std::pmr's own)
//     allocate_async(bytes, alignment, stream), deallocate_async(p, bytes, alignment, stream)
//   CCCL 3.1 and later (cuda::mr::synchronous_resource, cuda::mr::resource):
//     allocate_sync(bytes, alignment), deallocate_sync(p, bytes, alignment)
//     allocate(stream, bytes, alignment), deallocate(stream, p, bytes, alignment)
// A stream is taken as any type whose get() gives a cudaStream_t (cuda::stream_ref does),
// so these headers need neither CCCL nor cuda.h; the properties, which name CCCL's types,
// are in vmm_pmr/cccl.hpp.
#pragma once

#include <cstddef>
#include <memory_resource>

#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr::detail {

template <typename Stream>
concept stream_ref_like = requires(const Stream& stream) {
  stream_view(stream.get());
};

// For a std::pmr::memory_resource `Derived`.
template <typename Derived>
class synchronous_spellings {
 public:
  void* allocate_sync(std::size_t bytes, std::size_t alignment) {
    return as_pmr().allocate(bytes, alignment);
  }
  void deallocate_sync(void* pointer, std::size_t bytes, std::size_t alignment) noexcept {
    as_pmr().deallocate(pointer, bytes, alignment);
  }

 private:
  std::pmr::memory_resource& as_pmr() noexcept { return static_cast<Derived&>(*this); }
};

// For a std::pmr::memory_resource `Derived` whose on_stream(stream_view) gives a
// std::pmr::memory_resource that allocates on that stream.
template <typename Derived>
class stream_ordered_spellings : public synchronous_spellings<Derived> {
 public:
  template <stream_ref_like Stream>
  void* allocate_async(std::size_t bytes, std::size_t alignment, Stream stream) {
    return on(stream).allocate(bytes, alignment);
  }
  template <stream_ref_like Stream>
  void deallocate_async(void* pointer, std::size_t bytes, std::size_t alignment,
                        Stream stream) noexcept {
    on(stream).deallocate(pointer, bytes, alignment);
  }
  template <stream_ref_like Stream>
  void* allocate(Stream stream, std::size_t bytes, std::size_t alignment) {
    return on(stream).allocate(bytes, alignment);
  }
  template <stream_ref_like Stream>
  void deallocate(Stream stream, void* pointer, std::size_t bytes, std::size_t alignment) noexcept {
    on(stream).deallocate(pointer, bytes, alignment);
  }

 private:
  template <typename Stream>
  auto on(const Stream& stream) noexcept {
    return static_cast<Derived&>(*this).on_stream(stream_view(stream.get()));
  }
};

}  // namespace vmm_pmr::detail
