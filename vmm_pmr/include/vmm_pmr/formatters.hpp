// fmt formatters for the library's value types: `fmt::format("{}", resource.stats())`.
//
// Kept out of the other public headers, which must also compile inside nvcc's CUDA
// translation units where fmt's headers do not. Each formatter prints what the
// type's to_string() returns.
#pragma once

#include <fmt/format.h>

#include "vmm_pmr/registry/allocation_stats.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

template <>
struct fmt::formatter<vmm_pmr::allocation_stats> : fmt::formatter<fmt::string_view> {
  fmt::format_context::iterator format(const vmm_pmr::allocation_stats& stats,
                                       fmt::format_context& ctx) const;
};

template <>
struct fmt::formatter<vmm_pmr::vmm_options> : fmt::formatter<fmt::string_view> {
  fmt::format_context::iterator format(const vmm_pmr::vmm_options& options,
                                       fmt::format_context& ctx) const;
};
