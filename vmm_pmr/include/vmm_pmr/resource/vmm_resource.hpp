// vmm_resource: a std::pmr::memory_resource in which every allocation is one VMM
// allocation (create → reserve → map → set access), undone on deallocate.
//
// Allocation sizes are rounded up to the granularity; any power-of-two alignment is
// honoured (beyond the granularity too, through the reservation's alignment). Each
// allocation is owned by the process-wide mapping_registry until it is deallocated
// or the resource is destroyed, which frees what is left and reports it as a leak.
//
// Policies, all documented in docs/errors.md:
//   - allocate(0) makes no driver call and returns a non-null pointer that must not be
//     dereferenced (std::pmr forbids nullptr); deallocate(that pointer, 0) is a no-op.
//   - allocate() rolls back completely on failure: out_of_memory (a std::bad_alloc)
//     when the driver is out of memory or the size cannot be represented;
//     invalid_argument for a bad alignment; driver_error for other driver failures.
//   - deallocate() never throws (std::pmr calls it from noexcept destructors). A
//     foreign pointer, an interior pointer, a double free or a wrong size frees
//     nothing, is counted in stats().deallocation_errors and reported through
//     vmm_options::on_bad_deallocation. A wrong size keeps the allocation live: the
//     caller is confused about what it holds, and freeing could pull memory out from
//     under another user.
//   - Thread-safe. allocate/deallocate call the driver outside any lock; export,
//     set_access and access() call it under the registry's shared lock, so the
//     allocation they work on cannot be freed meanwhile.
//
// Sharing across processes (docs/ipc.md):
//   - export_allocation(p) gives one shareable handle per chunk of the allocation that
//     starts at p, plus a descriptor; send_allocation (ipc_channel.hpp) carries both
//     over a Unix socket. It needs vmm_options::shareable; fabric is preferred only on
//     request, and a fabric export the driver refuses falls back to posix_fd when the
//     allocation carries both (as NCCL does).
//   - import_allocation(shared) maps the chunks, in order, into one reservation of this
//     resource with this resource's access grants. The result is an allocation of this
//     resource like any other (find().imported is true): free it with
//     deallocate(p, descriptor.requested_bytes); the resource frees it at destruction
//     and reports it as a leak. The memory lives until every process has unmapped it
//     and closed its handles: the exporter may free first.
//   - An imported allocation is not exported again (unsupported_error), on every
//     backend: forward the exported_allocation received instead, whose fds stay valid
//     after the import.
//   - If options.shareable asks for posix_fd|fabric and the driver refuses fabric memory
//     (a machine without an IMEX channel), the resource falls back to posix_fd alone:
//     shareable() says what allocations carry.
//
// Access after creation: set_access(p, grants) grants or revokes read_write / read /
// none for devices and access_grant::host_cpu, one driver call per contiguous range;
// devices not named keep their access. access(p, device) asks the driver.
//
// Growth without copying (what device_buffer builds on; docs/buffers.md):
//   - grow(p, bytes, new_bytes) maps new physical memory, rounded up to the granularity,
//     right behind the allocation's last chunk: inside its reservation when there is room
//     (allocate_with_address_space reserves ahead: the only way the pointer is sure to
//     stay), else in address space reserved right behind it, asked for with a hint. The
//     CUDA driver takes a hint as a wish (it packs reservations back to back and refuses
//     some hints at free addresses), so on a GPU the address behind is often not
//     granted. Then a larger range is reserved (twice the new size: later growths find
//     room), the existing physical memory is mapped there as well, and only then are the
//     old addresses unmapped: the pointer changes, the bytes are never copied. One
//     allocation in the registry throughout, made of several chunks and possibly several
//     reservations (each freed with its exact range). The caller maps exactly what it
//     asks for: geometric steps are the caller's choice (device_vector::append doubles).
//   - shrink(p, bytes, new_bytes) unmaps and releases the chunks that lie wholly past the
//     new size rounded up to the granularity (a chunk partly in use stays mapped); the
//     address space stays reserved, for growing again.
//   - Both take a stream: nothing is unmapped before that stream's work so far has
//     completed (VMM is not stream-ordered). New memory is usable on every stream at once.
//   - Both keep the allocation exactly as it was (pointer, contents, mappings, access,
//     registry entry, statistics) when they throw; failures of the unmaps and releases
//     that follow a successful change go to the cleanup-error handler.
#pragma once

#include <functional>
#include <memory>
#include <memory_resource>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/ipc/exported_allocation.hpp"
#include "vmm_pmr/registry/allocation_info.hpp"
#include "vmm_pmr/registry/allocation_stats.hpp"
#include "vmm_pmr/resource/detail/cccl_spellings.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr {

class mapping_registry;

