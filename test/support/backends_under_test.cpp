#include "support/backends_under_test.hpp"

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"

namespace vmm_pmr::test {

std::shared_ptr<backend> require_cuda_backend() {
  const cuda_availability status = cuda_available();
  if (!status.available) SKIP("no VMM-capable GPU: " << status.reason);
  return cuda_backend();
}

std::shared_ptr<backend> make_test_host_backend(std::size_t granularity, std::size_t capacity) {
  return make_host_backend({.granularity = granularity, .capacity = capacity});
}

}  // namespace vmm_pmr::test
