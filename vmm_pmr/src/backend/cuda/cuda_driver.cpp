// Loading the CUDA driver at run time: dlopen("libcuda.so.1") + cuGetProcAddress.
//
// The only symbols taken straight from the library are cuGetProcAddress (its _v2, or the
// CUDA 11.3 original) and cuDriverGetVersion, the one needed to know which ABI version to
// ask cuGetProcAddress for. Everything else is resolved by base name at
// min(CUDA_VERSION, driver version), so a newer driver hands back the entry points whose
// signatures match our cuda.h. Loading happens once, in a function-local static.
#ifdef VMM_PMR_WITH_CUDA

#include "backend/cuda/cuda_driver.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <string>
#include <type_traits>

namespace vmm_pmr::detail {
namespace {

// cuGetProcAddress as CUDA 11.3-11.8 drivers export it (no symbolStatus argument).
using get_proc_address_v1 = CUresult (*)(const char* symbol, void** function, int cuda_version,
                                         cuuint64_t flags);
using get_proc_address_v2 = decltype(&::cuGetProcAddress);  // cuGetProcAddress_v2

struct proc_address_lookup {
  get_proc_address_v2 v2 = nullptr;
  get_proc_address_v1 v1 = nullptr;
  int cuda_version = 0;

  // The entry point for `symbol`, or null when this driver lacks it.
  void* find(const char* symbol) const {
    void* function = nullptr;
    if (v2 != nullptr) {
      CUdriverProcAddressQueryResult status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
      const CUresult result =
          v2(symbol, &function, cuda_version, CU_GET_PROC_ADDRESS_DEFAULT, &status);
      if (result != CUDA_SUCCESS || status != CU_GET_PROC_ADDRESS_SUCCESS) return nullptr;
    } else if (v1(symbol, &function, cuda_version, CU_GET_PROC_ADDRESS_DEFAULT) != CUDA_SUCCESS) {
      return nullptr;
    }
    return function;
  }
};

std::string last_dlerror() {
  const char* message = dlerror();
  return message != nullptr ? message : "unknown error";
}

template <typename Function>
Function library_symbol(void* library, const char* symbol) {
  return reinterpret_cast<Function>(dlsym(library, symbol));
}

// Resolves every member of `api`; returns the first symbol the driver lacks, or null.
const char* resolve_all(const proc_address_lookup& lookup, cuda_driver_api& api) {
  const char* missing = nullptr;
  auto resolve = [&](const char* symbol, auto& function) {
    function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(lookup.find(symbol));
    if (function == nullptr && missing == nullptr) missing = symbol;
  };
  resolve("cuInit", api.cuInit);
  resolve("cuDriverGetVersion", api.cuDriverGetVersion);
  resolve("cuGetErrorName", api.cuGetErrorName);
  resolve("cuGetErrorString", api.cuGetErrorString);
  resolve("cuDeviceGetCount", api.cuDeviceGetCount);
  resolve("cuDeviceGet", api.cuDeviceGet);
  resolve("cuDeviceGetName", api.cuDeviceGetName);
  resolve("cuDeviceTotalMem", api.cuDeviceTotalMem);
  resolve("cuDeviceGetAttribute", api.cuDeviceGetAttribute);
  resolve("cuDevicePrimaryCtxRetain", api.cuDevicePrimaryCtxRetain);
  resolve("cuDevicePrimaryCtxRelease", api.cuDevicePrimaryCtxRelease);
  resolve("cuCtxGetCurrent", api.cuCtxGetCurrent);
  resolve("cuCtxSetCurrent", api.cuCtxSetCurrent);
  resolve("cuStreamSynchronize", api.cuStreamSynchronize);
  resolve("cuMemGetAllocationGranularity", api.cuMemGetAllocationGranularity);
  resolve("cuMemCreate", api.cuMemCreate);
  resolve("cuMemRelease", api.cuMemRelease);
  resolve("cuMemGetAllocationPropertiesFromHandle", api.cuMemGetAllocationPropertiesFromHandle);
  resolve("cuMemAddressReserve", api.cuMemAddressReserve);
  resolve("cuMemAddressFree", api.cuMemAddressFree);
  resolve("cuMemMap", api.cuMemMap);
  resolve("cuMemUnmap", api.cuMemUnmap);
  resolve("cuMemSetAccess", api.cuMemSetAccess);
  resolve("cuMemGetAccess", api.cuMemGetAccess);
  resolve("cuMemExportToShareableHandle", api.cuMemExportToShareableHandle);
  resolve("cuMemImportFromShareableHandle", api.cuMemImportFromShareableHandle);
  resolve("cuMemcpyDtoH", api.cuMemcpyDtoH);
  resolve("cuMemcpyHtoD", api.cuMemcpyHtoD);
  resolve("cuMemcpyDtoD", api.cuMemcpyDtoD);
  resolve("cuMemsetD8", api.cuMemsetD8);
  resolve("cuMemcpyAsync", api.cuMemcpyAsync);
  resolve("cuEventCreate", api.cuEventCreate);
  resolve("cuEventDestroy", api.cuEventDestroy);
  resolve("cuEventRecord", api.cuEventRecord);
  resolve("cuEventQuery", api.cuEventQuery);
  resolve("cuEventSynchronize", api.cuEventSynchronize);
  resolve("cuStreamWaitEvent", api.cuStreamWaitEvent);
  resolve("cuStreamIsCapturing", api.cuStreamIsCapturing);
  resolve("cuStreamGetId", api.cuStreamGetId);
  resolve("cuCtxSynchronize", api.cuCtxSynchronize);
  resolve("cuMemHostAlloc", api.cuMemHostAlloc);
  resolve("cuMemFreeHost", api.cuMemFreeHost);
  return missing;
}

std::string version_text(int version) {
  return fmt::format("{}.{}", version / 1000, version % 1000 / 10);
}

cuda_driver load() {
  cuda_driver driver;
  // Never dlclose'd: handles destroyed at exit still call into the driver.
  void* library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    driver.unavailable_reason = "libcuda.so.1 not found: " + last_dlerror();
    return driver;
  }

