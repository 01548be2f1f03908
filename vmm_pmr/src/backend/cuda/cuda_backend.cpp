// The CUDA backend: each backend primitive is one call of the driver's VMM API.
//
// The driver is loaded at run time (cuda_driver.hpp). Every failed call throws
// driver_error whose call() spells the call out for a human ("cuMemMap(0x7f2a00000000,
// 2 MiB, offset 0 B, handle 0x55c3bb7c7b10)") and whose result_name() is the driver's
// ("CUDA_ERROR_INVALID_VALUE"); CUDA_ERROR_OUT_OF_MEMORY from cuMemCreate,
// cuMemAddressReserve and cuMemMap becomes out_of_memory naming the size and the place.
// Device ordinals are checked here (invalid_argument): cuMemGetAllocationGranularity, for
// one, accepts a device that does not exist.
//
// Undo calls (release, free_address_range, unmap) treat CUDA_ERROR_DEINITIALIZED as
// success: at process exit the driver may shut down before the last handle is destroyed,
// and the memory went with it.
//
// Contexts: copies and fills need one, and VMM calls are 25 times slower without one
// (measured). When the calling thread has no current context, device 0's primary context
// (retained once, released with the backend) is made current on that thread and stays
// current. With unified addressing that context
// can copy between any mapped addresses it may access; code that works on other devices
// makes their context current first (cudaSetDevice / cuCtxSetCurrent). Copies and fills
// return when the bytes have landed: the driver's cuMemcpyHtoD/DtoD and cuMemsetD8 may
// return earlier, so they are followed by a wait on the legacy default stream they ran on.
// copy_on_stream (cuMemcpyAsync) is the exception: it only orders the copy on its stream.
//
// Host access: host-located memory is not accessible to the CPU until granted;
// access_grant::host_cpu (-1, like CU_DEVICE_CPU) stands for the host.
//
// Seen on driver 580 (H100), and relied on by nothing here but worth knowing above:
// cuMemMap maps whole allocations only (another size, or a nonzero offset, is
// CUDA_ERROR_NOT_SUPPORTED); a CU_MEM_LOCATION_TYPE_HOST allocation reports itself as
// host NUMA node 0; cuMemRelease of a value that is no handle crashes the process.
#include "vmm_pmr/backend/cuda_backend.hpp"

#include "vmm_pmr/core/error.hpp"

#ifdef VMM_PMR_WITH_CUDA

#include <fmt/format.h>
#include <sched.h>

#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_driver.hpp"
#include "vmm_pmr/core/byte_size.hpp"

static_assert(CUDA_VERSION >= 12030,
              "the vmm_pmr CUDA backend needs cuda.h from CUDA 12.3 or newer "
              "(host locations, fabric handles); configure with -Dcuda=disabled otherwise");

