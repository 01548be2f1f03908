// The CUDA driver API, loaded at run time (private to the CUDA backend).
//
// load_cuda_driver() opens libcuda.so.1 once per process and resolves every entry point
// through cuGetProcAddress, asking for the ABI of the cuda.h this file was compiled
// against, capped at the driver's own version (cuGetProcAddress answers
// CUDA_ERROR_INVALID_VALUE for a version newer than the driver). Nothing links libcuda,
// so binaries start on machines without a driver.
//
// Invariant: when `available` is true, every pointer in `api` is non-null and cuInit(0)
// has succeeded. The library is never dlclose'd: destructors that run at process exit
// may still call into it.
#pragma once

#ifdef VMM_PMR_WITH_CUDA

#include <cuda.h>

#include <string>

namespace vmm_pmr::detail {

// Members carry the driver functions' names. cuda.h #defines some of them to their
// versioned symbols (cuMemcpyDtoH -> cuMemcpyDtoH_v2, cuDeviceTotalMem ->
// cuDeviceTotalMem_v2); the macro renames declaration and use alike, so each member's
// type is the signature cuGetProcAddress returns for the base name at CUDA_VERSION.
struct cuda_driver_api {
  decltype(&::cuInit) cuInit = nullptr;
  decltype(&::cuDriverGetVersion) cuDriverGetVersion = nullptr;
  decltype(&::cuGetErrorName) cuGetErrorName = nullptr;
  decltype(&::cuGetErrorString) cuGetErrorString = nullptr;

  decltype(&::cuDeviceGetCount) cuDeviceGetCount = nullptr;
  decltype(&::cuDeviceGet) cuDeviceGet = nullptr;
  decltype(&::cuDeviceGetName) cuDeviceGetName = nullptr;
  decltype(&::cuDeviceTotalMem) cuDeviceTotalMem = nullptr;
  decltype(&::cuDeviceGetAttribute) cuDeviceGetAttribute = nullptr;

  decltype(&::cuDevicePrimaryCtxRetain) cuDevicePrimaryCtxRetain = nullptr;
  decltype(&::cuDevicePrimaryCtxRelease) cuDevicePrimaryCtxRelease = nullptr;
  decltype(&::cuCtxGetCurrent) cuCtxGetCurrent = nullptr;
  decltype(&::cuCtxSetCurrent) cuCtxSetCurrent = nullptr;
  decltype(&::cuStreamSynchronize) cuStreamSynchronize = nullptr;

  decltype(&::cuMemGetAllocationGranularity) cuMemGetAllocationGranularity = nullptr;
  decltype(&::cuMemCreate) cuMemCreate = nullptr;
  decltype(&::cuMemRelease) cuMemRelease = nullptr;
  decltype(&::cuMemGetAllocationPropertiesFromHandle) cuMemGetAllocationPropertiesFromHandle =
      nullptr;
  decltype(&::cuMemAddressReserve) cuMemAddressReserve = nullptr;
  decltype(&::cuMemAddressFree) cuMemAddressFree = nullptr;
  decltype(&::cuMemMap) cuMemMap = nullptr;
  decltype(&::cuMemUnmap) cuMemUnmap = nullptr;
  decltype(&::cuMemSetAccess) cuMemSetAccess = nullptr;
  decltype(&::cuMemGetAccess) cuMemGetAccess = nullptr;
  decltype(&::cuMemExportToShareableHandle) cuMemExportToShareableHandle = nullptr;
  decltype(&::cuMemImportFromShareableHandle) cuMemImportFromShareableHandle = nullptr;

  decltype(&::cuMemcpyDtoH) cuMemcpyDtoH = nullptr;
  decltype(&::cuMemcpyHtoD) cuMemcpyHtoD = nullptr;
  decltype(&::cuMemcpyDtoD) cuMemcpyDtoD = nullptr;
  decltype(&::cuMemsetD8) cuMemsetD8 = nullptr;
  decltype(&::cuMemcpyAsync) cuMemcpyAsync = nullptr;

  // Stream ordering, for the stream-ordered resource.
  decltype(&::cuEventCreate) cuEventCreate = nullptr;
  decltype(&::cuEventDestroy) cuEventDestroy = nullptr;
  decltype(&::cuEventRecord) cuEventRecord = nullptr;
  decltype(&::cuEventQuery) cuEventQuery = nullptr;
  decltype(&::cuEventSynchronize) cuEventSynchronize = nullptr;
  decltype(&::cuStreamWaitEvent) cuStreamWaitEvent = nullptr;
  decltype(&::cuStreamIsCapturing) cuStreamIsCapturing = nullptr;
  decltype(&::cuStreamGetId) cuStreamGetId = nullptr;
  decltype(&::cuCtxSynchronize) cuCtxSynchronize = nullptr;
  decltype(&::cuMemHostAlloc) cuMemHostAlloc = nullptr;
  decltype(&::cuMemFreeHost) cuMemFreeHost = nullptr;
};

struct cuda_driver {
  cuda_driver_api api;
  bool available = false;
  // Why not, for humans: "libcuda.so.1 not found: ...", "cuInit failed: CUDA_ERROR_NO_DEVICE
  // (no CUDA-capable device is detected)".
  std::string unavailable_reason;
  // cuDriverGetVersion's answer (13000 for CUDA 13.0); 0 when it could not be asked.
  int version = 0;
};

// Loads and initialises the driver on first use (thread-safe); never throws.
const cuda_driver& load_cuda_driver() noexcept;

// "CUDA_ERROR_INVALID_VALUE"; "CUresult 12345" for a result the driver cannot name.
std::string result_name(const cuda_driver_api& api, CUresult result);
// "invalid argument"; empty when the driver has no description.
std::string result_description(const cuda_driver_api& api, CUresult result);

}  // namespace vmm_pmr::detail

#endif  // VMM_PMR_WITH_CUDA
