// A device_buffer that outlives its memory resource: in debug builds its destructor stops
// the process with a message saying what happened and what to do (device_buffer.hpp),
// instead of calling into the destroyed resource. Each case runs in a forked child.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>

#include <cstddef>
#include <memory>
#include <string>

#include "support/child_process.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::device_buffer;
using vmm_pmr::test::child_outcome;
using vmm_pmr::test::run_in_forked_child;

namespace {

constexpr std::size_t mib = std::size_t{1} << 20;
const vmm_pmr::stream_view stream = vmm_pmr::test::test_stream(0xa0);

void check_aborted_naming_the_mistake(const child_outcome& outcome, const std::string& resource) {
  CAPTURE(outcome.describe());
  CHECK(outcome.signal == SIGABRT);
  CHECK_THAT(outcome.output, ContainsSubstring("vmm_pmr: a device_buffer holding 1 MiB at 0x"));
  CHECK_THAT(outcome.output, ContainsSubstring("outlived its " + resource));
  CHECK_THAT(outcome.output,
             ContainsSubstring("the resource was destroyed first, and freed the buffer's memory "
                               "then. Destroy every buffer before its resource"));
}

}  // namespace

#ifndef NDEBUG

TEST_CASE("a buffer destroyed after its vmm_resource aborts, saying so",
          "[device_buffer][lifetime]") {
  const child_outcome outcome = run_in_forked_child([] {
    auto resource = std::make_unique<vmm_pmr::vmm_resource>(vmm_pmr::make_host_backend());
    device_buffer buffer(mib, stream, resource.get());
    resource.reset();  // frees the buffer's memory, and reports it as a leak
  });                  // the buffer's destructor
  check_aborted_naming_the_mistake(outcome, "vmm_resource");
}

TEST_CASE("a buffer destroyed after its stream_ordered_resource aborts, saying so",
          "[device_buffer][lifetime]") {
  const child_outcome outcome = run_in_forked_child([] {
    vmm_pmr::test::stream_ordered_harness harness;
    auto resource = harness.make();
    device_buffer buffer(mib, stream, resource.get());
    resource.reset();
  });
  check_aborted_naming_the_mistake(outcome, "stream_ordered_resource");
}

TEST_CASE("a buffer from a view destroyed after the view's resource aborts, saying so",
          "[device_buffer][lifetime]") {
  const child_outcome outcome = run_in_forked_child([] {
    vmm_pmr::test::stream_ordered_harness harness;
    auto resource = harness.make();
    vmm_pmr::stream_bound_resource view = resource->on_stream(stream);
    device_buffer buffer(mib, stream, &view);
    resource.reset();
  });
  check_aborted_naming_the_mistake(outcome, "stream_ordered_resource");
}

TEST_CASE("buffers destroyed before their resources end quietly", "[device_buffer][lifetime]") {
  const child_outcome outcome = run_in_forked_child([] {
    vmm_pmr::vmm_resource memory(vmm_pmr::make_host_backend());
    vmm_pmr::test::stream_ordered_harness harness;
    auto pool = harness.make();
    device_buffer on_memory(mib, stream, &memory);
    device_buffer on_pool(mib, stream, pool.get());
  });
  CAPTURE(outcome.describe());
  CHECK(outcome.exit_code == 0);
  CHECK(outcome.output.empty());
}

#else

TEST_CASE("a buffer that outlives its resource is checked in debug builds only",
          "[device_buffer][lifetime]") {
  SKIP("NDEBUG is defined: the check is compiled out");
}

#endif
