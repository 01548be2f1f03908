// The VMM primitives, one interface for every backend.
//
// The backend is the only layer that talks to the CUDA driver or the kernel. Each
// function is one primitive of the VMM model (create physical memory, reserve an
// address range, map, grant access, ...), synchronous, and throws driver_error /
// out_of_memory / unsupported_error on failure: no result codes travel upwards.
//
// Rules every backend enforces (they are the CUDA driver's, and the host backend
// checks them too, so logic tested without a GPU obeys them):
//   - sizes, offsets and mapped addresses are multiples of the minimum granularity;
//   - map() only into an unmapped part of a reservation; unmap() covers whole mappings;
//   - set_access() needs the range fully mapped; a fresh mapping has no access;
//   - free_address_range() frees exactly one (address, size) reservation;
//   - release() may be called while memory is still mapped: the memory lives on
//     until its last mapping and its last handle are gone.
//
// Functions that undo something (release, free_address_range, unmap) are called from
// destructors. They still throw on failure; the handle layer catches and reports.
//
// Stream ordering (events, waits, capture status) is the other half of the interface:
// nothing in VMM is stream-ordered, so a caching resource that hands memory from one
// stream to another orders them itself with these. On the host backend streams are
// mere names: all work is synchronous, so every event is complete at once and nothing
// is ever captured.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "vmm_pmr/core/access_grant.hpp"
#include "vmm_pmr/core/allocation_type.hpp"
#include "vmm_pmr/core/handle_types.hpp"
#include "vmm_pmr/core/memory_location.hpp"
#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr {

// A physical allocation: CUmemGenericAllocationHandle on the GPU, a memfd on the host.
using physical_handle = std::uint64_t;
// A virtual address (CUdeviceptr on the GPU).
using address = std::uintptr_t;
// An event: CUevent on the GPU, a number on the host. 0 is never a live event.
using event_handle = std::uintptr_t;

struct physical_properties {
  memory_location location = memory_location::on_device(0);
  allocation_type type = allocation_type::pinned;
  handle_types shareable = handle_types::none;
  bool gpu_direct_rdma = false;
  bool compressible = false;
  friend bool operator==(const physical_properties&, const physical_properties&) = default;
};

enum class granularity_kind : std::uint8_t { minimum, recommended };

// What a device supports, read once (at resource construction) and validated against.
struct device_attributes {
  int ordinal = 0;
  std::string name;
  std::size_t total_memory = 0;
  bool vmm = false;
  bool posix_fd_handles = false;
  bool fabric_handles = false;
  bool gpu_direct_rdma_with_vmm = false;
  bool generic_compression = false;
  bool host_location_vmm = false;
  bool host_numa_location_vmm = false;
  // The driver refuses shareable handle types on host-location memory.
  bool host_location_shareable = false;
  int host_numa_id = -1;  // -1: no NUMA
};

// An exported physical allocation. For posix_fd the fd is owned by whoever holds it.
struct shareable_handle {
  handle_types type = handle_types::none;
  int fd = -1;                   // posix_fd
  std::uint8_t fabric[64] = {};  // fabric (CUmemFabricHandle's bytes)
};

class backend {
 public:
  virtual ~backend() = default;

  // "cuda" or "host".
  virtual std::string name() const = 0;
  // Driver/kernel version, for reports ("CUDA driver 13.0", "Linux 6.1").
  virtual std::string version() const = 0;
  virtual int device_count() const = 0;
  virtual device_attributes attributes(int ordinal) const = 0;

  virtual std::size_t granularity(const physical_properties& props,
                                  granularity_kind kind) const = 0;

  virtual physical_handle create(std::size_t size, const physical_properties& props) = 0;
  virtual void release(physical_handle handle) = 0;
  // What the driver actually granted (compression may be refused silently).
  virtual physical_properties properties_of(physical_handle handle) const = 0;

