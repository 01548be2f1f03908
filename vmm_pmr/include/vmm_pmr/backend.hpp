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
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "vmm_pmr/memory_location.hpp"

namespace vmm_pmr {

// A physical allocation: CUmemGenericAllocationHandle on the GPU, a memfd on the host.
using physical_handle = std::uint64_t;
// A virtual address (CUdeviceptr on the GPU).
using address = std::uintptr_t;

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
  int fd = -1;                        // posix_fd
  std::uint8_t fabric[64] = {};       // fabric (CUmemFabricHandle's bytes)
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

  virtual std::size_t granularity(const physical_properties& props, granularity_kind kind) const = 0;

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
};

}  // namespace vmm_pmr
