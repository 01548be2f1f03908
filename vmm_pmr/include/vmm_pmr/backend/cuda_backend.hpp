// The CUDA backend: the driver's VMM API, loaded at run time.
//
// libcuda.so.1 is opened with dlopen() and every entry point is resolved through
// cuGetProcAddress, so nothing links against the driver: binaries start on machines
// without one and report that clearly through cuda_availability().
#pragma once

#include <memory>
#include <string>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr {

struct cuda_availability {
  bool available = false;
  // Why not, for humans: "libcuda.so.1 not found (...)", "cuInit failed: CUDA_ERROR_NO_DEVICE",
  // "no device supports virtual memory management".
  std::string reason;
};

// Never throws. Loads and initialises the driver on first use.
cuda_availability cuda_available();

// The process-wide CUDA backend; throws unavailable_error with the reason above when
// there is no usable driver or device.
std::shared_ptr<backend> cuda_backend();

}  // namespace vmm_pmr