  // Reserve `size` bytes aligned to `alignment` (0: granularity). A nonzero `hint` asks
  // for that address; another one may come back when it is taken.
  virtual address reserve_address_range(std::size_t size, std::size_t alignment, address hint) = 0;
  virtual void free_address_range(address base, std::size_t size) = 0;

  virtual void map(address at, std::size_t size, std::size_t offset, physical_handle handle) = 0;
  virtual void unmap(address at, std::size_t size) = 0;

  virtual void set_access(address at, std::size_t size, std::span<const access_grant> grants) = 0;
  virtual access_mode get_access(address at, int device) const = 0;

  // The returned handle's fd (if any) is the caller's to close.
  virtual shareable_handle export_handle(physical_handle handle, handle_types type) = 0;
  // Does not take ownership of the shareable handle's fd.
  virtual physical_handle import_handle(const shareable_handle& handle) = 0;

  // Synchronous copies and fills, for tests, buffers and benchmarks.
  virtual void copy_to_host(void* destination, address source, std::size_t bytes) = 0;
  virtual void copy_from_host(address destination, const void* source, std::size_t bytes) = 0;
  virtual void copy(address destination, address source, std::size_t bytes) = 0;
  virtual void fill(address destination, std::uint8_t value, std::size_t bytes) = 0;
  // Page-locked host memory (cuMemHostAlloc): copies between it and the device run at the
  // link's full speed. The host backend gives ordinary memory. Throws out_of_memory when
  // none is left.
  virtual void* allocate_pinned_host(std::size_t bytes) = 0;
  virtual void free_pinned_host(void* memory, std::size_t bytes) = 0;
  // A copy in `stream`'s order (cuMemcpyAsync): it runs after the work submitted to
  // `stream` so far, and work submitted later runs after it; the calling thread does not
  // wait for it. Either side may be device or host memory (the driver tells them apart by
  // unified addressing). Host memory must stay valid until the stream has run the copy,
  // except pageable memory, which the driver is done with when the call returns. The
  // host backend copies at once.
  virtual void copy_on_stream(address destination, address source, std::size_t bytes,
                              stream_view stream) = 0;

  // Stream ordering. An event without timing (cuEventCreate(CU_EVENT_DISABLE_TIMING)),
  // in the calling thread's current context (the CUDA backend makes device 0's primary
  // context current on a thread that has none, as for copies): record it only on
  // streams of that context.
  virtual event_handle create_event() = 0;
  virtual void destroy_event(event_handle event) = 0;
  // The event completes once all work submitted to `stream` so far has completed.
  virtual void record_event(event_handle event, stream_view stream) = 0;
  // Whether the work of the event's latest record has completed (a never-recorded
  // event is complete). Never blocks.
  virtual bool event_complete(event_handle event) = 0;
  // Blocks the calling thread until the event is complete.
  virtual void synchronize_event(event_handle event) = 0;
  // Work submitted to `stream` from now on waits until the event's latest record is
  // complete; the calling thread does not wait.
  virtual void stream_wait_event(stream_view stream, event_handle event) = 0;
  // Blocks the calling thread until all work submitted to `stream` has completed.
  virtual void synchronize_stream(stream_view stream) = 0;
  // Whether `stream` is capturing a CUDA graph (its work is recorded, not run). A
  // capture that an error invalidated counts as capturing until it is ended.
  virtual bool stream_is_capturing(stream_view stream) = 0;
  // A number naming `stream` for the life of the process (cuStreamGetId): a stream created
  // after `stream` was destroyed gets another number, even when it gets the same handle.
  // nullopt when the driver knows no stream by that handle: it was destroyed. The default
  // streams, never destroyed, are numbered by their handle.
  virtual std::optional<std::uint64_t> stream_serial(stream_view stream) = 0;
  // Blocks the calling thread until all work submitted to the device so far has completed,
  // on every stream, destroyed ones included (cuCtxSynchronize).
  virtual void synchronize_device() = 0;
};

}  // namespace vmm_pmr
