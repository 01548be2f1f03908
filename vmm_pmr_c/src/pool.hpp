// vmm_pmr_pool: what the C interface's pool handle points to. A stream_ordered_resource
// (on the CUDA or the host backend) and, with record=FILE, a trace_writer and the
// recording adaptor every call then goes through.
//
// Bad frees come back from the resource through vmm_options::on_bad_deallocation, which
// runs on the freeing thread inside the call: the callback leaves the message in a
// thread-local slot the call then reads, so that deallocate can return -1 with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "c_options.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/recording/recording_stream_ordered_resource.hpp"
#include "vmm_pmr/recording/trace_writer.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

struct vmm_pmr_pool {
 public:
  // Throws what the resource's or the writer's constructor throws.
  vmm_pmr_pool(int device, vmm_pmr::c_interface::pool_configuration configuration);
  vmm_pmr_pool(const vmm_pmr_pool&) = delete;
  vmm_pmr_pool& operator=(const vmm_pmr_pool&) = delete;
  ~vmm_pmr_pool();

  void* allocate(std::size_t bytes, vmm_pmr::stream_view stream);
  // nullopt when freed; else why not (the allocation, if any, stays live).
  std::optional<std::string> deallocate(void* pointer, std::size_t bytes,
                                        vmm_pmr::stream_view stream);
  std::optional<std::string> free(void* pointer);

  vmm_pmr::stream_ordered_resource& resource() noexcept { return *resource_; }
  const vmm_pmr::stream_ordered_resource& resource() const noexcept { return *resource_; }
  // Flushes and closes the trace, if any: later calls are no longer recorded.
  void close_trace() noexcept;

 private:
  std::unique_ptr<vmm_pmr::stream_ordered_resource> resource_;
  std::shared_ptr<vmm_pmr::trace_writer> writer_;
  std::unique_ptr<vmm_pmr::recording_stream_ordered_resource> recorder_;
};

namespace vmm_pmr::c_interface {

// A CUstream passed as void*.
inline stream_view stream_of(void* stream) noexcept {
  return stream_view(static_cast<CUstream_st*>(stream));
}

}  // namespace vmm_pmr::c_interface