  proc_address_lookup lookup;
  lookup.v2 = library_symbol<get_proc_address_v2>(library, "cuGetProcAddress_v2");
  if (lookup.v2 == nullptr) {
    lookup.v1 = library_symbol<get_proc_address_v1>(library, "cuGetProcAddress");
  }
  // cuDriverGetVersion comes straight from the library because its answer decides which
  // version cuGetProcAddress may be asked for; it has had one signature since CUDA 2.2.
  const auto driver_get_version =
      library_symbol<decltype(&::cuDriverGetVersion)>(library, "cuDriverGetVersion");
  if ((lookup.v2 == nullptr && lookup.v1 == nullptr) || driver_get_version == nullptr) {
    driver.unavailable_reason =
        "libcuda.so.1 has no cuGetProcAddress: the CUDA driver is older than 11.3";
    return driver;
  }
  if (driver_get_version(&driver.version) != CUDA_SUCCESS) {
    driver.unavailable_reason = "cuDriverGetVersion failed: the CUDA driver is unusable";
    return driver;
  }
  lookup.cuda_version = std::min(CUDA_VERSION, driver.version);

  if (const char* missing = resolve_all(lookup, driver.api)) {
    driver.unavailable_reason =
        fmt::format("the CUDA driver {} has no {}", version_text(driver.version), missing);
    return driver;
  }

  if (const CUresult result = driver.api.cuInit(0); result != CUDA_SUCCESS) {
    const std::string description = result_description(driver.api, result);
    driver.unavailable_reason = fmt::format("cuInit failed: {}{}", result_name(driver.api, result),
                                            description.empty() ? "" : " (" + description + ")");
    return driver;
  }
  driver.available = true;
  return driver;
}

cuda_driver load_or_explain() noexcept {
  try {
    return load();
  } catch (const std::exception& failure) {
    cuda_driver driver;
    driver.unavailable_reason = std::string("loading the CUDA driver failed: ") + failure.what();
    return driver;
  }
}

}  // namespace

const cuda_driver& load_cuda_driver() noexcept {
  static const cuda_driver driver = load_or_explain();
  return driver;
}

std::string result_name(const cuda_driver_api& api, CUresult result) {
  const char* name = nullptr;
  if (api.cuGetErrorName != nullptr && api.cuGetErrorName(result, &name) == CUDA_SUCCESS &&
      name != nullptr) {
    return name;
  }
  return fmt::format("CUresult {}", static_cast<int>(result));
}

std::string result_description(const cuda_driver_api& api, CUresult result) {
  const char* description = nullptr;
  if (api.cuGetErrorString != nullptr &&
      api.cuGetErrorString(result, &description) == CUDA_SUCCESS && description != nullptr) {
    return description;
  }
  return {};
}

}  // namespace vmm_pmr::detail

#endif  // VMM_PMR_WITH_CUDA
