#include "vmm_pmr/buffer/device_buffer.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/current_resource.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_bound_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

namespace vmm_pmr {
namespace {

// The CUDA backend copies between any addresses under unified addressing; without a
// driver there is only host memory, and memmove does.
backend* backend_for_foreign_memory() {
  if (!cuda_available().available) return nullptr;
  return cuda_backend().get();
}

#ifndef NDEBUG
// Debug builds: a buffer must not outlive its resource. A vmm_resource or
// stream_ordered_resource frees what is live when it is destroyed, so the mapping registry
// (global, never destroyed) no longer lists the buffer's memory under it: stop there, with
// what happened, instead of calling into the dead resource. Only the registry is asked,
// never the resource. A new resource built at the same address that mapped the same
// addresses again would pass: this is a debugging aid, not a guarantee.
void abort_if_resource_destroyed(const void* resource, const char* kind, const void* pointer,
                                 std::size_t bytes) noexcept {
  bool held = true;  // when the lookup itself fails, assume the best
  try {
    const std::optional<allocation_info> holder = mapping_registry::global().find(pointer);
    held = holder && holder->owner == resource;
  } catch (...) {
  }
  if (held) return;
  std::fprintf(stderr,
               "vmm_pmr: a device_buffer holding %s at %p outlived its %s (%p): the resource "
               "was destroyed first, and freed the buffer's memory then. Destroy every buffer "
               "before its resource (declare the resource first, or keep it alive longer). "
               "Aborting: a debug build checks this; a release build would use the destroyed "
               "resource.\n",
               format_bytes(bytes).c_str(), pointer, kind, resource);
  std::abort();
}
#endif

}  // namespace

device_buffer::device_buffer(std::size_t size, stream_view stream,
                             std::pmr::memory_resource* resource)
    : stream_(stream) {
  adopt_resource(resource != nullptr ? resource : current_device_resource());
  if (size == 0) return;
  const std::size_t capacity = allocation_size("device_buffer", size);
  data_ = allocate(capacity);
  size_ = size;
  capacity_ = capacity;
}

device_buffer::device_buffer(const device_buffer& other, stream_view stream,
                             std::pmr::memory_resource* resource)
    : stream_(stream) {
  other.check_resource("device_buffer(copy of)", other.size_);
  adopt_resource(resource != nullptr ? resource : other.resource_);
  if (other.size_ == 0) return;
  const std::size_t capacity = allocation_size("device_buffer(copy of)", other.size_);
  data_ = allocate(capacity);
  try {
    // The engine that can reach both sides: a CUDA backend wins over the host backend.
    backend* engine = backend_ != nullptr ? backend_ : other.backend_;
    if (engine != nullptr) {
      engine->copy_on_stream(reinterpret_cast<address>(data_),
                             reinterpret_cast<address>(other.data_), other.size_, stream_);
    } else {
      std::memcpy(data_, other.data_, other.size_);
    }
  } catch (...) {
    deallocate(data_, capacity);
    throw;
  }
  size_ = other.size_;
  capacity_ = capacity;
}

device_buffer::device_buffer(device_buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      capacity_(std::exchange(other.capacity_, 0)),
      stream_(other.stream_),
      resource_(std::exchange(other.resource_, nullptr)),
      vmm_(std::exchange(other.vmm_, nullptr)),
      stream_ordered_(std::exchange(other.stream_ordered_, nullptr)),
      backend_(std::exchange(other.backend_, nullptr)),
      address_space_(std::exchange(other.address_space_, 0)) {}

device_buffer& device_buffer::operator=(device_buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    stream_ = other.stream_;
    resource_ = std::exchange(other.resource_, nullptr);
    vmm_ = std::exchange(other.vmm_, nullptr);
    stream_ordered_ = std::exchange(other.stream_ordered_, nullptr);
    backend_ = std::exchange(other.backend_, nullptr);
    address_space_ = std::exchange(other.address_space_, 0);
  }
  return *this;
}

device_buffer::~device_buffer() { release(); }

void device_buffer::adopt_resource(std::pmr::memory_resource* resource) {
  resource_ = resource;
  if (auto* vmm = dynamic_cast<vmm_resource*>(resource)) {
    vmm_ = vmm;
    backend_ = &vmm->driver();
  } else if (auto* ordered = dynamic_cast<stream_ordered_resource*>(resource)) {
    stream_ordered_ = ordered;
    backend_ = &ordered->driver();
  } else if (auto* view = dynamic_cast<stream_bound_resource*>(resource)) {
    // The view's memory, on the buffer's stream.
    stream_ordered_ = &view->resource();
    backend_ = &stream_ordered_->driver();
  } else {
    backend_ = backend_for_foreign_memory();
  }
}

void device_buffer::check_resource(const char* operation, std::size_t bytes) const {
  if (resource_ == nullptr) {
    throw invalid_argument(fmt::format(
        "{}({}): the buffer has no memory resource (it was default-constructed, moved from or "
        "released); assign a buffer to it, or construct one with a resource",
        operation, format_bytes(bytes)));
  }
}

void device_buffer::check_range(const char* operation, std::size_t offset,
                                std::size_t bytes) const {
  if (offset > size_ || bytes > size_ - offset) {
    throw out_of_range(fmt::format(
        "device_buffer::{}: bytes [{}, {} + {}) do not lie within the buffer's {} bytes", operation,
        offset, offset, bytes, size_));
  }
}

std::size_t device_buffer::allocation_size(const char* operation, std::size_t bytes) const {
  if (vmm_ == nullptr) return bytes;
  const std::optional<std::size_t> rounded = round_up(bytes, vmm_->granularity());
  if (!rounded) {
    throw out_of_memory(fmt::format(
        "{}: cannot hold {} bytes: the size overflows when rounded up to the {} granularity",
        operation, bytes, format_bytes(vmm_->granularity())));
  }
  return *rounded;
}

void* device_buffer::allocate(std::size_t bytes) {
  if (vmm_ != nullptr) {
    return address_space_ > bytes
               ? vmm_->allocate_with_address_space(bytes, address_space_, alignment)
               : vmm_->allocate(bytes, alignment);
  }
  if (stream_ordered_ != nullptr) return stream_ordered_->allocate(bytes, stream_, alignment);
  return resource_->allocate(bytes, alignment);
}

void device_buffer::deallocate(void* pointer, std::size_t bytes) noexcept {
#ifndef NDEBUG
  if (vmm_ != nullptr) abort_if_resource_destroyed(vmm_, "vmm_resource", pointer, bytes);
  if (stream_ordered_ != nullptr) {
    abort_if_resource_destroyed(stream_ordered_, "stream_ordered_resource", pointer, bytes);
  }
#endif
  if (stream_ordered_ != nullptr) {
    stream_ordered_->deallocate(pointer, bytes, stream_, alignment);
    return;
  }
  wait_before_free();
  resource_->deallocate(pointer, bytes, alignment);
}

void device_buffer::wait_before_free() const noexcept {
  try {
    synchronize(stream_);
  } catch (const std::exception& failure) {
    // The stream failed (a sticky error, say): nothing better to do than free anyway.
    report_cleanup_error(
        fmt::format("waiting for {} before freeing a device_buffer", to_string(stream_)), failure);
  }
}

void device_buffer::synchronize(stream_view stream) const {
  if (backend_ != nullptr) backend_->synchronize_stream(stream);
}

void device_buffer::copy_on_stream(void* destination, const void* source, std::size_t bytes,
                                   stream_view stream) const {
  if (bytes == 0) return;
  if (backend_ != nullptr) {
    backend_->copy_on_stream(reinterpret_cast<address>(destination),
                             reinterpret_cast<address>(source), bytes, stream);
  } else {
    std::memmove(destination, source, bytes);
  }
}

void device_buffer::release() noexcept {
  if (data_ != nullptr) deallocate(data_, capacity_);
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  resource_ = nullptr;
  vmm_ = nullptr;
  stream_ordered_ = nullptr;
  backend_ = nullptr;
  address_space_ = 0;
}

void device_buffer::reallocate(std::size_t capacity) {
  void* const larger = allocate(capacity);
  try {
    copy_on_stream(larger, data_, size_, stream_);
  } catch (...) {
    deallocate(larger, capacity);
    throw;
  }
  if (data_ != nullptr) deallocate(data_, capacity_);  // after the copy, in stream order
  data_ = larger;
  capacity_ = capacity;
}

void device_buffer::reserve(std::size_t capacity, stream_view stream) {
  check_resource("device_buffer::reserve", capacity);
  stream_ = stream;
  if (capacity <= capacity_) return;
  const std::size_t rounded = allocation_size("device_buffer::reserve", capacity);
  if (vmm_ == nullptr) {
    reallocate(rounded);
  } else if (data_ == nullptr) {
    data_ = allocate(rounded);
    capacity_ = rounded;
  } else {
    data_ = vmm_->grow(data_, capacity_, rounded, stream_, address_space_);
    capacity_ = rounded;
  }
}

void device_buffer::resize(std::size_t size, stream_view stream) {
  check_resource("device_buffer::resize", size);
  reserve(size, stream);
  size_ = size;
}

void device_buffer::shrink_to_fit(stream_view stream) {
  if (resource_ == nullptr) return;  // holds nothing
  stream_ = stream;
  const std::size_t fitted = allocation_size("device_buffer::shrink_to_fit", size_);
  if (fitted == capacity_) return;
  if (size_ == 0) {
    deallocate(data_, capacity_);
    data_ = nullptr;
    capacity_ = 0;
  } else if (vmm_ != nullptr) {
    vmm_->shrink(data_, capacity_, fitted, stream_);
    capacity_ = fitted;
  } else {
    reallocate(fitted);
  }
}

void device_buffer::reserve_address_space(std::size_t bytes) {
  if (vmm_ == nullptr || bytes <= address_space_) return;
  const std::size_t rounded = allocation_size("device_buffer::reserve_address_space", bytes);
  if (data_ != nullptr) data_ = vmm_->grow(data_, capacity_, capacity_, stream_, rounded);
  address_space_ = rounded;
}

void device_buffer::copy_from_host(std::size_t offset, const void* source, std::size_t bytes,
                                   stream_view stream) {
  check_range("copy_from_host", offset, bytes);
  copy_on_stream(static_cast<std::byte*>(data_) + offset, source, bytes, stream);
}

void device_buffer::copy_to_host(void* destination, std::size_t offset, std::size_t bytes,
                                 stream_view stream) const {
  check_range("copy_to_host", offset, bytes);
  copy_on_stream(destination, static_cast<const std::byte*>(data_) + offset, bytes, stream);
  synchronize(stream);
}

}  // namespace vmm_pmr
