// A backend that forwards every primitive to another one.
//
// The base of backend decorators (fault injection, live-object counting): a decorator
// overrides only the primitives it cares about. The inner backend is shared, so a
// decorator can be stacked on the process-wide CUDA backend.
#pragma once

#include <memory>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr {

class forwarding_backend : public backend {
 public:
  explicit forwarding_backend(std::shared_ptr<backend> inner);

  backend& inner() const noexcept { return *inner_; }

  std::string name() const override;
  std::string version() const override;
  int device_count() const override;
  device_attributes attributes(int ordinal) const override;
  std::size_t granularity(const physical_properties& props, granularity_kind kind) const override;
  physical_handle create(std::size_t size, const physical_properties& props) override;
  void release(physical_handle handle) override;
  physical_properties properties_of(physical_handle handle) const override;
  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override;
  void free_address_range(address base, std::size_t size) override;
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override;
  void unmap(address at, std::size_t size) override;
  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override;
  access_mode get_access(address at, int device) const override;
  shareable_handle export_handle(physical_handle handle, handle_types type) override;
  physical_handle import_handle(const shareable_handle& handle) override;
  void copy_to_host(void* destination, address source, std::size_t bytes) override;
  void copy_from_host(address destination, const void* source, std::size_t bytes) override;
  void copy(address destination, address source, std::size_t bytes) override;
  void fill(address destination, std::uint8_t value, std::size_t bytes) override;
  void* allocate_pinned_host(std::size_t bytes) override;
  void free_pinned_host(void* memory, std::size_t bytes) override;
  void copy_on_stream(address destination, address source, std::size_t bytes,
                      stream_view stream) override;
  event_handle create_event() override;
  void destroy_event(event_handle event) override;
  void record_event(event_handle event, stream_view stream) override;
  bool event_complete(event_handle event) override;
  void synchronize_event(event_handle event) override;
  void stream_wait_event(stream_view stream, event_handle event) override;
  void synchronize_stream(stream_view stream) override;
  bool stream_is_capturing(stream_view stream) override;
  std::optional<std::uint64_t> stream_serial(stream_view stream) override;
  void synchronize_device() override;

 private:
  std::shared_ptr<backend> inner_;
};

}  // namespace vmm_pmr
