// The report for people: the environment header and one aligned table per suite.
#pragma once

#include <cstdio>

#include "reports/environment.hpp"
#include "reports/report.hpp"

namespace vmm_pmr::bench {

void print_header(std::FILE* out, const environment& facts);
void print_suite_table(std::FILE* out, const suite_result& suite);

// "1172", "86.8", "1.23", "0.0523": three significant digits or more, never exponents.
std::string format_measurement(double value);

}  // namespace vmm_pmr::bench
