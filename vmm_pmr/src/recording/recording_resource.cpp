// recording_resource: record, forward (or forward, record), rethrow.
#include "vmm_pmr/recording/recording_resource.hpp"

#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {

recording_resource::recording_resource(std::pmr::memory_resource& upstream,
                                       std::shared_ptr<trace_writer> writer)
    : upstream_(&upstream), writer_(std::move(writer)) {
  if (!writer_) throw invalid_argument("recording_resource: the trace_writer is null");
}

void* recording_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* pointer = nullptr;
  try {
    pointer = upstream_->allocate(bytes, alignment);
  } catch (...) {
    writer_->record(trace_action::allocate_failure, nullptr, bytes, 0);
    throw;
  }
  writer_->record(trace_action::allocate, pointer, bytes, 0);
  return pointer;
}

void recording_resource::do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) {
  writer_->record(trace_action::free, pointer, bytes, 0);
  upstream_->deallocate(pointer, bytes, alignment);
}

bool recording_resource::do_is_equal(const std::pmr::memory_resource& other) const noexcept {
  return this == &other;
}

}  // namespace vmm_pmr
