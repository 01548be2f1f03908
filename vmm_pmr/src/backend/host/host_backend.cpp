// The host backend: CUDA's VMM model on Linux virtual memory.
//
// Physical memory is a memfd (the physical_handle is its fd), a reservation is a
// PROT_NONE anonymous mapping, map() replaces part of a reservation with a MAP_SHARED
// view of the memfd, unmap() puts the PROT_NONE reservation back. Releasing a handle
// closes the fd; the kernel keeps the pages while a mapping refers to them, which is
// exactly cuMemRelease's contract.
//
// The kernel would happily map over anything, so the backend keeps its own tables,
// all guarded by one mutex:
//   reservations_  base -> size of every live reservation; never merged, because
//                  cuMemAddressFree frees exactly one (base, size);
//   mappings_      base -> size and access of every live mapping; each lies inside
//                  reserved space and no two overlap;
//   allocations_   fd -> size and properties of every unreleased handle.
// Every primitive checks the CUDA driver's rules against these tables before touching
// the kernel, and updates them only after the kernel call succeeded, so a refused or
// failed call leaves both the tables and the address space as they were.
#include "vmm_pmr/backend/host_backend.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "core/system_call_error.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000  // Linux 4.17; older kernels treat it as a plain hint
#endif

namespace vmm_pmr {
namespace {

std::string hex(address value) { return fmt::format("{:#x}", value); }

int protection_for(access_mode mode) {
  switch (mode) {
    case access_mode::read:
      return PROT_READ;
    case access_mode::read_write:
      return PROT_READ | PROT_WRITE;
    case access_mode::none:
      break;
  }
  return PROT_NONE;
}

// A call the CUDA driver would refuse with CUDA_ERROR_INVALID_VALUE: `rule` says which.
[[noreturn]] void refuse(const std::string& call, const std::string& rule) {
  throw driver_error(call, "EINVAL", EINVAL, rule);
}

// ENOMEM (and ENOSPC from a full tmpfs) means memory ran out: std::pmr code expects
// bad_alloc for that, not a driver error.
[[noreturn]] void throw_allocation_failure(const std::string& what, const std::string& call,
                                           int code) {
  if (code == ENOMEM || code == ENOSPC) {
    throw out_of_memory(fmt::format("host backend: {}: {} failed: {}", what, call,
                                    code == ENOMEM ? "ENOMEM" : "ENOSPC"));
  }
  detail::throw_system_call_error(call, code);
}

std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

std::size_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  return pages > 0 ? static_cast<std::size_t>(pages) * page_size() : std::size_t{0};
}

bool wraps_around(address at, std::size_t size) {
  return size > std::numeric_limits<address>::max() - at;
}

class host_backend final : public backend {
 public:
  host_backend(std::size_t granularity, std::size_t capacity, bool allow_partial_mappings)
      : granularity_(granularity),
        capacity_(capacity),
        allow_partial_mappings_(allow_partial_mappings) {}

  host_backend(const host_backend&) = delete;
  host_backend& operator=(const host_backend&) = delete;

  // Like destroying a CUDA context: whatever is still live goes, so a leaking user
  // cannot leak fds or address space past the backend's lifetime.
  ~host_backend() override {
    for (const auto& [base, size] : reservations_) munmap(reinterpret_cast<void*>(base), size);
    for (const auto& [fd, allocation] : allocations_) close(static_cast<int>(fd));
  }

  std::string name() const override { return "host"; }

  std::string version() const override {
    utsname system{};
    if (uname(&system) != 0) return "Linux";
    return fmt::format("Linux {}", system.release);
  }

  int device_count() const override { return 1; }

  device_attributes attributes(int ordinal) const override {
    if (ordinal != 0) {
      throw invalid_argument(
          fmt::format("host backend: no device {}: it has one device, ordinal 0", ordinal));
    }
    device_attributes attributes;
    attributes.ordinal = 0;
    attributes.name = "host (memfd)";
    attributes.total_memory = capacity_;
    attributes.vmm = true;
    attributes.posix_fd_handles = true;
    attributes.host_location_vmm = true;
    return attributes;
  }