class vmm_resource final : public std::pmr::memory_resource,
                           public detail::synchronous_spellings<vmm_resource> {
 public:
  // On the CUDA backend (throws unavailable_error without a usable GPU).
  explicit vmm_resource(vmm_options options = {});
  vmm_resource(std::shared_ptr<backend> backend, vmm_options options = {});

  vmm_resource(const vmm_resource&) = delete;
  vmm_resource& operator=(const vmm_resource&) = delete;
  vmm_resource(vmm_resource&&) = delete;
  vmm_resource& operator=(vmm_resource&&) = delete;
  ~vmm_resource() override;

  const vmm_options& options() const noexcept { return options_; }
  const device_attributes& device() const noexcept { return resolved_.device; }
  std::size_t granularity() const noexcept { return resolved_.granularity; }
  backend& driver() const noexcept { return *backend_; }
  const std::shared_ptr<backend>& shared_backend() const noexcept { return backend_; }

  // The shareable handle types this resource's allocations carry: options().shareable,
  // less fabric when the driver refused fabric memory and posix_fd was asked for too.
  handle_types shareable() const noexcept { return resolved_.properties.shareable; }

  allocation_stats stats() const;
  std::vector<allocation_info> live_allocations() const;
  // The live allocation of this resource holding `pointer` (any interior pointer).
  std::optional<allocation_info> find(const void* pointer) const;

  // One shareable handle per chunk of the live allocation that starts at `pointer`.
  // `preferred` is posix_fd or fabric; the other type is used when the allocation does
  // not carry the preferred one, or when the driver refuses a fabric export. Throws
  // invalid_argument for a pointer that is unknown, inside an allocation, or another
  // resource's; unsupported_error when the resource was made without
  // vmm_options::shareable, or for an imported allocation; driver_error when the driver
  // refuses.
  exported_allocation export_allocation(const void* pointer,
                                        handle_types preferred = handle_types::posix_fd) const;
  // Maps what another process (or resource) exported; see the header comment. The fds
  // in `shared` stay the caller's. Throws invalid_argument for an inconsistent
  // descriptor, an fd count that is not one per posix_fd chunk, a closed fd, or a
  // granularity this device cannot map; unsupported_error for a handle type the device
  // cannot import; driver_error (naming the chunk) when the driver refuses a handle;
  // out_of_memory. Nothing is left behind when it throws.
  void* import_allocation(const exported_allocation& shared);

  // allocate(bytes, alignment) with `address_space` bytes reserved (rounded up to the
  // granularity; at least the allocation's size), so grow() can map up to that size
  // without moving the allocation or reserving again. Deallocate it with `bytes`.
  void* allocate_with_address_space(std::size_t bytes, std::size_t address_space,
                                    std::size_t alignment = alignof(std::max_align_t));

  // Makes the allocation that starts at `pointer` (of `bytes`, nonzero) `new_bytes` large
  // (not smaller), keeping its contents, and returns where it is now; deallocate it with
  // `new_bytes` from then on. `address_space` asks for at least that much address space
  // reserved afterwards (grow(p, n, n, stream, big) only reserves). Old addresses are
  // unmapped only after `stream`'s work so far has completed. Throws invalid_argument (a
  // pointer that is not the start of one of this resource's allocations, a size that
  // differs from the allocation's, new_bytes < bytes), unsupported_error (an imported
  // allocation), out_of_memory, driver_error; the allocation is then as it was.
  void* grow(void* pointer, std::size_t bytes, std::size_t new_bytes, stream_view stream = {},
             std::size_t address_space = 0);
  // Makes the allocation that starts at `pointer` (of `bytes`) `new_bytes` large (not
  // larger, not 0): unmaps and releases the chunks wholly past `new_bytes` rounded up to
  // the granularity, after `stream`'s work so far has completed, and returns the bytes
  // released. Deallocate it with `new_bytes` from then on. Throws invalid_argument for bad
  // input (the allocation is then as it was).
  std::size_t shrink(void* pointer, std::size_t bytes, std::size_t new_bytes,
                     stream_view stream = {});

  // Grants or revokes access to the allocation that starts at `pointer` for the devices
  // named (ordinals, access_grant::host_cpu for the CPU on host memory); others keep
  // theirs. Throws invalid_argument for a bad pointer, an ordinal out of range, a device
  // named twice, or the host CPU on device memory; driver_error when the driver refuses.
  void set_access(const void* pointer, std::span<const access_grant> grants);
  // `device`'s access to the allocation holding `pointer` (interior pointers too). The
  // host CPU's access to device memory is none. Throws invalid_argument like set_access.
  access_mode access(const void* pointer, int device) const;

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  std::string allocation_request(std::size_t bytes, std::size_t alignment) const;
  void* allocate_reserving(std::size_t bytes, std::size_t alignment, std::size_t address_space);
  // Rethrows the out_of_memory or driver_error being handled with `request` (what was
  // asked, where) and, for out of memory, this resource's statistics added.
  [[noreturn]] void rethrow_with_request(const std::string& request) const;
  exported_allocation export_chunks(const allocation_info& allocation, handle_types type) const;
  void check_accessor(int device, std::string_view operation) const;
  // Runs `function` on this resource's live allocation holding `pointer` (its start
  // unless `interior_allowed`) under the registry's shared lock; invalid_argument
  // saying what is wrong with the pointer otherwise.
  void with_own_allocation(const void* pointer, bool interior_allowed, std::string_view operation,
                           const std::function<void(const allocation_info&)>& function) const;

  std::shared_ptr<backend> backend_;
  vmm_options options_;
  detail::resolved_options resolved_;
  mapping_registry& registry_;
};

}  // namespace vmm_pmr
