// Which backend a run uses, and why.
//
// --backend=auto takes the GPU when the CUDA driver loads and a device supports VMM, and
// otherwise the host backend; either way the reason is kept for the report header, so a
// table pasted from a CPU machine cannot pass for GPU numbers.
//
// On the GPU the CUDA runtime baselines (cudaMalloc, cudaMallocAsync) are prepared here
// too. If the runtime cannot start (built without it, or a driver older than the runtime)
// the run goes on without those rows and the header says why: the library's own rows do
// not depend on the runtime.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "cli/bench_options.hpp"
#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::bench {

struct backend_choice {
  std::shared_ptr<vmm_pmr::backend> vmm_backend;
  bool on_gpu = false;
  std::string reason;              // "auto: no usable GPU (libcuda.so.1 not found)", "asked for"
  bool runtime_baselines = false;  // the cudaMalloc/cudaMallocAsync rows can run
  std::string runtime;             // "CUDA runtime 13.0 (static)", or why there is none
};

// Throws vmm_pmr::unavailable_error when --backend=cuda and there is no usable GPU.
backend_choice choose_backend(backend_request request, std::size_t host_granularity);

}  // namespace vmm_pmr::bench
