// The IPC peer without a CUDA compiler: no kernels, and the reason why.
#include "ipc/peer/ipc_peer_kernels.hpp"

namespace vmm_pmr::test {

std::string kernels_unavailable_reason() {
  return "ipc_peer was built without a CUDA compiler (nvcc), so it has no kernels";
}

kernel_outcome fill_with_kernel(int, void*, std::size_t, unsigned char) {
  return {false, kernels_unavailable_reason()};
}

}  // namespace vmm_pmr::test
