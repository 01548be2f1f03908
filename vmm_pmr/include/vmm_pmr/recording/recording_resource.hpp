// recording_resource: a std::pmr::memory_resource that forwards to another one and
// records every allocate and free to a trace_writer, on the legacy stream (0x0). A
// failed allocate is recorded as "allocate failure" and rethrown; a free is recorded
// before it is forwarded, so that the pointer is not handed out again before its free is
// queued. For stream_ordered_resource's stream-ordered calls, see
// recording_stream_ordered_resource.hpp.
#pragma once

#include <cstddef>
#include <memory>
#include <memory_resource>

#include "vmm_pmr/recording/trace_writer.hpp"

namespace vmm_pmr {

class recording_resource final : public std::pmr::memory_resource {
 public:
  // `upstream` must outlive this adaptor; `writer` may be shared with other adaptors.
  recording_resource(std::pmr::memory_resource& upstream, std::shared_ptr<trace_writer> writer);

  recording_resource(const recording_resource&) = delete;
  recording_resource& operator=(const recording_resource&) = delete;
  recording_resource(recording_resource&&) = delete;
  recording_resource& operator=(recording_resource&&) = delete;
  ~recording_resource() override = default;

  std::pmr::memory_resource& upstream() const noexcept { return *upstream_; }
  trace_writer& writer() const noexcept { return *writer_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  std::pmr::memory_resource* upstream_;
  std::shared_ptr<trace_writer> writer_;
};

}  // namespace vmm_pmr
