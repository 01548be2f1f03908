// fmt formatter for vmm_options: `fmt::format("{}", options)` prints what
// to_string(options) returns.
//
// Apart from vmm_options.hpp, which must also compile inside nvcc's CUDA translation
// units, where fmt's headers do not.
#pragma once

#include <fmt/format.h>

#include "vmm_pmr/resource/vmm_options.hpp"

template <>
struct fmt::formatter<vmm_pmr::vmm_options> : fmt::formatter<fmt::string_view> {
  fmt::format_context::iterator format(const vmm_pmr::vmm_options& options,
                                       fmt::format_context& ctx) const;
};
