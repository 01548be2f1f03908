// Kernels for the IPC peer, launched through the CUDA runtime (ipc_peer_kernels.cu),
// or a stand-in that says why there are none (ipc_peer_no_kernels.cpp, when the build
// has no CUDA compiler). The runtime uses each device's primary context, the same one
// the library's driver-based backend uses, so the kernels see the library's mappings.
#pragma once

#include <cstddef>
#include <string>

namespace vmm_pmr::test {

struct kernel_outcome {
  bool available = false;
  std::string error_name;  // "cudaSuccess" when the kernel ran; else why not
};

// Empty when kernels can be launched; else why not.
std::string kernels_unavailable_reason();

// Fills `bytes` bytes at `data` with `value` from a kernel on `device` and waits for it.
kernel_outcome fill_with_kernel(int device, void* data, std::size_t bytes, unsigned char value);

}  // namespace vmm_pmr::test
