// recording_stream_ordered_resource: stream_ordered_resource's calls, each recorded to a
// trace_writer with its stream, then forwarded: allocate(bytes, stream),
// deallocate(p, bytes, stream), deallocate_by_pointer(p) (recorded with the size and
// stream the allocation was made with), and the std::pmr interface on the upstream's
// stream. Frees are recorded before they are forwarded (see recording_resource.hpp).
#pragma once

#include <cstddef>
#include <memory>
#include <memory_resource>

#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/recording/trace_writer.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

namespace vmm_pmr {

class recording_stream_ordered_resource final : public std::pmr::memory_resource {
 public:
  // `upstream` must outlive this adaptor; `writer` may be shared with other adaptors.
  recording_stream_ordered_resource(stream_ordered_resource& upstream,
                                    std::shared_ptr<trace_writer> writer);

  recording_stream_ordered_resource(const recording_stream_ordered_resource&) = delete;
  recording_stream_ordered_resource& operator=(const recording_stream_ordered_resource&) = delete;
  recording_stream_ordered_resource(recording_stream_ordered_resource&&) = delete;
  recording_stream_ordered_resource& operator=(recording_stream_ordered_resource&&) = delete;
  ~recording_stream_ordered_resource() override = default;

  using std::pmr::memory_resource::allocate;
  using std::pmr::memory_resource::deallocate;

  void* allocate(std::size_t bytes, stream_view stream,
                 std::size_t alignment = stream_ordered_resource::default_alignment);
  void deallocate(void* pointer, std::size_t bytes, stream_view stream,
                  std::size_t alignment = stream_ordered_resource::default_alignment) noexcept;
  // A pointer no live allocation starts at is recorded with size 0 on the legacy stream.
  void deallocate_by_pointer(void* pointer) noexcept;

  stream_ordered_resource& upstream() const noexcept { return *upstream_; }
  trace_writer& writer() const noexcept { return *writer_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  stream_ordered_resource* upstream_;
  std::shared_ptr<trace_writer> writer_;
};

}  // namespace vmm_pmr
