#include "resource/resource_reports.hpp"

#include <cstdio>
#include <string>

#include "resource/device_label.hpp"
#include "vmm_pmr/core/byte_size.hpp"

namespace vmm_pmr::detail {

void install_default_reports(vmm_options& options, std::string_view resource,
                             const device_attributes& device) {
  if (!options.on_bad_deallocation) {
    options.on_bad_deallocation = [](const deallocation_error& error) {
      std::fprintf(stderr, "vmm_pmr: %s\n", error.message.c_str());
    };
  }
  if (!options.on_leak) {
    options.on_leak = [resource = std::string(resource),
                       label = device_label(device)](const leak_report& report) {
      std::fprintf(stderr,
                   "vmm_pmr: %s on %s destroyed with %zu live allocation%s (%s); freed them\n",
                   resource.c_str(), label.c_str(), report.leaked.size(),
                   report.leaked.size() == 1 ? "" : "s", format_bytes(report.leaked_bytes).c_str());
    };
  }
}

void report_bad_deallocation(const vmm_options& options, const deallocation_error& error) noexcept {
  try {
    options.on_bad_deallocation(error);
  } catch (...) {
    // deallocate is noexcept in spirit: a throwing handler must not escape.
  }
}

void report_leak(const vmm_options& options, const leak_report& report) noexcept {
  try {
    options.on_leak(report);
  } catch (...) {
    // A throwing leak handler must not escape a destructor.
  }
}

}  // namespace vmm_pmr::detail