  std::size_t granularity(const physical_properties& props, granularity_kind) const override {
    check_location(props.location, "granularity(" + to_string(props.location) + ")");
    return granularity_;
  }

  physical_handle create(std::size_t size, const physical_properties& props) override {
    const std::string call =
        fmt::format("create({}, {})", format_bytes(size), to_string(props.location));
    check_properties(props, call);
    check_size(size, call);

    std::lock_guard lock(mutex_);
    if (size > capacity_ - std::min(live_bytes_, capacity_)) {
      throw out_of_memory(
          fmt::format("host backend: cannot create {} of physical memory: {} of {} capacity in use",
                      format_bytes(size), format_bytes(live_bytes_), format_bytes(capacity_)));
    }
    const int fd = memfd_create("vmm_pmr", MFD_CLOEXEC);
    if (fd < 0) {
      throw_allocation_failure("cannot create " + format_bytes(size) + " of physical memory",
                               "memfd_create(\"vmm_pmr\", MFD_CLOEXEC)", errno);
    }
    if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
      const int code = errno;
      close(fd);
      throw_allocation_failure("cannot create " + format_bytes(size) + " of physical memory",
                               fmt::format("ftruncate(fd {}, {})", fd, format_bytes(size)), code);
    }
    physical_properties granted = props;
    // The CUDA driver may silently refuse compression; memfd memory never compresses.
    granted.compressible = false;
    allocations_.emplace(static_cast<physical_handle>(fd), physical_allocation{size, granted});
    live_bytes_ += size;
    return static_cast<physical_handle>(fd);
  }

  void release(physical_handle handle) override {
    std::lock_guard lock(mutex_);
    const auto allocation = allocations_.find(handle);
    if (allocation == allocations_.end()) {
      // The CUDA driver crashes on this (driver 580); refusing is kinder.
      refuse(fmt::format("release(memfd {})", handle),
             "not a live physical allocation of this backend (never created, or already released)");
    }
    live_bytes_ -= allocation->second.size;
    allocations_.erase(allocation);
    // Linux closes the fd even when close() reports an error, so the record goes first.
    if (close(static_cast<int>(handle)) != 0) {
      detail::throw_system_call_error(fmt::format("close(fd {})", handle), errno);
    }
  }

  physical_properties properties_of(physical_handle handle) const override {
    std::lock_guard lock(mutex_);
    return allocation_of(handle, fmt::format("properties_of(memfd {})", handle)).properties;
  }

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    const std::string call = fmt::format("reserve_address_range({}, alignment {}, hint {})",
                                         format_bytes(size), format_bytes(alignment), hex(hint));
    check_size(size, call);
    if (alignment != 0 && !is_power_of_two(alignment)) {
      refuse(call, fmt::format("alignment {} is not a power of two", alignment));
    }
    const std::size_t effective_alignment = std::max(alignment, granularity_);
    if (hint % effective_alignment != 0) {
      refuse(call, fmt::format("hint {} is not a multiple of the alignment ({})", hex(hint),
                               format_bytes(effective_alignment)));
    }

