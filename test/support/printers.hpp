// How Catch2 prints the library's value types in failed assertions.
#pragma once

#include <catch2/catch_tostring.hpp>

#include <string>

#include "vmm_pmr/registry/allocation_stats.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"

template <>
struct Catch::StringMaker<vmm_pmr::testing::live_objects> {
  static std::string convert(const vmm_pmr::testing::live_objects& live) {
    return "{physical " + std::to_string(live.physical_allocations) + " (" +
           std::to_string(live.physical_bytes) + " B), reservations " +
           std::to_string(live.reservations) + ", mappings " + std::to_string(live.mappings) +
           " (" + std::to_string(live.mapped_bytes) + " B)}";
  }
};

template <>
struct Catch::StringMaker<vmm_pmr::allocation_stats> {
  static std::string convert(const vmm_pmr::allocation_stats& stats) {
    return vmm_pmr::to_string(stats);
  }
};
