// The facts a report's header states: the device, its driver and memory, the backend
// and why it was chosen, the build, the date and the command. A pasted table must explain
// itself, and a number from a debug build or the host backend must not pass for one from
// an optimised build on the GPU.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "cli/backend_choice.hpp"

namespace vmm_pmr::bench {

struct environment {
  std::string tool_version;  // vmm_pmr's version
  std::string date;          // local time, "2025-06-01 14:03:07 +0200"
  std::string command_line;
  std::string backend;  // "cuda" or "host"
  std::string backend_reason;
  std::string device;  // "NVIDIA H100 80GB HBM3" or "host (memfd)"
  std::size_t device_memory = 0;
  std::size_t granularity = 0;
  std::string driver;   // "CUDA driver 13.0, kernel module 580.65.06" or "Linux 6.1.0"
  std::string runtime;  // CUDA runtime of the baselines, or why there is none
  std::string cpu;      // "AMD EPYC 7763 (16 threads)"
  std::size_t host_memory = 0;
  std::string build_type;  // meson's buildtype
  std::string compiler;
  bool assertions = false;
  // What makes these numbers unfit to quote: a debug build, glibc's MALLOC_PERTURB_.
  std::vector<std::string> warnings;

  // ("device", "NVIDIA H100 ... , 79.1 GiB") pairs in the order a header prints them.
  std::vector<std::pair<std::string, std::string>> lines() const;
};

environment describe_environment(const backend_choice& choice, std::size_t granularity,
                                 const std::string& command_line);

}  // namespace vmm_pmr::bench
