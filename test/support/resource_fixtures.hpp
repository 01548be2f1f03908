// Helpers for resource tests: capture what a resource reports instead of printing it.
#pragma once

#include <catch2/matchers/catch_matchers.hpp>

#include <exception>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::test {

// Records bad deallocations and leak reports given to a resource's options.
struct report_recorder {
  std::mutex mutex;
  std::vector<deallocation_error> bad_deallocations;
  std::vector<leak_report> leaks;

  vmm_options attach(vmm_options options) {
    options.on_bad_deallocation = [this](const deallocation_error& error) {
      std::lock_guard lock(mutex);
      bad_deallocations.push_back(error);
    };
    options.on_leak = [this](const leak_report& report) {
      std::lock_guard lock(mutex);
      leaks.push_back(report);
    };
    return options;
  }
  std::string last_message() {
    std::lock_guard lock(mutex);
    return bad_deallocations.empty() ? std::string() : bad_deallocations.back().message;
  }
};

// Matches an exception whose what() contains every one of `parts`. (Catch2's && on
// matchers keeps references, so combined matchers cannot be returned from a helper.)
class message_contains_all final : public Catch::Matchers::MatcherBase<std::exception> {
 public:
  message_contains_all(std::initializer_list<std::string> parts) : parts_(parts) {}
  bool match(const std::exception& failure) const override {
    const std::string message = failure.what();
    for (const std::string& part : parts_) {
      if (message.find(part) == std::string::npos) return false;
    }
    return true;
  }
  std::string describe() const override {
    std::string text = "message contains";
    for (const std::string& part : parts_) text += " \"" + part + "\"";
    return text;
  }

 private:
  std::vector<std::string> parts_;
};

}  // namespace vmm_pmr::test
