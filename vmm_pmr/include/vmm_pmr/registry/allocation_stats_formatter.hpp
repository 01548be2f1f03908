// fmt formatter for allocation_stats: `fmt::format("{}", resource.stats())` prints what
// to_string(stats) returns.
//
// Apart from allocation_stats.hpp, which must also compile inside nvcc's CUDA translation
// units, where fmt's headers do not.
#pragma once

#include <fmt/format.h>

#include "vmm_pmr/registry/allocation_stats.hpp"

template <>
struct fmt::formatter<vmm_pmr::allocation_stats> : fmt::formatter<fmt::string_view> {
  fmt::format_context::iterator format(const vmm_pmr::allocation_stats& stats,
                                       fmt::format_context& ctx) const;
};