    std::lock_guard lock(mutex_);
    address base = 0;
    if (hint != 0 && !wraps_around(hint, size)) base = reserve_at(hint, size);
    // Taken (or unusable): like the CUDA driver, return another address.
    if (base == 0) base = reserve_aligned(size, effective_alignment, call);
    reservations_.emplace(base, size);
    return base;
  }

  void free_address_range(address base, std::size_t size) override {
    const std::string call =
        fmt::format("free_address_range({}, {})", hex(base), format_bytes(size));
    std::lock_guard lock(mutex_);
    const auto reservation = reservations_.find(base);
    if (reservation == reservations_.end() || reservation->second != size) {
      refuse(call,
             "not exactly one reservation: free each (base, size) that "
             "reserve_address_range returned, one at a time" +
                 describe_reservation_containing(base));
    }
    if (overlaps_a_mapping(base, size)) {
      refuse(call, "the reservation still contains mappings: unmap them first");
    }
    if (munmap(reinterpret_cast<void*>(base), size) != 0) {
      detail::throw_system_call_error(fmt::format("munmap({}, {})", hex(base), format_bytes(size)),
                                      errno);
    }
    reservations_.erase(reservation);
  }

  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override {
    const std::string call = fmt::format("map({}, {}, offset {}, memfd {})", hex(at),
                                         format_bytes(size), format_bytes(offset), handle);
    check_address(at, call);
    check_size(size, call);
    check_range(at, size, call);
    if (offset % granularity_ != 0) {
      refuse(call, fmt::format("offset {} is not a multiple of the granularity ({})",
                               format_bytes(offset), format_bytes(granularity_)));
    }

    std::lock_guard lock(mutex_);
    const physical_allocation& allocation = allocation_of(handle, call);
    if (!allow_partial_mappings_ && (offset != 0 || size != allocation.size)) {
      throw driver_error(call, "ENOTSUP", ENOTSUP,
                         fmt::format("only whole allocations can be mapped (offset 0, size {}), "
                                     "as with the CUDA driver",
                                     format_bytes(allocation.size)));
    }
    if (offset > allocation.size || size > allocation.size - offset) {
      refuse(call, fmt::format("offset + size runs past the end of the {} allocation",
                               format_bytes(allocation.size)));
    }
    if (!is_reserved(at, size)) {
      refuse(call, "the range is not inside reserved address space");
    }
    if (overlaps_a_mapping(at, size)) {
      refuse(call, "the range overlaps an existing mapping: map only into unmapped space");
    }
    // PROT_NONE: a fresh mapping has no access until set_access, as with cuMemMap.
    void* const mapped = mmap(reinterpret_cast<void*>(at), size, PROT_NONE, MAP_SHARED | MAP_FIXED,
                              static_cast<int>(handle), static_cast<off_t>(offset));
    if (mapped == MAP_FAILED) {
      throw_allocation_failure(
          "cannot map " + format_bytes(size),
          fmt::format("mmap({}, {}, PROT_NONE, MAP_SHARED|MAP_FIXED, fd {}, {})", hex(at),
                      format_bytes(size), handle, format_bytes(offset)),
          errno);
    }
    mappings_.emplace(at, mapping_record{size, access_mode::none});
  }

  void unmap(address at, std::size_t size) override {
    const std::string call = fmt::format("unmap({}, {})", hex(at), format_bytes(size));
    check_address(at, call);
    check_size(size, call);
    check_range(at, size, call);

    std::lock_guard lock(mutex_);
    const auto [first, last] = whole_mappings(at, size, call);
    void* const restored = mmap(reinterpret_cast<void*>(at), size, PROT_NONE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (restored == MAP_FAILED) {
      detail::throw_system_call_error(
          fmt::format("mmap({}, {}, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_FIXED)",
                      hex(at), format_bytes(size)),
          errno);
    }
    mappings_.erase(first, last);
  }

  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override {
    const std::string call =
        fmt::format("set_access({}, {}, {} grant{})", hex(at), format_bytes(size), grants.size(),
                    grants.size() == 1 ? "" : "s");
    check_address(at, call);
    check_size(size, call);
    check_range(at, size, call);
    if (grants.empty()) refuse(call, "no access grants given");
    // The host CPU and device 0 are the same processor here, and one mprotect
    // serves both: the most permissive grant wins.
    access_mode mode = access_mode::none;
    for (const access_grant& grant : grants) {
      check_device(grant.device, call);
      mode = std::max(mode, grant.mode);
    }

    std::lock_guard lock(mutex_);
    // The CUDA driver refuses part of a mapping too (measured: CUDA_ERROR_INVALID_VALUE).
    const auto [first, last] = whole_mappings(at, size, call);
    if (mprotect(reinterpret_cast<void*>(at), size, protection_for(mode)) != 0) {
      detail::throw_system_call_error(
          fmt::format("mprotect({}, {}, access {})", hex(at), format_bytes(size), to_string(mode)),
          errno);
    }
    for (auto mapping = first; mapping != last; ++mapping) mapping->second.access = mode;
  }

  access_mode get_access(address at, int device) const override {
    const std::string call = fmt::format("get_access({}, device {})", hex(at), device);
    check_device(device, call);
    std::lock_guard lock(mutex_);
    const auto mapping = mapping_containing(at);
    if (mapping == mappings_.end()) refuse(call, "the address is not mapped");
    return mapping->second.access;
  }

  shareable_handle export_handle(physical_handle handle, handle_types type) override {
    const std::string call = fmt::format("export_handle(memfd {})", handle);
    if (type == handle_types::fabric) {
      throw unsupported_error(
          "host backend: fabric handles are not supported (memfd memory is "
          "shared through POSIX file descriptors only)");
    }
    if (type != handle_types::posix_fd) {
      throw invalid_argument("host backend: export_handle needs exactly one handle type");
    }
    std::lock_guard lock(mutex_);
    const physical_allocation& allocation = allocation_of(handle, call);
    if (!contains(allocation.properties.shareable, handle_types::posix_fd)) {
      refuse(call, "the allocation was not created shareable as handle_types::posix_fd");
    }
    const int exported = fcntl(static_cast<int>(handle), F_DUPFD_CLOEXEC, 0);
    if (exported < 0)
      detail::throw_system_call_error(fmt::format("fcntl(fd {}, F_DUPFD_CLOEXEC)", handle), errno);
    shareable_handle shared;
    shared.type = handle_types::posix_fd;
    shared.fd = exported;
    return shared;
  }

  physical_handle import_handle(const shareable_handle& handle) override {
    if (handle.type == handle_types::fabric) {
      throw unsupported_error(
          "host backend: fabric handles are not supported (memfd memory is "
          "shared through POSIX file descriptors only)");
    }
    if (handle.type != handle_types::posix_fd) {
      throw invalid_argument("host backend: import_handle needs a posix_fd handle");
    }
    const std::string call = fmt::format("import_handle(fd {})", handle.fd);
    struct stat file {};
    if (fstat(handle.fd, &file) != 0) {
      detail::throw_system_call_error(fmt::format("fstat(fd {})", handle.fd), errno);
    }
    if (!S_ISREG(file.st_mode)) refuse(call, "the fd is not a memory file (memfd)");
    const auto size = static_cast<std::size_t>(file.st_size);
    check_size(size, call);

    std::lock_guard lock(mutex_);
    // Our own copy: the caller keeps (and closes) theirs.
    const int fd = fcntl(handle.fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      detail::throw_system_call_error(fmt::format("fcntl(fd {}, F_DUPFD_CLOEXEC)", handle.fd),
                                      errno);
    physical_properties properties;
    // Shareable memory is never host-located (the CUDA driver refuses that combination).
    properties.location = memory_location::on_device(0);
    properties.shareable = handle_types::posix_fd;
    allocations_.emplace(static_cast<physical_handle>(fd), physical_allocation{size, properties});
    live_bytes_ += size;
    return static_cast<physical_handle>(fd);
  }

  void copy_to_host(void* destination, address source, std::size_t bytes) override {
    if (bytes != 0) std::memcpy(destination, reinterpret_cast<const void*>(source), bytes);
  }

  void copy_from_host(address destination, const void* source, std::size_t bytes) override {
    if (bytes != 0) std::memcpy(reinterpret_cast<void*>(destination), source, bytes);
  }

  void copy(address destination, address source, std::size_t bytes) override {
    if (bytes != 0) {
      std::memmove(reinterpret_cast<void*>(destination), reinterpret_cast<const void*>(source),
                   bytes);
    }
  }

  void fill(address destination, std::uint8_t value, std::size_t bytes) override {
    if (bytes != 0) std::memset(reinterpret_cast<void*>(destination), value, bytes);
  }

  // Streams are names here: the copy is done when the call returns, which is a valid
  // order of the stream's (synchronous) work.
  void copy_on_stream(address destination, address source, std::size_t bytes,
                      stream_view) override {
    copy(destination, source, bytes);
  }

  // Streams are names here: copies and fills are synchronous, so all work submitted to
  // any stream has completed by the time a call returns, every event is complete and
  // no stream ever captures. Events are still checked like the driver's handles, so a
  // caller that records a destroyed event fails here as it would on a GPU.
  event_handle create_event() override {
    std::lock_guard lock(mutex_);
    const event_handle event = next_event_++;
    events_.insert(event);
    return event;
  }

  void destroy_event(event_handle event) override {
    std::lock_guard lock(mutex_);
    if (events_.erase(event) == 0) refuse(fmt::format("destroy_event({})", event), unknown_event);
  }

  void record_event(event_handle event, stream_view stream) override {
    check_event(event,
                [&] { return fmt::format("record_event({}, {})", event, to_string(stream)); });
  }

  bool event_complete(event_handle event) override {
    check_event(event, [&] { return fmt::format("event_complete({})", event); });
    return true;
  }

  void synchronize_event(event_handle event) override {
    check_event(event, [&] { return fmt::format("synchronize_event({})", event); });
  }

  void stream_wait_event(stream_view stream, event_handle event) override {
    check_event(event,
                [&] { return fmt::format("stream_wait_event({}, {})", to_string(stream), event); });
  }

  void synchronize_stream(stream_view) override {}

  bool stream_is_capturing(stream_view) override { return false; }

  // Host memory is what the host backend copies to and from anyway.
  static constexpr std::size_t pinned_alignment = 4096;
  void* allocate_pinned_host(std::size_t bytes) override {
    void* memory = ::operator new (bytes, std::align_val_t{pinned_alignment}, std::nothrow);
    if (memory == nullptr) {
      throw out_of_memory(
          fmt::format("host memory for {} to copy device memory into", format_bytes(bytes)));
    }
    return memory;
  }

  void free_pinned_host(void* memory, std::size_t) override {
    ::operator delete (memory, std::align_val_t{pinned_alignment});
  }

  // The host has no stream objects to destroy: a handle always names the same stream.
  std::optional<std::uint64_t> stream_serial(stream_view stream) override { return stream.id(); }

  void synchronize_device() override {}

 private:
  struct physical_allocation {
    std::size_t size;
    physical_properties properties;
  };
  struct mapping_record {
    std::size_t size;
    access_mode access;
  };
  using mapping_iterator = std::map<address, mapping_record>::iterator;

  static constexpr const char* unknown_event =
      "not a live event of this backend (never created, or already destroyed)";

  // `describe_call` runs only on failure: these checks sit on stream-ordering paths that
  // should cost little more than a lookup.
  template <typename DescribeCall>
  void check_event(event_handle event, DescribeCall&& describe_call) const {
    std::lock_guard lock(mutex_);
    if (events_.count(event) == 0) refuse(describe_call(), unknown_event);
  }

  void check_size(std::size_t size, const std::string& call) const {
    if (size == 0) refuse(call, "size is 0");
    if (size % granularity_ != 0) {
      refuse(call, fmt::format("size {} is not a multiple of the granularity ({})",
                               format_bytes(size), format_bytes(granularity_)));
    }
  }

  void check_address(address at, const std::string& call) const {
    if (at % granularity_ != 0) {
      refuse(call, fmt::format("address {} is not a multiple of the granularity ({})", hex(at),
                               format_bytes(granularity_)));
    }
  }

  static void check_range(address at, std::size_t size, const std::string& call) {
    if (wraps_around(at, size)) refuse(call, "the range wraps around the address space");
  }

  static void check_device(int device, const std::string& call) {
    if (device != 0 && device != access_grant::host_cpu) {
      refuse(call,
             fmt::format("no such device: {} (the host backend has only device 0 and the host CPU)",
                         device));
    }
  }

  static void check_location(const memory_location& location, const std::string& call) {
    switch (location.kind) {
      case location_kind::device:
        if (location.id != 0) {
          throw driver_error(
              call, "ENODEV", ENODEV,
              fmt::format("no such device: {} (the host backend has only device 0)", location.id));
        }
        return;
      case location_kind::host:
        return;
      case location_kind::host_numa:
      case location_kind::host_numa_current:
        throw unsupported_error(
            fmt::format("host backend: {} is not supported (memfd memory has no NUMA placement); "
                        "use memory_location::on_host() or on_device(0)",
                        to_string(location)));
    }
  }

  static void check_properties(const physical_properties& props, const std::string& call) {
    check_location(props.location, call);
    if (props.type != allocation_type::pinned) {
      throw unsupported_error(
          "host backend: only pinned allocations are supported "
          "(cuMemCreate supports no other type)");
    }
    if (contains(props.shareable, handle_types::fabric)) {
      throw unsupported_error(
          "host backend: fabric handles are not supported (memfd memory is "
          "shared through POSIX file descriptors only)");
    }
    if (props.gpu_direct_rdma) {
      throw unsupported_error("host backend: GPUDirect RDMA is not supported");
    }
    if (props.location.kind == location_kind::host && props.shareable != handle_types::none) {
      refuse(call,
             "host-location allocations cannot carry shareable handle types "
             "(the CUDA driver refuses them too)");
    }
  }

  const physical_allocation& allocation_of(physical_handle handle, const std::string& call) const {
    const auto allocation = allocations_.find(handle);
    if (allocation == allocations_.end()) {
      refuse(call,
             "not a live physical allocation of this backend (never created, or already "
             "released)");
    }
    return allocation->second;
  }

  // Tries exactly `hint`; 0 when that range is (partly) taken.
  address reserve_at(address hint, std::size_t size) {
    void* const reserved =
        mmap(reinterpret_cast<void*>(hint), size, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (reserved == MAP_FAILED) return 0;
    // Kernels before 4.17 ignore MAP_FIXED_NOREPLACE and may place the range elsewhere.
    if (reinterpret_cast<address>(reserved) != hint) {
      munmap(reserved, size);
      return 0;
    }
    return hint;
  }

  // mmap aligns to pages only: reserve `alignment` more, then trim both ends.
  address reserve_aligned(std::size_t size, std::size_t alignment, const std::string& call) {
    const std::size_t page = page_size();
    const std::size_t slack = alignment > page ? alignment - page : 0;
    if (size > std::numeric_limits<std::size_t>::max() - slack) {
      throw out_of_memory(fmt::format("host backend: cannot reserve {} aligned to {}: too large",
                                      format_bytes(size), format_bytes(alignment)));
    }
    const std::size_t padded = size + slack;
    void* const reserved =
        mmap(nullptr, padded, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserved == MAP_FAILED) {
      throw_allocation_failure(
          "cannot reserve " + format_bytes(size) + " of address space",
          fmt::format("mmap(nullptr, {}, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE)",
                      format_bytes(padded)),
          errno);
    }
    const auto start = reinterpret_cast<address>(reserved);
    const address base = (start + alignment - 1) / alignment * alignment;
    const std::size_t head = base - start;
    const std::size_t tail = padded - head - size;
    // Trimming only splits an area we own; it cannot fail short of a kernel bug.
    if ((head != 0 && munmap(reserved, head) != 0) ||
        (tail != 0 && munmap(reinterpret_cast<void*>(base + size), tail) != 0)) {
      const int code = errno;
      munmap(reserved, padded);
      detail::throw_system_call_error(call + ": trimming the aligned reservation", code);
    }
    return base;
  }

  // Whether [at, at + size) is covered by reservations (adjacent ones count: the CUDA
  // driver maps across them, measured on driver 580).
  bool is_reserved(address at, std::size_t size) const {
    auto reservation = reservations_.upper_bound(at);
    if (reservation == reservations_.begin()) return false;
    --reservation;
    const address end = at + size;
    address covered_to = reservation->first + reservation->second;
    if (covered_to <= at) return false;
    while (covered_to < end) {
      ++reservation;
      if (reservation == reservations_.end() || reservation->first != covered_to) return false;
      covered_to += reservation->second;
    }
    return true;
  }

  bool overlaps_a_mapping(address at, std::size_t size) const {
    auto mapping = mappings_.lower_bound(at);
    if (mapping != mappings_.end() && mapping->first < at + size) return true;
    if (mapping == mappings_.begin()) return false;
    --mapping;
    return mapping->first + mapping->second.size > at;
  }

  std::map<address, mapping_record>::const_iterator mapping_containing(address at) const {
    auto mapping = mappings_.upper_bound(at);
    if (mapping == mappings_.begin()) return mappings_.end();
    --mapping;
    return at < mapping->first + mapping->second.size ? mapping : mappings_.end();
  }

  // The mappings that make up [at, at + size) exactly, as [first, last); refuses a range
  // that cuts a mapping or has a gap.
  std::pair<mapping_iterator, mapping_iterator> whole_mappings(address at, std::size_t size,
                                                               const std::string& call) {
    const auto first = mappings_.find(at);
    if (first == mappings_.end()) {
      refuse(call, mapping_containing(at) != mappings_.end()
                       ? "the range starts inside a mapping: it must consist of whole mappings"
                       : "the range is not mapped: it must consist of whole mappings");
    }
    const address end = at + size;
    auto mapping = first;
    address covered_to = at;
    while (covered_to < end) {
      if (mapping == mappings_.end() || mapping->first != covered_to) {
        refuse(call, "the range is not fully mapped: it must consist of whole, adjacent mappings");
      }
      covered_to += mapping->second.size;
      ++mapping;
    }
    if (covered_to != end) {
      refuse(call, "the range ends inside a mapping: it must consist of whole mappings");
    }
    return {first, mapping};
  }

  std::string describe_reservation_containing(address at) const {
    auto reservation = reservations_.upper_bound(at);
    if (reservation == reservations_.begin()) return "";
    --reservation;
    if (at >= reservation->first + reservation->second) return "";
    return fmt::format(" (the reservation there is {}, {})", hex(reservation->first),
                       format_bytes(reservation->second));
  }

  const std::size_t granularity_;
  const std::size_t capacity_;
  const bool allow_partial_mappings_;

  mutable std::mutex mutex_;
  std::map<address, std::size_t> reservations_;
  std::map<address, mapping_record> mappings_;
  std::unordered_map<physical_handle, physical_allocation> allocations_;
  std::size_t live_bytes_ = 0;
  std::unordered_set<event_handle> events_;
  event_handle next_event_ = 1;
};

}  // namespace

std::shared_ptr<backend> make_host_backend(host_backend_options options) {
  const std::size_t page = page_size();
  std::size_t granularity = page;
  if (options.granularity != 0) {
    if (!is_power_of_two(options.granularity) || options.granularity % page != 0) {
      throw invalid_argument(
          fmt::format("host backend: granularity {} must be a power of two and a multiple of the "
                      "page size ({})",
                      format_bytes(options.granularity), format_bytes(page)));
    }
    granularity = options.granularity;
  }
  const std::size_t capacity = options.capacity != 0 ? options.capacity : physical_memory_bytes();
  return std::make_shared<host_backend>(granularity, capacity, options.allow_partial_mappings);
}

}  // namespace vmm_pmr
