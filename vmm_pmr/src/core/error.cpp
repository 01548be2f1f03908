// Out-of-line pieces of the exception types: driver_error builds its message once,
// "<call> failed: <result_name>[: <detail>]", so what() names the call, its arguments
// and the result without anyone above the backend formatting it again.
#include "vmm_pmr/core/error.hpp"

#include <utility>

namespace vmm_pmr {
namespace {

std::string driver_error_message(const std::string& call, const std::string& result_name,
                                 const std::string& detail) {
  std::string message = call + " failed: " + result_name;
  if (!detail.empty()) message += ": " + detail;
  return message;
}

}  // namespace

driver_error::driver_error(std::string call, std::string result_name, int result_code,
                           std::string detail)
    : error(driver_error_message(call, result_name, detail)),
      call_(std::move(call)),
      result_name_(std::move(result_name)),
      result_code_(result_code),
      detail_(std::move(detail)) {}

}  // namespace vmm_pmr