namespace vmm_pmr {
namespace {

// The host, in an access_grant or get_access(); the same value as CU_DEVICE_CPU.
constexpr int host_device = access_grant::host_cpu;

// By number: newer than some cuda.h this file still builds with.
constexpr auto attribute_host_numa_id = static_cast<CUdevice_attribute>(134);
constexpr auto attribute_host_numa_vmm = static_cast<CUdevice_attribute>(141);
constexpr auto attribute_host_vmm = static_cast<CUdevice_attribute>(145);
constexpr auto allocation_type_managed = static_cast<CUmemAllocationType>(0x2);

static_assert(sizeof(CUmemFabricHandle) == sizeof(shareable_handle{}.fabric));

std::string hex(std::uint64_t value) { return fmt::format("{:#x}", value); }

std::string describe_handle(physical_handle handle) { return "handle " + hex(handle); }

// The first bytes of a fabric handle, enough to tell two apart in a message.
std::string describe_fabric_prefix(const shareable_handle& handle) {
  std::string text;
  for (std::size_t i = 0; i < 8; ++i) text += fmt::format("{:02x}", handle.fabric[i]);
  return text;
}

std::string describe_properties(const physical_properties& props) {
  std::string text = fmt::format("{{{}, {}, {}", to_string(props.location),
                                 props.type == allocation_type::managed ? "managed" : "pinned",
                                 to_string(props.shareable));
  if (props.gpu_direct_rdma) text += ", gpu_direct_rdma";
  if (props.compressible) text += ", compressible";
  return text + "}";
}

std::string describe_accessor(int device) {
  return device == host_device ? std::string("host") : fmt::format("device {}", device);
}

std::string describe_grants(std::span<const access_grant> grants) {
  std::string text = "[";
  for (const access_grant& grant : grants) {
    if (text.size() > 1) text += ", ";
    text += fmt::format("{}: {}", describe_accessor(grant.device), to_string(grant.mode));
  }
  return text + "]";
}

CUmemAllocationHandleType to_cuda(handle_types types) {
  unsigned bits = CU_MEM_HANDLE_TYPE_NONE;
  if (contains(types, handle_types::posix_fd)) bits |= CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  if (contains(types, handle_types::fabric)) bits |= CU_MEM_HANDLE_TYPE_FABRIC;
  return static_cast<CUmemAllocationHandleType>(bits);
}

handle_types handle_types_from_cuda(unsigned bits) {
  handle_types types = handle_types::none;
  if ((bits & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0)
    types = types | handle_types::posix_fd;
  if ((bits & CU_MEM_HANDLE_TYPE_FABRIC) != 0) types = types | handle_types::fabric;
  return types;
}

CUmemLocation to_cuda(const memory_location& location) {
  switch (location.kind) {
    case location_kind::device:
      return {CU_MEM_LOCATION_TYPE_DEVICE, location.id};
    case location_kind::host:
      return {CU_MEM_LOCATION_TYPE_HOST, 0};
    case location_kind::host_numa:
      return {CU_MEM_LOCATION_TYPE_HOST_NUMA, location.id};
    case location_kind::host_numa_current:
      return {CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT, 0};
  }
  return {CU_MEM_LOCATION_TYPE_INVALID, 0};
}

memory_location location_from_cuda(const CUmemLocation& location) {
  switch (location.type) {
    case CU_MEM_LOCATION_TYPE_DEVICE:
      return memory_location::on_device(location.id);
    case CU_MEM_LOCATION_TYPE_HOST:
      return memory_location::on_host();
    case CU_MEM_LOCATION_TYPE_HOST_NUMA:
      return memory_location::on_host_numa(location.id);
    case CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT:
      return memory_location::on_host_numa_current();
    default:
      throw error(fmt::format("the CUDA driver reported an unknown memory location type {}",
                              static_cast<int>(location.type)));
  }
}

// cuMemCreate refuses CU_MEM_LOCATION_TYPE_HOST_NUMA_CURRENT (CUDA_ERROR_INVALID_VALUE,
// seen on driver 580), so "the calling thread's node" is resolved here. When the kernel
// cannot say, the request goes through unchanged and the driver's error reaches the caller.
CUmemLocation creatable_location(const memory_location& location) {
  if (location.kind == location_kind::host_numa_current) {
    unsigned cpu = 0;
    unsigned node = 0;
    if (getcpu(&cpu, &node) == 0) return {CU_MEM_LOCATION_TYPE_HOST_NUMA, static_cast<int>(node)};
  }
  return to_cuda(location);
}

CUmemAllocationProp to_cuda(const physical_properties& props) {
  // Zero-initialised: win32HandleMetaData, usage and the reserved bytes must be zero.
  CUmemAllocationProp prop{};
  prop.type = props.type == allocation_type::managed ? allocation_type_managed
                                                     : CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.requestedHandleTypes = to_cuda(props.shareable);
  prop.location = to_cuda(props.location);
  prop.allocFlags.gpuDirectRDMACapable = props.gpu_direct_rdma ? 1 : 0;
  prop.allocFlags.compressionType =
      props.compressible ? CU_MEM_ALLOCATION_COMP_GENERIC : CU_MEM_ALLOCATION_COMP_NONE;
  return prop;
}

physical_properties properties_from_cuda(const CUmemAllocationProp& prop) {
  physical_properties props;
  props.location = location_from_cuda(prop.location);
  props.type =
      prop.type == allocation_type_managed ? allocation_type::managed : allocation_type::pinned;
  props.shareable = handle_types_from_cuda(static_cast<unsigned>(prop.requestedHandleTypes));
  props.gpu_direct_rdma = prop.allocFlags.gpuDirectRDMACapable != 0;
  props.compressible = prop.allocFlags.compressionType == CU_MEM_ALLOCATION_COMP_GENERIC;
  return props;
}

CUmemAccess_flags to_cuda(access_mode mode) {
  switch (mode) {
    case access_mode::none:
      return CU_MEM_ACCESS_FLAGS_PROT_NONE;
    case access_mode::read:
      return CU_MEM_ACCESS_FLAGS_PROT_READ;
    case access_mode::read_write:
      return CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  }
  return CU_MEM_ACCESS_FLAGS_PROT_NONE;
}

access_mode access_from_cuda(unsigned long long flags) {
  if (flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE) return access_mode::read_write;
  if (flags == CU_MEM_ACCESS_FLAGS_PROT_READ) return access_mode::read;
  return access_mode::none;
}

// Where an accessor lives for cuMemSetAccess / cuMemGetAccess. The host is named as
// CU_MEM_LOCATION_TYPE_HOST_NUMA (whose id the driver ignores): it grants CPU access to
// host and host-NUMA allocations alike.
CUmemLocation accessor_location(int device) {
  if (device == host_device) return {CU_MEM_LOCATION_TYPE_HOST_NUMA, 0};
  return {CU_MEM_LOCATION_TYPE_DEVICE, device};
}

std::string version_text(int version) {
  return fmt::format("{}.{}", version / 1000, version % 1000 / 10);
}

class cuda_vmm_backend final : public backend {
 public:
  explicit cuda_vmm_backend(const detail::cuda_driver& driver)
      : api_(driver.api), driver_version_(driver.version) {
    int count = 0;
    check(api_.cuDeviceGetCount(&count), [] { return std::string("cuDeviceGetCount()"); });
    devices_.resize(static_cast<std::size_t>(count));
    attributes_.resize(devices_.size());
    primary_contexts_.resize(devices_.size());
    bool any_vmm = false;
    for (int ordinal = 0; ordinal < count; ++ordinal) {
      check(api_.cuDeviceGet(&devices_[ordinal], ordinal),
            [&] { return fmt::format("cuDeviceGet({})", ordinal); });
      attributes_[ordinal] = read_attributes(ordinal);
      any_vmm = any_vmm || attributes_[ordinal].vmm;
    }
    if (!any_vmm) throw unavailable_error("no device supports virtual memory management");
  }

  ~cuda_vmm_backend() override {
    // Errors are ignored: at exit the driver may already be deinitialised, and a context
    // that cannot be released is of no further concern to anyone.
    for (std::size_t ordinal = 0; ordinal < primary_contexts_.size(); ++ordinal) {
      if (primary_contexts_[ordinal] != nullptr) api_.cuDevicePrimaryCtxRelease(devices_[ordinal]);
    }
  }

  cuda_vmm_backend(const cuda_vmm_backend&) = delete;
  cuda_vmm_backend& operator=(const cuda_vmm_backend&) = delete;

  std::string name() const override { return "cuda"; }

  std::string version() const override { return "CUDA driver " + version_text(driver_version_); }

  int device_count() const override { return static_cast<int>(devices_.size()); }

  device_attributes attributes(int ordinal) const override {
    check_ordinal(ordinal, "attributes");
    return attributes_[ordinal];
  }

  std::size_t granularity(const physical_properties& props, granularity_kind kind) const override {
    check_location(props.location, "granularity");
    const CUmemAllocationProp prop = to_cuda(props);
    std::size_t granularity = 0;
    check(api_.cuMemGetAllocationGranularity(&granularity, &prop,
                                             kind == granularity_kind::minimum
                                                 ? CU_MEM_ALLOC_GRANULARITY_MINIMUM
                                                 : CU_MEM_ALLOC_GRANULARITY_RECOMMENDED),
          [&] {
            return fmt::format("cuMemGetAllocationGranularity({}, {})", describe_properties(props),
                               kind == granularity_kind::minimum ? "minimum" : "recommended");
          });
    return granularity;
  }

  physical_handle create(std::size_t size, const physical_properties& props) override {
    make_context_current();
    check_location(props.location, "create");
    CUmemAllocationProp prop = to_cuda(props);
    prop.location = creatable_location(props.location);
    CUmemGenericAllocationHandle handle = 0;
    const CUresult result = api_.cuMemCreate(&handle, size, &prop, 0);
    if (result == CUDA_ERROR_OUT_OF_MEMORY) {
      throw out_of_memory(fmt::format("cuMemCreate: out of memory allocating {} on {}",
                                      format_bytes(size), describe_place(props.location)));
    }
    check(result, [&] {
      return fmt::format("cuMemCreate({}, {})", format_bytes(size), describe_properties(props));
    });
    return handle;
  }

  void release(physical_handle handle) override {
    make_context_current_quietly();
    check_undo(api_.cuMemRelease(handle),
               [&] { return fmt::format("cuMemRelease({})", describe_handle(handle)); });
  }

  physical_properties properties_of(physical_handle handle) const override {
    CUmemAllocationProp prop{};
    check(api_.cuMemGetAllocationPropertiesFromHandle(&prop, handle), [&] {
      return fmt::format("cuMemGetAllocationPropertiesFromHandle({})", describe_handle(handle));
    });
    return properties_from_cuda(prop);
  }

  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    make_context_current();
    CUdeviceptr base = 0;
    const CUresult result = api_.cuMemAddressReserve(&base, size, alignment, hint, 0);
    if (result == CUDA_ERROR_OUT_OF_MEMORY) {
      throw out_of_memory(fmt::format(
          "cuMemAddressReserve: out of memory reserving {} of address space", format_bytes(size)));
    }
    check(result, [&] {
      return fmt::format("cuMemAddressReserve({}, alignment {}, hint {})", format_bytes(size),
                         format_bytes(alignment), hex(hint));
    });
    return static_cast<address>(base);
  }

  void free_address_range(address base, std::size_t size) override {
    make_context_current_quietly();
    check_undo(api_.cuMemAddressFree(base, size), [&] {
      return fmt::format("cuMemAddressFree({}, {})", hex(base), format_bytes(size));
    });
  }

  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override {
    make_context_current();
    const CUresult result = api_.cuMemMap(at, size, offset, handle, 0);
    if (result == CUDA_ERROR_OUT_OF_MEMORY) {
      throw out_of_memory(
          fmt::format("cuMemMap: out of memory mapping {} at {}", format_bytes(size), hex(at)));
    }
    check(result, [&] {
      return fmt::format("cuMemMap({}, {}, offset {}, {})", hex(at), format_bytes(size),
                         format_bytes(offset), describe_handle(handle));
    });
  }

  void unmap(address at, std::size_t size) override {
    make_context_current_quietly();
    check_undo(api_.cuMemUnmap(at, size),
               [&] { return fmt::format("cuMemUnmap({}, {})", hex(at), format_bytes(size)); });
  }

  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override {
    make_context_current();
    if (grants.empty()) return;
    std::vector<CUmemAccessDesc> descriptions;
    descriptions.reserve(grants.size());
    for (const access_grant& grant : grants) {
      check_accessor(grant.device, "set_access");
      CUmemAccessDesc description{};
      description.location = accessor_location(grant.device);
      description.flags = to_cuda(grant.mode);
      descriptions.push_back(description);
    }
    check(api_.cuMemSetAccess(at, size, descriptions.data(), descriptions.size()), [&] {
      return fmt::format("cuMemSetAccess({}, {}, {})", hex(at), format_bytes(size),
                         describe_grants(grants));
    });
  }

  access_mode get_access(address at, int device) const override {
    check_accessor(device, "get_access");
    const CUmemLocation location = accessor_location(device);
    unsigned long long flags = 0;
    check(api_.cuMemGetAccess(&flags, &location, at), [&] {
      return fmt::format("cuMemGetAccess({}, {})", hex(at), describe_accessor(device));
    });
    return access_from_cuda(flags);
  }

  shareable_handle export_handle(physical_handle handle, handle_types type) override {
    check_single_handle_type(type, "export_handle");
    shareable_handle exported;
    exported.type = type;
    const auto call = [&] {
      return fmt::format("cuMemExportToShareableHandle({}, {})", describe_handle(handle),
                         to_string(type));
    };
    if (type == handle_types::posix_fd) {
      int fd = -1;
      check(api_.cuMemExportToShareableHandle(&fd, handle, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
                                              0),
            call);
      exported.fd = fd;
    } else {
      CUmemFabricHandle fabric{};
      check(api_.cuMemExportToShareableHandle(&fabric, handle, CU_MEM_HANDLE_TYPE_FABRIC, 0), call);
      std::memcpy(exported.fabric, fabric.data, sizeof exported.fabric);
    }
    return exported;
  }

  physical_handle import_handle(const shareable_handle& shared) override {
    check_single_handle_type(shared.type, "import_handle");
    CUmemGenericAllocationHandle handle = 0;
    if (shared.type == handle_types::posix_fd) {
      if (shared.fd < 0) {
        throw invalid_argument(fmt::format("import_handle: invalid file descriptor {}", shared.fd));
      }
      // The driver takes the fd itself, cast to a pointer, not a pointer to it.
      void* os_handle = reinterpret_cast<void*>(static_cast<std::uintptr_t>(shared.fd));
      check(api_.cuMemImportFromShareableHandle(&handle, os_handle,
                                                CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR),
            [&] {
              return fmt::format("cuMemImportFromShareableHandle(fd {}, posix_fd)", shared.fd);
            });
    } else {
      CUmemFabricHandle fabric{};
      std::memcpy(fabric.data, shared.fabric, sizeof fabric.data);
      check(api_.cuMemImportFromShareableHandle(&handle, &fabric, CU_MEM_HANDLE_TYPE_FABRIC), [&] {
        return fmt::format("cuMemImportFromShareableHandle(fabric handle {}..., fabric)",
                           describe_fabric_prefix(shared));
      });
    }
    return handle;
  }

  void copy_to_host(void* destination, address source, std::size_t bytes) override {
    if (bytes == 0) return;
    make_context_current();
    // Device to host returns only once the copy is complete: no wait needed.
    check(api_.cuMemcpyDtoH(destination, source, bytes), [&] {
      return fmt::format("cuMemcpyDtoH({}, {}, {})", fmt::ptr(destination), hex(source),
                         format_bytes(bytes));
    });
  }

  void copy_from_host(address destination, const void* source, std::size_t bytes) override {
    if (bytes == 0) return;
    make_context_current();
    const auto call = [&] {
      return fmt::format("cuMemcpyHtoD({}, {}, {})", hex(destination), fmt::ptr(source),
                         format_bytes(bytes));
    };
    check(api_.cuMemcpyHtoD(destination, source, bytes), call);
    // From pageable memory the call returns once the bytes are staged, not landed.
    wait_for_default_stream(call);
  }

  void copy(address destination, address source, std::size_t bytes) override {
    if (bytes == 0) return;
    make_context_current();
    const auto call = [&] {
      return fmt::format("cuMemcpyDtoD({}, {}, {})", hex(destination), hex(source),
                         format_bytes(bytes));
    };
    check(api_.cuMemcpyDtoD(destination, source, bytes), call);
    wait_for_default_stream(call);
  }

  void fill(address destination, std::uint8_t value, std::size_t bytes) override {
    if (bytes == 0) return;
    make_context_current();
    const auto call = [&] {
      return fmt::format("cuMemsetD8({}, {:#04x}, {})", hex(destination), value,
                         format_bytes(bytes));
    };
    check(api_.cuMemsetD8(destination, value, bytes), call);
    wait_for_default_stream(call);
  }

  void copy_on_stream(address destination, address source, std::size_t bytes,
                      stream_view stream) override {
    if (bytes == 0) return;
    make_context_current();
    check(api_.cuMemcpyAsync(destination, source, bytes, stream.get()), [&] {
      return fmt::format("cuMemcpyAsync({}, {}, {}, {})", hex(destination), hex(source),
                         format_bytes(bytes), to_string(stream));
    });
  }

  // Stream ordering. Events are created in the calling thread's current context (device
  // 0's primary context on a thread without one, the rule copies follow), which must be
  // the context of the streams they are recorded on: cuEventRecord refuses an event and
  // a stream of different contexts (CUDA_ERROR_INVALID_HANDLE). Stream handles come
  // from the caller (cudart's cudaStream_t is a CUstream); 0 is the legacy default stream
  // of the current context, so every call that names a stream makes a context current.
  event_handle create_event() override {
    make_context_current();
    CUevent event = nullptr;
    check(api_.cuEventCreate(&event, CU_EVENT_DISABLE_TIMING),
          [] { return std::string("cuEventCreate(CU_EVENT_DISABLE_TIMING)"); });
    return reinterpret_cast<event_handle>(event);
  }

  void destroy_event(event_handle event) override {
    check_undo(api_.cuEventDestroy(to_event(event)),
               [&] { return fmt::format("cuEventDestroy({})", hex(event)); });
  }

  void record_event(event_handle event, stream_view stream) override {
    make_context_current();
    check(api_.cuEventRecord(to_event(event), stream.get()),
          [&] { return fmt::format("cuEventRecord({}, {})", hex(event), to_string(stream)); });
  }

  bool event_complete(event_handle event) override {
    const CUresult result = api_.cuEventQuery(to_event(event));
    if (result == CUDA_ERROR_NOT_READY) return false;
    check(result, [&] { return fmt::format("cuEventQuery({})", hex(event)); });
    return true;
  }

  void synchronize_event(event_handle event) override {
    check(api_.cuEventSynchronize(to_event(event)),
          [&] { return fmt::format("cuEventSynchronize({})", hex(event)); });
  }

  void stream_wait_event(stream_view stream, event_handle event) override {
    make_context_current();
    check(api_.cuStreamWaitEvent(stream.get(), to_event(event), 0), [&] {
      return fmt::format("cuStreamWaitEvent({}, {}, 0)", to_string(stream), hex(event));
    });
  }

  void synchronize_stream(stream_view stream) override {
    make_context_current();
    check(api_.cuStreamSynchronize(stream.get()),
          [&] { return fmt::format("cuStreamSynchronize({})", to_string(stream)); });
  }

  bool stream_is_capturing(stream_view stream) override {
    make_context_current();
    CUstreamCaptureStatus status = CU_STREAM_CAPTURE_STATUS_NONE;
    const CUresult result = api_.cuStreamIsCapturing(stream.get(), &status);
    // The legacy stream while a blocking stream of its context captures: unusable until
    // that capture ends, and any work put on it would join the capture. Capturing, then.
    if (result == CUDA_ERROR_STREAM_CAPTURE_IMPLICIT) return true;
    check(result, [&] { return fmt::format("cuStreamIsCapturing({})", to_string(stream)); });
    return status != CU_STREAM_CAPTURE_STATUS_NONE;
  }

  std::optional<std::uint64_t> stream_serial(stream_view stream) override {
    // The per-thread default stream has one number per thread, but one handle.
    if (stream.is_legacy_default() || stream.is_per_thread_default()) return stream.id();
    make_context_current();
    unsigned long long serial = 0;
    const CUresult result = api_.cuStreamGetId(stream.get(), &serial);
    // What the driver answers for the handle of a destroyed stream.
    if (result == CUDA_ERROR_CONTEXT_IS_DESTROYED || result == CUDA_ERROR_INVALID_HANDLE) {
      return std::nullopt;
    }
    check(result, [&] { return fmt::format("cuStreamGetId({})", to_string(stream)); });
    return serial;
  }

  void* allocate_pinned_host(std::size_t bytes) override {
    make_context_current();
    void* memory = nullptr;
    const CUresult result = api_.cuMemHostAlloc(&memory, bytes, 0);
    if (result == CUDA_ERROR_OUT_OF_MEMORY) {
      throw out_of_memory(
          fmt::format("cuMemHostAlloc({}): no page-locked host memory left", format_bytes(bytes)));
    }
    check(result, [&] { return fmt::format("cuMemHostAlloc({})", format_bytes(bytes)); });
    return memory;
  }

  void free_pinned_host(void* memory, std::size_t) override {
    check_undo(api_.cuMemFreeHost(memory),
               [&] { return fmt::format("cuMemFreeHost({})", memory); });
  }

  void synchronize_device() override {
    make_context_current();
    check(api_.cuCtxSynchronize(), [] { return std::string("cuCtxSynchronize()"); });
  }

 private:
  template <typename DescribeCall>
  void check(CUresult result, DescribeCall&& describe_call) const {
    if (result != CUDA_SUCCESS) [[unlikely]] {
      throw driver_error(describe_call(), detail::result_name(api_, result),
                         static_cast<int>(result), detail::result_description(api_, result));
    }
  }

  // For calls that undo something: after the driver shut down there is nothing to undo.
  template <typename DescribeCall>
  void check_undo(CUresult result, DescribeCall&& describe_call) const {
    if (result == CUDA_ERROR_DEINITIALIZED) return;
    check(result, std::forward<DescribeCall>(describe_call));
  }

  void check_ordinal(int ordinal, std::string_view operation) const {
    if (ordinal >= 0 && ordinal < device_count()) return;
    throw invalid_argument(
        fmt::format("{}: invalid device ordinal {} (this machine has {} CUDA {})", operation,
                    ordinal, device_count(), device_count() == 1 ? "device" : "devices"));
  }

  void check_location(const memory_location& location, std::string_view operation) const {
    if (location.kind == location_kind::device) check_ordinal(location.id, operation);
  }

  void check_accessor(int device, std::string_view operation) const {
    if (device != host_device) check_ordinal(device, operation);
  }

  static void check_single_handle_type(handle_types type, std::string_view operation) {
    if (type == handle_types::posix_fd || type == handle_types::fabric) return;
    throw invalid_argument(
        fmt::format("{}: needs exactly one handle type, posix_fd or fabric (got {})", operation,
                    to_string(type)));
  }

  // "device 0 (NVIDIA H100 80GB HBM3)", "host NUMA node 1".
  std::string describe_place(const memory_location& location) const {
    if (location.kind != location_kind::device) return to_string(location);
    return fmt::format("device {} ({})", location.id, attributes_[location.id].name);
  }

  device_attributes read_attributes(int ordinal) const {
    const CUdevice device = devices_[ordinal];
    device_attributes attributes;
    attributes.ordinal = ordinal;

    char name[256] = {};
    check(api_.cuDeviceGetName(name, sizeof name, device),
          [&] { return fmt::format("cuDeviceGetName(device {})", ordinal); });
    attributes.name = name;
    check(api_.cuDeviceTotalMem(&attributes.total_memory, device),
          [&] { return fmt::format("cuDeviceTotalMem(device {})", ordinal); });

    const auto flag = [&](CUdevice_attribute attribute) {
      return read_attribute(device, ordinal, attribute).value_or(0) != 0;
    };
    attributes.vmm = flag(CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED);
    attributes.posix_fd_handles =
        flag(CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED);
    attributes.fabric_handles = flag(CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_FABRIC_SUPPORTED);
    attributes.gpu_direct_rdma_with_vmm =
        flag(CU_DEVICE_ATTRIBUTE_GPU_DIRECT_RDMA_WITH_CUDA_VMM_SUPPORTED);
    attributes.generic_compression = flag(CU_DEVICE_ATTRIBUTE_GENERIC_COMPRESSION_SUPPORTED);
    attributes.host_location_vmm = flag(attribute_host_vmm);
    attributes.host_numa_location_vmm = flag(attribute_host_numa_vmm);
    attributes.host_numa_id = read_attribute(device, ordinal, attribute_host_numa_id).value_or(-1);
    return attributes;
  }

  // nullopt when the driver does not know the attribute (it predates it).
  std::optional<int> read_attribute(CUdevice device, int ordinal,
                                    CUdevice_attribute attribute) const {
    int value = 0;
    const CUresult result = api_.cuDeviceGetAttribute(&value, attribute, device);
    if (result == CUDA_ERROR_INVALID_VALUE) return std::nullopt;
    check(result, [&] {
      return fmt::format("cuDeviceGetAttribute({}, device {})", static_cast<int>(attribute),
                         ordinal);
    });
    return value;
  }

  static CUevent to_event(event_handle event) { return reinterpret_cast<CUevent>(event); }

  // A thread without a current context gets device 0's primary context, which the
  // driver keeps current on that thread from then on. Copies and fills need one; VMM
  // calls work without, but measured on an H100 (driver 580) a create → reserve → map →
  // access → unmap → release → free cycle of 2 MiB took 1.5 ms without a current
  // context and 60 µs with one, so every VMM primitive makes one current too.
  void make_context_current() const {
    CUcontext current = nullptr;
    check(api_.cuCtxGetCurrent(&current), [] { return std::string("cuCtxGetCurrent()"); });
    if (current != nullptr) return;
    const CUcontext primary = primary_context(0);
    check(api_.cuCtxSetCurrent(primary),
          [] { return std::string("cuCtxSetCurrent(primary context of device 0)"); });
  }

  // For undo calls, which must work at process exit after the driver has shut down:
  // without a context they are only slower, never wrong.
  void make_context_current_quietly() const noexcept {
    try {
      make_context_current();
    } catch (...) {
    }
  }

  CUcontext primary_context(int ordinal) const {
    const std::lock_guard lock(contexts_mutex_);
    CUcontext& context = primary_contexts_[ordinal];
    if (context == nullptr) {
      check(api_.cuDevicePrimaryCtxRetain(&context, devices_[ordinal]),
            [&] { return fmt::format("cuDevicePrimaryCtxRetain(device {})", ordinal); });
    }
    return context;
  }

  template <typename DescribeCall>
  void wait_for_default_stream(DescribeCall&& describe_copy) const {
    check(api_.cuStreamSynchronize(CU_STREAM_LEGACY), [&] {
      return fmt::format("cuStreamSynchronize(legacy default stream) after {}", describe_copy());
    });
  }

  const detail::cuda_driver_api& api_;
  int driver_version_;
  std::vector<CUdevice> devices_;
  std::vector<device_attributes> attributes_;
  mutable std::mutex contexts_mutex_;
  mutable std::vector<CUcontext> primary_contexts_;  // null until retained
};

std::shared_ptr<backend> make_cuda_backend() {
  const detail::cuda_driver& driver = detail::load_cuda_driver();
  if (!driver.available) throw unavailable_error(driver.unavailable_reason);
  return std::make_shared<cuda_vmm_backend>(driver);
}

}  // namespace

std::shared_ptr<backend> cuda_backend() {
  // A failed construction throws out of the initialiser and is tried again next call.
  static const std::shared_ptr<backend> instance = make_cuda_backend();
  return instance;
}

cuda_availability cuda_available() {
  try {
    cuda_backend();
    return {true, {}};
  } catch (const unavailable_error& unavailable) {
    return {false, unavailable.what()};
  } catch (const std::exception& failure) {
    return {false, std::string("the CUDA backend could not start: ") + failure.what()};
  } catch (...) {
    return {false, "the CUDA backend could not start"};
  }
}

}  // namespace vmm_pmr

#else  // !VMM_PMR_WITH_CUDA

namespace vmm_pmr {

cuda_availability cuda_available() { return {false, "vmm_pmr was built without CUDA support"}; }

std::shared_ptr<backend> cuda_backend() { throw unavailable_error(cuda_available().reason); }

}  // namespace vmm_pmr

#endif  // VMM_PMR_WITH_CUDA
