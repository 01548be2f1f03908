// Exceptions thrown by vmm_pmr.
//
// Every failure that reaches a user is one of these. Messages are written for a human:
// they say what was asked (sizes formatted as "1.5 GiB"), on which device, and why it
// failed. Driver failures also carry the call, its arguments and the result's name, so
// nothing above the backend ever needs to see a raw CUresult.
#pragma once

#include <new>
#include <stdexcept>
#include <string>

namespace vmm_pmr {

// Base of the library's own errors (everything except out_of_memory, which must be a
// std::bad_alloc for std::pmr code to handle it).
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A backend primitive failed. `call()` is e.g. "cuMemMap(0x7f..., 2 MiB, 0, h#3)",
// `result_name()` e.g. "CUDA_ERROR_INVALID_VALUE" or "EINVAL".
class driver_error : public error {
 public:
  driver_error(std::string call, std::string result_name, int result_code, std::string detail = {});
  const std::string& call() const noexcept { return call_; }
  const std::string& result_name() const noexcept { return result_name_; }
  int result_code() const noexcept { return result_code_; }
  // What the caller was doing, or which rule was broken; may be empty.
  const std::string& detail() const noexcept { return detail_; }

 private:
  std::string call_;
  std::string result_name_;
  int result_code_;
  std::string detail_;
};

// No usable driver or device: libcuda.so.1 missing, cuInit failed, no device with VMM.
class unavailable_error : public error {
 public:
  using error::error;
};

// An option the device (or backend) does not support; the message names the option,
// the device and what it supports.
class unsupported_error : public error {
 public:
  using error::error;
};

// A caller error: bad alignment, a size that cannot be represented, an invalid ordinal.
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// An index or byte range outside a buffer's size (device_vector::element, a copy past
// the end); the message gives the index or range and the size.
class out_of_range : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

// Allocation failed for lack of memory (physical memory or address space).
class out_of_memory : public std::bad_alloc {
 public:
  explicit out_of_memory(std::string message) : message_(std::move(message)) {}
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

}  // namespace vmm_pmr
