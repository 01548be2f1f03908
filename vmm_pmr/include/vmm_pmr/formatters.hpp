// fmt formatters for the library's value types: `fmt::format("{}", resource.stats())`.
//
// Kept out of the other public headers, which must also compile inside nvcc's CUDA
// translation units where fmt's headers do not. Each formatter prints what the type's
// to_string() returns.
#pragma once

#include "vmm_pmr/registry/allocation_stats_formatter.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"
