#include "vmm_pmr/backend/forwarding_backend.hpp"

#include <utility>

namespace vmm_pmr {

forwarding_backend::forwarding_backend(std::shared_ptr<backend> inner) : inner_(std::move(inner)) {}

std::string forwarding_backend::name() const { return inner_->name(); }
std::string forwarding_backend::version() const { return inner_->version(); }
int forwarding_backend::device_count() const { return inner_->device_count(); }
device_attributes forwarding_backend::attributes(int ordinal) const {
  return inner_->attributes(ordinal);
}
std::size_t forwarding_backend::granularity(const physical_properties& props,
                                            granularity_kind kind) const {
  return inner_->granularity(props, kind);
}
physical_handle forwarding_backend::create(std::size_t size, const physical_properties& props) {
  return inner_->create(size, props);
}
void forwarding_backend::release(physical_handle handle) { inner_->release(handle); }
physical_properties forwarding_backend::properties_of(physical_handle handle) const {
  return inner_->properties_of(handle);
}
address forwarding_backend::reserve_address_range(std::size_t size, std::size_t alignment,
                                                  address hint) {
  return inner_->reserve_address_range(size, alignment, hint);
}
void forwarding_backend::free_address_range(address base, std::size_t size) {
  inner_->free_address_range(base, size);
}
void forwarding_backend::map(address at, std::size_t size, std::size_t offset,
                             physical_handle handle) {
  inner_->map(at, size, offset, handle);
}
void forwarding_backend::unmap(address at, std::size_t size) { inner_->unmap(at, size); }
void forwarding_backend::set_access(address at, std::size_t size,
                                    std::span<const access_grant> grants) {
  inner_->set_access(at, size, grants);
}
access_mode forwarding_backend::get_access(address at, int device) const {
  return inner_->get_access(at, device);
}
shareable_handle forwarding_backend::export_handle(physical_handle handle, handle_types type) {
  return inner_->export_handle(handle, type);
}
physical_handle forwarding_backend::import_handle(const shareable_handle& handle) {
  return inner_->import_handle(handle);
}
void forwarding_backend::copy_to_host(void* destination, address source, std::size_t bytes) {
  inner_->copy_to_host(destination, source, bytes);
}
void forwarding_backend::copy_from_host(address destination, const void* source,
                                        std::size_t bytes) {
  inner_->copy_from_host(destination, source, bytes);
}
void forwarding_backend::copy(address destination, address source, std::size_t bytes) {
  inner_->copy(destination, source, bytes);
}
void forwarding_backend::fill(address destination, std::uint8_t value, std::size_t bytes) {
  inner_->fill(destination, value, bytes);
}
void forwarding_backend::copy_on_stream(address destination, address source, std::size_t bytes,
                                        stream_view stream) {
  inner_->copy_on_stream(destination, source, bytes, stream);
}
event_handle forwarding_backend::create_event() { return inner_->create_event(); }
void forwarding_backend::destroy_event(event_handle event) { inner_->destroy_event(event); }
void forwarding_backend::record_event(event_handle event, stream_view stream) {
  inner_->record_event(event, stream);
}
bool forwarding_backend::event_complete(event_handle event) {
  return inner_->event_complete(event);
}
void forwarding_backend::synchronize_event(event_handle event) { inner_->synchronize_event(event); }
void forwarding_backend::stream_wait_event(stream_view stream, event_handle event) {
  inner_->stream_wait_event(stream, event);
}
void forwarding_backend::synchronize_stream(stream_view stream) {
  inner_->synchronize_stream(stream);
}
bool forwarding_backend::stream_is_capturing(stream_view stream) {
  return inner_->stream_is_capturing(stream);
}

void* forwarding_backend::allocate_pinned_host(std::size_t bytes) {
  return inner_->allocate_pinned_host(bytes);
}

void forwarding_backend::free_pinned_host(void* memory, std::size_t bytes) {
  inner_->free_pinned_host(memory, bytes);
}

std::optional<std::uint64_t> forwarding_backend::stream_serial(stream_view stream) {
  return inner_->stream_serial(stream);
}

void forwarding_backend::synchronize_device() { inner_->synchronize_device(); }

}  // namespace vmm_pmr
