// vmm_pmr_last_error(): one message per thread, kept until the thread's next failure.
#include "last_error.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr_c.h"

namespace vmm_pmr::c_interface {
namespace {

std::string& last_error() noexcept {
  thread_local std::string message;
  return message;
}

std::string_view advice_for_current_exception() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return "free memory or ask for less (vmm_pmr_pool_trim gives cached memory back)";
  } catch (const std::invalid_argument&) {
    return "";  // the message names the argument and what is accepted
  } catch (const vmm_pmr::unavailable_error&) {
    return "check that a CUDA driver and GPU are present, or use backend=host";
  } catch (...) {
    return "";  // the library's messages say what to do where they can
  }
}

}  // namespace

void set_last_error(std::string message) noexcept { last_error() = std::move(message); }

void set_last_error_from_current_exception(std::string_view call) noexcept {
  try {
    std::string what = "an unknown exception";
    try {
      throw;
    } catch (const std::exception& failure) {
      what = failure.what();
    } catch (...) {
    }
    const std::string_view advice = advice_for_current_exception();
    set_last_error(advice.empty() ? fmt::format("{} failed: {}", call, what)
                                  : fmt::format("{} failed: {}; {}", call, what, advice));
  } catch (...) {
    // No memory for the whole message: the call alone says at least which one failed.
    try {
      last_error().assign(call);
    } catch (...) {
      last_error().clear();
    }
  }
}

}  // namespace vmm_pmr::c_interface

extern "C" const char* vmm_pmr_last_error(void) {
  return vmm_pmr::c_interface::last_error().c_str();
}
