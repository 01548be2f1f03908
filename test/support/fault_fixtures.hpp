// Shared pieces of the fault-injection tests: the decorator stack and a guard that
// counts cleanup reports instead of printing them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

namespace vmm_pmr::test {

struct decorated_backend {
  std::shared_ptr<testing::counting_backend> counting;
  std::shared_ptr<testing::fault_injecting_backend> faults;
};

// Faults sit on top, so a failed call never reaches the counter.
inline decorated_backend decorate(std::shared_ptr<backend> base) {
  auto counting = std::make_shared<testing::counting_backend>(std::move(base));
  auto faults = std::make_shared<testing::fault_injecting_backend>(counting);
  return {counting, faults};
}

// Counts cleanup reports for the duration of a test instead of printing them.
struct cleanup_report_counter {
  std::size_t reports = 0;
  cleanup_error_handler previous;
  cleanup_report_counter()
      : previous(set_cleanup_error_handler([this](const std::string&) { ++reports; })) {}
  cleanup_report_counter(const cleanup_report_counter&) = delete;
  cleanup_report_counter& operator=(const cleanup_report_counter&) = delete;
  ~cleanup_report_counter() { set_cleanup_error_handler(std::move(previous)); }
};

}  // namespace vmm_pmr::test
