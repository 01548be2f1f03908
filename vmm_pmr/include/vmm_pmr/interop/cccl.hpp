// vmm_pmr's resources as CCCL memory resources (cuda::mr), for CUDA C++ code that takes
// its memory through CCCL's concepts: stream_ordered_resource and its stream-bound views
// are cuda::mr::async_resource_with<device_accessible> (CCCL 3.0; cuda::mr::resource in
// 3.1 and later: the members of both spellings are in detail/cccl_spellings.hpp);
// vmm_resource is cuda::mr::resource_with<device_accessible> (synchronous_resource in
// 3.1). Pass them by reference to cuda::mr::async_resource_ref / resource_ref: nothing is
// copied, and the resource must outlive the reference.
//
// Properties are types, so they say what every allocation of a resource type is:
// device_accessible for all three. host_accessible_resource is a vmm_resource that
// allocates host memory, checked when it is made, and adds host_accessible.
//
// Include it where CCCL is (the CUDA toolkit's include/cccl); with CCCL 3.0 the memory
// resources are experimental, and this header turns them on unless it comes after a CCCL
// header that left them off.
#pragma once

#ifndef LIBCUDACXX_ENABLE_EXPERIMENTAL_MEMORY_RESOURCE
#define LIBCUDACXX_ENABLE_EXPERIMENTAL_MEMORY_RESOURCE
#endif
#include <cuda/memory_resource>
#include <cuda/stream_ref>

#include <cstddef>
#include <optional>

#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/memory_location.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_bound_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

namespace vmm_pmr {

inline void get_property(const stream_ordered_resource&, cuda::mr::device_accessible) noexcept {}
inline void get_property(const stream_bound_resource&, cuda::mr::device_accessible) noexcept {}
inline void get_property(const vmm_resource&, cuda::mr::device_accessible) noexcept {}

// A vmm_resource whose allocations live in host memory (a host location in its options,
// or the host backend): device_accessible and host_accessible. Refers to the resource;
// throws invalid_argument when the resource allocates device memory.
class host_accessible_resource {
 public:
  explicit host_accessible_resource(vmm_resource& resource) : resource_(&resource) {
    const std::optional<memory_location>& location = resource.options().location;
    const bool host_memory =
        (location && location->kind != location_kind::device) || resource.driver().name() == "host";
    if (!host_memory) {
      throw invalid_argument(
          "host_accessible_resource: the vmm_resource allocates device memory, which the host "
          "cannot access; give it a host location (memory_location::on_host()) or use it as "
          "device_accessible only");
    }
  }

  void* allocate(std::size_t bytes, std::size_t alignment) {
    return resource_->allocate(bytes, alignment);
  }
  void deallocate(void* pointer, std::size_t bytes, std::size_t alignment) noexcept {
    resource_->deallocate(pointer, bytes, alignment);
  }
  void* allocate_sync(std::size_t bytes, std::size_t alignment) {
    return allocate(bytes, alignment);
  }
  void deallocate_sync(void* pointer, std::size_t bytes, std::size_t alignment) noexcept {
    deallocate(pointer, bytes, alignment);
  }
  vmm_resource& resource() const noexcept { return *resource_; }

  friend bool operator==(const host_accessible_resource& a,
                         const host_accessible_resource& b) noexcept {
    return a.resource_ == b.resource_;
  }
  friend void get_property(const host_accessible_resource&, cuda::mr::device_accessible) noexcept {}
  friend void get_property(const host_accessible_resource&, cuda::mr::host_accessible) noexcept {}

 private:
  vmm_resource* resource_;
};

static_assert(cuda::mr::async_resource_with<stream_ordered_resource, cuda::mr::device_accessible>);
static_assert(cuda::mr::async_resource_with<stream_bound_resource, cuda::mr::device_accessible>);
static_assert(cuda::mr::resource_with<vmm_resource, cuda::mr::device_accessible>);
static_assert(cuda::mr::resource_with<host_accessible_resource, cuda::mr::device_accessible,
                                      cuda::mr::host_accessible>);
static_assert(!cuda::mr::resource_with<vmm_resource, cuda::mr::host_accessible>);

}  // namespace vmm_pmr
