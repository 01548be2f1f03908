// The two reports a resource makes without throwing: a bad deallocation and the leaks
// found at destruction. Both go to the handlers in vmm_options, stderr by default.
#pragma once

#include <string_view>

#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/registry/leak_report.hpp"
#include "vmm_pmr/resource/deallocation_error.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::detail {

// Fills in the handlers `options` leaves empty: one line on stderr each, the leak line
// naming `resource` ("vmm_resource") and `device`.
void install_default_reports(vmm_options& options, std::string_view resource,
                             const device_attributes& device);

// Call the handlers; a handler that throws is ignored (deallocate and destructors must
// not throw).
void report_bad_deallocation(const vmm_options& options, const deallocation_error& error) noexcept;
void report_leak(const vmm_options& options, const leak_report& report) noexcept;

}  // namespace vmm_pmr::detail
