// thrust_allocator<T>: memory for Thrust (and the CUB algorithms under it) from a
// stream_ordered_resource, on one stream.
//
//   vmm_pmr::thrust_allocator<char> temporary(pool, stream);
//   thrust::sort(thrust::cuda::par_nosync(temporary).on(stream.get()), keys.begin(), keys.end());
//   thrust::device_vector<float, vmm_pmr::thrust_allocator<float>> v(n, {pool, stream});
//
// An algorithm's temporary storage then comes from the pool on the stream the algorithm
// runs on: allocated there, freed there, reused by the next algorithm on that stream with
// no driver call. Give the allocator the stream the algorithm is launched on (memory is
// stream-ordered, like cudaMallocAsync's). `pointer` is thrust::device_ptr<T>, so
// device_vector dispatches its own work to the device (on the default stream: use a
// blocking stream, or synchronize, before touching a vector's memory from elsewhere).
// The resource must outlive the allocator and everything allocated through it.
//
// Include it in code that Thrust compiles (nvcc, or a host compiler with Thrust's headers).
#pragma once

#include <thrust/device_ptr.h>
#include <thrust/device_reference.h>
#include <thrust/memory.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

namespace vmm_pmr {

template <typename T>
class thrust_allocator {
 public:
  using value_type = T;
  using pointer = thrust::device_ptr<T>;
  using const_pointer = thrust::device_ptr<const T>;
  using reference = thrust::device_reference<T>;
  using const_reference = thrust::device_reference<const T>;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  template <typename U>
  struct rebind {
    using other = thrust_allocator<U>;
  };

  thrust_allocator(stream_ordered_resource& resource, stream_view stream) noexcept
      : resource_(&resource), stream_(stream) {}
  template <typename U>
  thrust_allocator(const thrust_allocator<U>& other) noexcept
      : resource_(&other.resource()), stream_(other.stream()) {}

  pointer allocate(size_type count) {
    if (count > max_size()) throw std::bad_array_new_length();
    return pointer(static_cast<T*>(resource_->allocate(count * sizeof(T), stream_, alignment)));
  }
  void deallocate(pointer memory, size_type count) noexcept {
    resource_->deallocate(thrust::raw_pointer_cast(memory), count * sizeof(T), stream_, alignment);
  }
  size_type max_size() const noexcept { return SIZE_MAX / sizeof(T); }

  stream_ordered_resource& resource() const noexcept { return *resource_; }
  stream_view stream() const noexcept { return stream_; }

  template <typename U>
  friend bool operator==(const thrust_allocator& a, const thrust_allocator<U>& b) noexcept {
    return &a.resource() == &b.resource() && a.stream() == b.stream();
  }

 private:
  static constexpr std::size_t alignment =
      std::max(alignof(T), stream_ordered_resource::default_alignment);

  stream_ordered_resource* resource_;
  stream_view stream_;
};

}  // namespace vmm_pmr
