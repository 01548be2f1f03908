// Backends the shared suites run against.
//
// BACKEND_TEST_CASE expands to one Catch2 test case per backend ("<name> - on_host",
// "<name> - on_gpu"), so a GPU-less machine reports the GPU half as SKIPPED with the
// reason instead of hiding it inside a passing case. TestType::make() returns a fresh
// backend (host: 2 MiB granularity, like an H100) or SKIPs.
#pragma once

#include <catch2/catch_template_test_macros.hpp>
#include <catch2/catch_test_macros.hpp>
#include <memory>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::test {

inline constexpr std::size_t two_mib = std::size_t{2} << 20;

// Skips the running test case unless a VMM-capable GPU and driver are present.
std::shared_ptr<backend> require_cuda_backend();
// The GPU and the test kernels (support/test_kernels.hpp) to drive it; SKIPs with the
// reason when either is missing (the kernels are built only where nvcc is).
inline std::shared_ptr<backend> require_gpu_with_kernels() {
#if VMM_PMR_TEST_KERNELS
  return require_cuda_backend();
#else
  SKIP("the test kernels were not built (no nvcc): configure where the CUDA toolkit's nvcc is");
  return nullptr;
#endif
}
// A host backend with GPU-like 2 MiB granularity (or the one given).
std::shared_ptr<backend> make_test_host_backend(std::size_t granularity = two_mib,
                                                std::size_t capacity = 0);

}  // namespace vmm_pmr::test

struct on_host {
  static constexpr bool is_gpu = false;
  static std::shared_ptr<vmm_pmr::backend> make() {
    return vmm_pmr::test::make_test_host_backend();
  }
};
struct on_gpu {
  static constexpr bool is_gpu = true;
  static std::shared_ptr<vmm_pmr::backend> make() { return vmm_pmr::test::require_cuda_backend(); }
};

#define BACKEND_TEST_CASE(name, tags) TEMPLATE_TEST_CASE(name, tags, on_host, on_gpu)
