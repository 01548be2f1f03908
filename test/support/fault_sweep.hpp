// The fault-injection sweep: every backend call of a multi-step operation fails in turn.
//
// A sweep row names an operation and how to set up the scene it works on (resources,
// live allocations, exported handles) over a given backend. The sweep runs the operation
// once on a fresh scene to count its backend calls; then, for every N and for both
// injected failures (out of memory, a generic driver error), it builds a fresh scene,
// fails the N-th call and checks what the row expects:
//   - throws: the exception type and every part of its message; the backend holds exactly
//     the objects it held before (counting_backend), the scene's state (statistics, live
//     allocations) is unchanged, the registry agrees with it, and the scene still works;
//   - recovers: the operation succeeds anyway (e.g. out of memory answered by trimming and
//     retrying), and the scene is consistent and still works;
//   - reported: for operations that cannot throw (deallocate, trim, destruction): no
//     exception, exactly the expected number of cleanup reports, a consistent scene.
// Adding an operation to the sweep is one row in fault_sweep_test.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "support/fault_fixtures.hpp"
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

namespace vmm_pmr::test {

// What an operation works on. Made fresh for every injected failure.
class sweep_scene {
 public:
  sweep_scene() = default;
  sweep_scene(const sweep_scene&) = delete;
  sweep_scene& operator=(const sweep_scene&) = delete;
  virtual ~sweep_scene() = default;

  // The operation under test, once.
  virtual void run() = 0;
  // Everything a failed run must leave as it was (statistics, live allocations, access
  // modes, contents), printable so that a failed comparison shows the difference.
  virtual std::string state() const = 0;
  // The scene's invariants: the registry's entries agree with the statistics and with
  // what the backend has mapped. Explains itself through UNSCOPED_INFO when false.
  virtual bool consistent() const = 0;
  // The resources and the memory involved still work: allocate, write, read, free.
  virtual void exercise() = 0;
};

enum class sweep_outcome { throws_out_of_memory, throws_driver_error, recovers, reported };

struct sweep_expectation {
  sweep_outcome outcome = sweep_outcome::throws_driver_error;
  // throws_*: substrings of what(). reported: ignored.
  std::vector<std::string> message_parts;
  // reported: cleanup reports caused by failing `call` (a failed unmap also makes the
  // free of the still-mapped range fail on the host backend: two). Unset: one.
  std::function<std::size_t(testing::backend_call failed)> reports;
};

struct sweep_row {
  std::string operation;
  std::function<std::unique_ptr<sweep_scene>(const decorated_backend&)> make_scene;
  sweep_expectation on_out_of_memory;
  sweep_expectation on_driver_error;
};

// Runs the whole sweep of `row` on stacks made over `make_base()` (a fresh base backend
// per scene). Reports failures through Catch2 assertions.
void run_fault_sweep(const sweep_row& row,
                     const std::function<std::shared_ptr<backend>()>& make_base, bool on_gpu);

}  // namespace vmm_pmr::test
