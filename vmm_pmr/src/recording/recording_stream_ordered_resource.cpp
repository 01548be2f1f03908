// recording_stream_ordered_resource: record, forward (or forward, record), rethrow.
#include "vmm_pmr/recording/recording_stream_ordered_resource.hpp"

#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {

recording_stream_ordered_resource::recording_stream_ordered_resource(
    stream_ordered_resource& upstream, std::shared_ptr<trace_writer> writer)
    : upstream_(&upstream), writer_(std::move(writer)) {
  if (!writer_) {
    throw invalid_argument("recording_stream_ordered_resource: the trace_writer is null");
  }
}

void* recording_stream_ordered_resource::allocate(std::size_t bytes, stream_view stream,
                                                  std::size_t alignment) {
  void* pointer = nullptr;
  try {
    pointer = upstream_->allocate(bytes, stream, alignment);
  } catch (...) {
    writer_->record(trace_action::allocate_failure, nullptr, bytes, stream.id());
    throw;
  }
  writer_->record(trace_action::allocate, pointer, bytes, stream.id());
  return pointer;
}

void recording_stream_ordered_resource::deallocate(void* pointer, std::size_t bytes,
                                                   stream_view stream,
                                                   std::size_t alignment) noexcept {
  writer_->record(trace_action::free, pointer, bytes, stream.id());
  upstream_->deallocate(pointer, bytes, stream, alignment);
}

void recording_stream_ordered_resource::deallocate_by_pointer(void* pointer) noexcept {
  // The caller owns the allocation until the free: nobody else may free it meanwhile.
  std::optional<stream_ordered_resource::live_allocation> made;
  try {
    made = upstream_->allocation_at(pointer);
  } catch (...) {
    // Bookkeeping that cannot be read is recorded like a pointer nobody allocated.
  }
  writer_->record(trace_action::free, pointer, made ? made->bytes : 0,
                  made ? made->stream.id() : 0);
  upstream_->deallocate_by_pointer(pointer);
}

void* recording_stream_ordered_resource::do_allocate(std::size_t bytes, std::size_t alignment) {
  return allocate(bytes, upstream_->stream(), alignment);
}

void recording_stream_ordered_resource::do_deallocate(void* pointer, std::size_t bytes,
                                                      std::size_t alignment) {
  deallocate(pointer, bytes, upstream_->stream(), alignment);
}

bool recording_stream_ordered_resource::do_is_equal(
    const std::pmr::memory_resource& other) const noexcept {
  return this == &other;
}

}  // namespace vmm_pmr
