#include "support/fault_sweep.hpp"

#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <exception>

#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::test {
namespace {

const char* to_string(testing::injected_failure failure) {
  return failure == testing::injected_failure::out_of_memory ? "out of memory" : "driver error";
}

// Runs `scene.run()` and checks that it throws `Expected` with every part of the message.
template <typename Expected>
void check_throws(sweep_scene& scene, const std::vector<std::string>& parts) {
  try {
    scene.run();
    FAIL_CHECK("the operation succeeded although a backend call failed");
  } catch (const Expected& failure) {
    const std::string message = failure.what();
    for (const std::string& part : parts) {
      CHECK_THAT(message, Catch::Matchers::ContainsSubstring(part));
    }
  } catch (const std::exception& other) {
    FAIL_CHECK("threw the wrong exception type: " << other.what());
  }
}

void sweep_one(const sweep_row& row, const std::function<std::shared_ptr<backend>()>& make_base,
               bool on_gpu, std::size_t n, testing::injected_failure failure,
               const sweep_expectation& expected) {
  const decorated_backend stack = decorate(make_base());
  cleanup_report_counter reports;
  {
    std::unique_ptr<sweep_scene> scene = row.make_scene(stack);
    const testing::live_objects live_before = stack.counting->live();
    const std::string state_before = scene->state();
    const std::size_t reports_before = reports.reports;

    stack.faults->fail_nth_call(n, failure);
    switch (expected.outcome) {
      case sweep_outcome::throws_out_of_memory:
        check_throws<out_of_memory>(*scene, expected.message_parts);
        break;
      case sweep_outcome::throws_driver_error:
        check_throws<driver_error>(*scene, expected.message_parts);
        break;
      case sweep_outcome::recovers:
      case sweep_outcome::reported:
        CHECK_NOTHROW(scene->run());
        break;
    }
    const std::optional<testing::backend_call> failed = stack.faults->fired_call();
    REQUIRE(failed.has_value());
    stack.faults->disarm();
    CAPTURE(testing::to_string(*failed));

    switch (expected.outcome) {
      case sweep_outcome::throws_out_of_memory:
      case sweep_outcome::throws_driver_error:
        CHECK(stack.counting->live() == live_before);
        CHECK(scene->state() == state_before);
        CHECK(reports.reports == reports_before);
        break;
      case sweep_outcome::recovers:
        CHECK(reports.reports == reports_before);
        break;
      case sweep_outcome::reported: {
        const std::size_t wanted = expected.reports ? expected.reports(*failed) : 1;
        // The host backend's rules are exact; a driver may refuse differently.
        if (on_gpu) {
          CHECK(reports.reports - reports_before >= 1);
        } else {
          CHECK(reports.reports - reports_before == wanted);
        }
        break;
      }
    }
    CHECK(scene->consistent());
    const std::size_t reports_before_exercise = reports.reports;
    CHECK_NOTHROW(scene->exercise());
    CHECK(scene->consistent());
    CHECK(reports.reports == reports_before_exercise);
  }
  // Whatever the scene still held is gone with it, except what a failed undo leaked
  // (the fault injector does not forward a failed release or unmap).
  if (expected.outcome != sweep_outcome::reported) {
    CHECK(stack.counting->live() == testing::live_objects{});
  }
}

}  // namespace

void run_fault_sweep(const sweep_row& row,
                     const std::function<std::shared_ptr<backend>()>& make_base, bool on_gpu) {
  std::size_t calls = 0;
  {
    const decorated_backend stack = decorate(make_base());
    std::unique_ptr<sweep_scene> scene = row.make_scene(stack);
    const std::size_t before = stack.faults->total_calls();
    scene->run();
    calls = stack.faults->total_calls() - before;
    CHECK(scene->consistent());
  }
  INFO(row.operation << " makes " << calls << " backend calls");
  REQUIRE(calls > 0);
  for (const testing::injected_failure failure :
       {testing::injected_failure::out_of_memory, testing::injected_failure::driver_error}) {
    const sweep_expectation& expected = failure == testing::injected_failure::out_of_memory
                                            ? row.on_out_of_memory
                                            : row.on_driver_error;
    for (std::size_t n = 1; n <= calls; ++n) {
      INFO("failing call " << n << " of " << calls << " as " << to_string(failure));
      sweep_one(row, make_base, on_gpu, n, failure, expected);
    }
  }
}

}  // namespace vmm_pmr::test
