// vmm_pmr_pool: the resource, the optional recording, and bad frees turned into return
// values (see pool.hpp).
#include "pool.hpp"

#include <utility>

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"

namespace vmm_pmr::c_interface {
namespace {

// The message of the bad free the current call made, if any.
std::optional<std::string>& refused_free() noexcept {
  thread_local std::optional<std::string> message;
  return message;
}

std::shared_ptr<backend> backend_for(backend_kind kind) {
  return kind == backend_kind::host ? make_host_backend() : cuda_backend();
}

}  // namespace
}  // namespace vmm_pmr::c_interface

using vmm_pmr::c_interface::refused_free;

vmm_pmr_pool::vmm_pmr_pool(int device, vmm_pmr::c_interface::pool_configuration configuration) {
  vmm_pmr::stream_ordered_options& options = configuration.options;
  // The host backend has one device: every device number gets a pool of host memory.
  options.memory.device =
      configuration.backend == vmm_pmr::c_interface::backend_kind::host ? 0 : device;
  options.memory.on_bad_deallocation = [](const vmm_pmr::deallocation_error& refused) {
    refused_free() = refused.message;
  };
  resource_ = std::make_unique<vmm_pmr::stream_ordered_resource>(
      vmm_pmr::c_interface::backend_for(configuration.backend), std::move(options));
  if (configuration.record) {
    writer_ = std::make_shared<vmm_pmr::trace_writer>(*configuration.record);
    recorder_ = std::make_unique<vmm_pmr::recording_stream_ordered_resource>(*resource_, writer_);
  }
}

// The recording first (it flushes the trace), then the resource.
vmm_pmr_pool::~vmm_pmr_pool() {
  recorder_.reset();
  writer_.reset();
  resource_.reset();
}

void* vmm_pmr_pool::allocate(std::size_t bytes, vmm_pmr::stream_view stream) {
  return recorder_ ? recorder_->allocate(bytes, stream) : resource_->allocate(bytes, stream);
}

std::optional<std::string> vmm_pmr_pool::deallocate(void* pointer, std::size_t bytes,
                                                    vmm_pmr::stream_view stream) {
  refused_free().reset();
  if (recorder_) {
    recorder_->deallocate(pointer, bytes, stream);
  } else {
    resource_->deallocate(pointer, bytes, stream);
  }
  return std::exchange(refused_free(), std::nullopt);
}

std::optional<std::string> vmm_pmr_pool::free(void* pointer) {
  refused_free().reset();
  if (recorder_) {
    recorder_->deallocate_by_pointer(pointer);
  } else {
    resource_->deallocate_by_pointer(pointer);
  }
  return std::exchange(refused_free(), std::nullopt);
}

void vmm_pmr_pool::close_trace() noexcept {
  if (writer_) writer_->close();
}
