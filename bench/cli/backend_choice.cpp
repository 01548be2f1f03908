// Backend selection; see backend_choice.hpp.
#include "cli/backend_choice.hpp"

#include <fmt/format.h>

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "workloads/cuda_runtime.hpp"

namespace vmm_pmr::bench {
namespace {

backend_choice host_choice(std::size_t granularity, std::string reason) {
  return {.vmm_backend = make_host_backend({.granularity = granularity}),
          .on_gpu = false,
          .reason = std::move(reason),
          .runtime_baselines = false,
          .runtime = cuda_runtime_built_in ? "CUDA runtime built in, not used on the host backend"
                                           : "none (not built in)"};
}

backend_choice gpu_choice(std::string reason) {
  backend_choice choice{.vmm_backend = cuda_backend(),
                        .on_gpu = true,
                        .reason = std::move(reason),
                        .runtime_baselines = false,
                        .runtime = {}};
#if VMM_PMR_BENCH_WITH_CUDART
  try {
    // Device 0, as vmm_options{} allocates on device 0; its context is created now so
    // that no measurement pays for it.
    cudart::use_device(0);
    choice.runtime = "CUDA runtime " + cudart::runtime_version();
    choice.runtime_baselines = true;
  } catch (const std::exception& failure) {
    choice.runtime = fmt::format("CUDA runtime unusable ({}): no cudaMalloc/cudaMallocAsync rows",
                                 failure.what());
  }
#else
  choice.runtime = "none: built without the CUDA runtime, so no cudaMalloc/cudaMallocAsync rows";
#endif
  return choice;
}

}  // namespace

backend_choice choose_backend(backend_request request, std::size_t host_granularity) {
  switch (request) {
    case backend_request::host:
      return host_choice(host_granularity, "asked for with --backend=host");
    case backend_request::cuda: {
      const cuda_availability gpu = cuda_available();
      if (!gpu.available) {
        throw unavailable_error(fmt::format("--backend=cuda: no usable GPU: {}", gpu.reason));
      }
      return gpu_choice("asked for with --backend=cuda");
    }
    case backend_request::automatic:
      break;
  }
  const cuda_availability gpu = cuda_available();
  if (gpu.available) return gpu_choice("auto: the CUDA driver loaded and a device supports VMM");
  return host_choice(host_granularity,
                     fmt::format("auto: no usable GPU ({}), so the host backend", gpu.reason));
}

}  // namespace vmm_pmr::bench
