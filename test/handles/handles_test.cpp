// The RAII handles: physical_memory, address_range, mapping and vmm_allocation.
//
// Each handle owns exactly one driver object and undoes it exactly once: checked with
// counting_backend's live() before and after, and with fault_injecting_backend's call
// counts (a second undo would show as a second call). vmm_allocation must undo in the
// order the driver needs (unmap, release, free), roll back completely when build()
// fails at any step, and report a failing undo through the cleanup error handler
// instead of throwing from a destructor.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <catch2/matchers/catch_matchers_vector.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/address_range.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

namespace {

using namespace vmm_pmr;
using Catch::Matchers::Equals;
using Catch::Matchers::StartsWith;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::counting_backend;
using vmm_pmr::testing::fault_injecting_backend;
using vmm_pmr::testing::injected_failure;
using vmm_pmr::testing::live_objects;

constexpr std::array<access_grant, 1> read_write = {access_grant{0, access_mode::read_write}};
const physical_properties default_properties{};

std::size_t granule_of(const backend& b) {
  return b.granularity(default_properties, granularity_kind::minimum);
}

// counting_backend under fault_injecting_backend: handles are made on `faults`, so
// faults->calls() counts every call a handle makes and counting->live() sees only the
// calls that went through. Tidying up after an injected failure goes to `counting`.
struct backend_stack {
  std::shared_ptr<counting_backend> counting;
  std::shared_ptr<fault_injecting_backend> faults;
  std::size_t granule = 0;
};

backend_stack make_stack(std::shared_ptr<backend> base) {
  backend_stack stack;
  stack.counting = std::make_shared<counting_backend>(std::move(base));
  stack.faults = std::make_shared<fault_injecting_backend>(stack.counting);
  stack.granule = granule_of(*stack.faults);
  return stack;
}

live_objects one_allocation(std::size_t size) {
  return {.physical_allocations = 1,
          .physical_bytes = size,
          .reservations = 1,
          .mappings = 1,
          .mapped_bytes = size};
}

vmm_allocation build(backend& owner, std::size_t size) {
  return vmm_allocation::build(owner, size, 0, default_properties, read_write);
}

// Records the name of every state-changing call, in order, before forwarding it.
class call_recording_backend final : public forwarding_backend {
 public:
  using forwarding_backend::forwarding_backend;

  std::vector<std::string> calls;

  physical_handle create(std::size_t size, const physical_properties& props) override {
    calls.emplace_back("create");
    return forwarding_backend::create(size, props);
  }
  void release(physical_handle handle) override {
    calls.emplace_back("release");
    forwarding_backend::release(handle);
  }
  address reserve_address_range(std::size_t size, std::size_t alignment, address hint) override {
    calls.emplace_back("reserve_address_range");
    return forwarding_backend::reserve_address_range(size, alignment, hint);
  }
  void free_address_range(address base, std::size_t size) override {
    calls.emplace_back("free_address_range");
    forwarding_backend::free_address_range(base, size);
  }
  void map(address at, std::size_t size, std::size_t offset, physical_handle handle) override {
    calls.emplace_back("map");
    forwarding_backend::map(at, size, offset, handle);
  }
  void unmap(address at, std::size_t size) override {
    calls.emplace_back("unmap");
    forwarding_backend::unmap(at, size);
  }
  void set_access(address at, std::size_t size, std::span<const access_grant> grants) override {
    calls.emplace_back("set_access");
    forwarding_backend::set_access(at, size, grants);
  }
};

// Installs a handler that collects cleanup error reports and puts the previous handler
// back on destruction, so that a failing test cannot leave its handler behind.
class captured_cleanup_errors {
 public:
  captured_cleanup_errors()
      : previous_(set_cleanup_error_handler(
            [this](const std::string& message) { messages_.push_back(message); })) {}
  ~captured_cleanup_errors() { set_cleanup_error_handler(std::move(previous_)); }
  captured_cleanup_errors(const captured_cleanup_errors&) = delete;
  captured_cleanup_errors& operator=(const captured_cleanup_errors&) = delete;

  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;  // declared first: filled from previous_'s init on
  cleanup_error_handler previous_;
};

const char* name_of(injected_failure failure) {
  return failure == injected_failure::out_of_memory ? "out_of_memory" : "driver_error";
}

}  // namespace

// physical_memory

BACKEND_TEST_CASE("physical_memory creates one physical allocation and releases it when destroyed",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    const physical_memory memory(*stack.faults, 2 * stack.granule, default_properties);
    CHECK(memory);
    CHECK(memory.size() == 2 * stack.granule);
    CHECK(memory.owner() == stack.faults.get());
    CHECK(stack.counting->live() ==
          live_objects{.physical_allocations = 1, .physical_bytes = 2 * stack.granule});
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::release) == 1);
}

BACKEND_TEST_CASE("a moved-from physical_memory is empty and the memory is released once",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    physical_memory source(*stack.faults, stack.granule, default_properties);
    const physical_handle handle = source.handle();
    const physical_memory target(std::move(source));
    CHECK_FALSE(source);
    CHECK(source.size() == 0);
    CHECK(target);
    CHECK(target.handle() == handle);
    CHECK(target.size() == stack.granule);
    CHECK(stack.counting->live().physical_allocations == 1);
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::release) == 1);
}

BACKEND_TEST_CASE("move-assigning a physical_memory releases the memory it held", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    physical_memory target(*stack.faults, stack.granule, default_properties);
    physical_memory source(*stack.faults, 2 * stack.granule, default_properties);
    const physical_handle moved = source.handle();
    target = std::move(source);
    CHECK(stack.faults->calls(backend_call::release) == 1);
    CHECK(stack.counting->live() ==
          live_objects{.physical_allocations = 1, .physical_bytes = 2 * stack.granule});
    CHECK(target.handle() == moved);
    CHECK_FALSE(source);
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::release) == 2);
}

TEST_CASE("physical_memory::adopt takes ownership of an imported handle and releases it once",
          "[handles]") {
  const backend_stack stack = make_stack(vmm_pmr::test::make_test_host_backend());
  physical_properties shareable;
  shareable.shareable = handle_types::posix_fd;
  const physical_memory exported(*stack.faults, stack.granule, shareable);
  const shareable_handle shared =
      stack.faults->export_handle(exported.handle(), handle_types::posix_fd);
  {
    const physical_memory imported =
        physical_memory::adopt(*stack.faults, stack.faults->import_handle(shared), stack.granule);
    CHECK(imported);
    CHECK(imported.size() == stack.granule);
    CHECK(stack.counting->live().physical_allocations == 2);
  }
  ::close(shared.fd);
  CHECK(stack.counting->live().physical_allocations == 1);
  CHECK(stack.faults->calls(backend_call::release) == 1);
}

TEST_CASE("default-constructed handles are empty and undo nothing", "[handles]") {
  const backend_stack stack = make_stack(vmm_pmr::test::make_test_host_backend());
  {
    const physical_memory memory;
    const address_range range;
    const mapping map;
    const vmm_allocation allocation;
    CHECK_FALSE(memory);
    CHECK_FALSE(range);
    CHECK_FALSE(map);
    CHECK(allocation.empty());
    CHECK(allocation.base() == 0);
    CHECK(allocation.mapped_bytes() == 0);
  }
  CHECK(stack.faults->total_calls() == 0);
}

// address_range

BACKEND_TEST_CASE("address_range reserves one range and frees exactly that range when destroyed",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    const address_range range(*stack.faults, 3 * stack.granule);
    CHECK(range);
    CHECK(range.base() % stack.granule == 0);
    CHECK(range.size() == 3 * stack.granule);
    CHECK(range.end() == range.base() + 3 * stack.granule);
    CHECK(range.contains(range.base()));
    CHECK(range.contains(range.end() - 1));
    CHECK_FALSE(range.contains(range.end()));
    CHECK_FALSE(range.contains(range.base() - 1));
    CHECK(stack.counting->live() == live_objects{.reservations = 1});
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
}

BACKEND_TEST_CASE("a moved-from address_range is empty and the range is freed once", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    address_range source(*stack.faults, stack.granule);
    const address base = source.base();
    const address_range target(std::move(source));
    CHECK_FALSE(source);
    CHECK(source.size() == 0);
    CHECK(target.base() == base);
    CHECK(target.size() == stack.granule);
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
}

BACKEND_TEST_CASE("move-assigning an address_range frees the range it held", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    address_range target(*stack.faults, stack.granule);
    address_range source(*stack.faults, 2 * stack.granule);
    const address moved = source.base();
    target = std::move(source);
    CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
    CHECK(stack.counting->live() == live_objects{.reservations = 1});
    CHECK(target.base() == moved);
    CHECK(target.size() == 2 * stack.granule);
    CHECK_FALSE(source);
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::free_address_range) == 2);
}

// mapping

BACKEND_TEST_CASE("mapping maps physical memory once and unmaps it when destroyed", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const physical_memory memory(*stack.faults, stack.granule, default_properties);
  const address_range range(*stack.faults, stack.granule);
  {
    const mapping map(*stack.faults, range.base(), memory, 0, stack.granule);
    CHECK(map);
    CHECK(map.base() == range.base());
    CHECK(map.size() == stack.granule);
    CHECK(map.end() == range.end());
    CHECK(stack.counting->live().mappings == 1);
    CHECK(stack.counting->live().mapped_bytes == stack.granule);
  }
  CHECK(stack.counting->live().mappings == 0);
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
}

BACKEND_TEST_CASE("a moved-from mapping is empty and the range is unmapped once", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const physical_memory memory(*stack.faults, stack.granule, default_properties);
  const address_range range(*stack.faults, stack.granule);
  {
    mapping source(*stack.faults, range.base(), memory, 0, stack.granule);
    const mapping target(std::move(source));
    CHECK_FALSE(source);
    CHECK(source.size() == 0);
    CHECK(target.base() == range.base());
    CHECK(target.size() == stack.granule);
  }
  CHECK(stack.counting->live().mappings == 0);
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
}

BACKEND_TEST_CASE("move-assigning a mapping unmaps the range it held", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const physical_memory first(*stack.faults, stack.granule, default_properties);
  const physical_memory second(*stack.faults, stack.granule, default_properties);
  const address_range range(*stack.faults, 2 * stack.granule);
  {
    mapping target(*stack.faults, range.base(), first, 0, stack.granule);
    mapping source(*stack.faults, range.base() + stack.granule, second, 0, stack.granule);
    target = std::move(source);
    CHECK(stack.faults->calls(backend_call::unmap) == 1);
    CHECK(stack.counting->live().mappings == 1);
    CHECK(target.base() == range.base() + stack.granule);
    CHECK_FALSE(source);
    // The old range is unmapped for real: something else can be mapped there now.
    const mapping remapped(*stack.faults, range.base(), first, 0, stack.granule);
  }
  CHECK(stack.counting->live().mappings == 0);
  CHECK(stack.faults->calls(backend_call::unmap) == 3);
}

// vmm_allocation

BACKEND_TEST_CASE("vmm_allocation::build creates, reserves, maps and grants access to one chunk",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const vmm_allocation allocation = build(*stack.faults, 2 * stack.granule);

  CHECK_FALSE(allocation.empty());
  CHECK(stack.counting->live() == one_allocation(2 * stack.granule));
  CHECK(stack.faults->calls(backend_call::set_access) == 1);
  REQUIRE(allocation.ranges().size() == 1);
  REQUIRE(allocation.chunks().size() == 1);
  CHECK(allocation.base() == allocation.ranges()[0].base());
  CHECK(allocation.mapped_bytes() == 2 * stack.granule);
  CHECK(allocation.chunks()[0].map.base() == allocation.base());
  CHECK(allocation.chunks()[0].memory.size() == 2 * stack.granule);
  CHECK(stack.faults->get_access(allocation.base(), 0) == access_mode::read_write);
}

BACKEND_TEST_CASE("destroying a vmm_allocation undoes exactly what build made", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const live_objects before = stack.counting->live();
  { const vmm_allocation allocation = build(*stack.faults, stack.granule); }
  CHECK(stack.counting->live() == before);
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
  CHECK(stack.faults->calls(backend_call::release) == 1);
  CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
}

BACKEND_TEST_CASE("a moved-from vmm_allocation is empty and its objects are undone once",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  {
    vmm_allocation source = build(*stack.faults, stack.granule);
    const address base = source.base();
    const vmm_allocation target(std::move(source));
    CHECK(source.empty());
    CHECK(source.ranges().empty());
    CHECK(target.base() == base);
    CHECK(stack.counting->live() == one_allocation(stack.granule));
  }
  CHECK(stack.counting->live() == live_objects{});
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
  CHECK(stack.faults->calls(backend_call::release) == 1);
  CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
}

// A defaulted move assignment would assign ranges_ before chunks_ and so free the old
// reservation while its chunk is still mapped, which the driver refuses: a leak.
BACKEND_TEST_CASE("move-assigning a vmm_allocation undoes the allocation it held", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const captured_cleanup_errors errors;
  {
    vmm_allocation target = build(*stack.faults, stack.granule);
    vmm_allocation source = build(*stack.faults, 2 * stack.granule);
    const address moved = source.base();
    target = std::move(source);
    CHECK(target.base() == moved);
    CHECK(source.empty());
    CHECK(stack.counting->live() == one_allocation(2 * stack.granule));
    CHECK(errors.messages().empty());
  }
  CHECK(stack.counting->live() == live_objects{});
}

BACKEND_TEST_CASE("a vmm_allocation is undone as unmap, then release, then free", "[handles]") {
  const auto recording = std::make_shared<call_recording_backend>(TestType::make());
  const std::size_t granule = granule_of(*recording);
  {
    const vmm_allocation allocation = build(*recording, granule);
    CHECK_THAT(recording->calls, Equals(std::vector<std::string>{"create", "reserve_address_range",
                                                                 "map", "set_access"}));
    recording->calls.clear();
  }
  CHECK_THAT(recording->calls,
             Equals(std::vector<std::string>{"unmap", "release", "free_address_range"}));
}

BACKEND_TEST_CASE("move-assigning a vmm_allocation undoes the old one as unmap, release, free",
                  "[handles]") {
  const auto recording = std::make_shared<call_recording_backend>(TestType::make());
  const std::size_t granule = granule_of(*recording);
  const captured_cleanup_errors errors;
  vmm_allocation target = build(*recording, granule);
  vmm_allocation source = build(*recording, granule);
  recording->calls.clear();
  target = std::move(source);
  CHECK_THAT(recording->calls,
             Equals(std::vector<std::string>{"unmap", "release", "free_address_range"}));
}

BACKEND_TEST_CASE(
    "vmm_allocation::build failing at any step throws that failure and leaves "
    "nothing behind",
    "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const backend_call step = GENERATE(backend_call::create, backend_call::reserve_address_range,
                                     backend_call::map, backend_call::set_access);
  const injected_failure failure =
      GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  CAPTURE(vmm_pmr::testing::to_string(step), name_of(failure));

  // Something already live, so that "as before" is not just "nothing".
  const vmm_allocation earlier = build(*stack.faults, stack.granule);
  const live_objects before = stack.counting->live();
  const std::size_t cleanup_errors_before = cleanup_error_count();

  stack.faults->fail_nth(step, 1, failure);
  if (failure == injected_failure::out_of_memory) {
    CHECK_THROWS_AS(build(*stack.faults, 2 * stack.granule), vmm_pmr::out_of_memory);
  } else {
    CHECK_THROWS_AS(build(*stack.faults, 2 * stack.granule), driver_error);
  }
  CHECK(stack.faults->fired());
  CHECK(stack.counting->live() == before);
  CHECK(cleanup_error_count() == cleanup_errors_before);
}

BACKEND_TEST_CASE("a failed vmm_allocation::build unmaps before it frees the reservation",
                  "[handles]") {
  const auto faults = std::make_shared<fault_injecting_backend>(TestType::make());
  call_recording_backend recording(faults);
  const std::size_t granule = granule_of(recording);
  faults->fail_nth(backend_call::set_access, 1, injected_failure::driver_error);

  CHECK_THROWS_AS(build(recording, granule), driver_error);
  const std::vector<std::string>& calls = recording.calls;
  const auto position = [&calls](const std::string& call) {
    return std::find(calls.begin(), calls.end(), call) - calls.begin();
  };
  REQUIRE(position("unmap") < std::ssize(calls));
  REQUIRE(position("free_address_range") < std::ssize(calls));
  REQUIRE(position("release") < std::ssize(calls));
  CHECK(position("unmap") < position("free_address_range"));
  CHECK(position("set_access") < position("unmap"));
}

// Failing undo

BACKEND_TEST_CASE("a physical_memory whose release fails reports it once and does not throw",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const captured_cleanup_errors errors;
  const std::size_t count_before = cleanup_error_count();
  physical_handle leaked = 0;
  CHECK_NOTHROW([&] {
    const physical_memory memory(*stack.faults, stack.granule, default_properties);
    leaked = memory.handle();
    stack.faults->fail_nth(backend_call::release, 1, injected_failure::driver_error);
  }());

  REQUIRE(errors.messages().size() == 1);
  CHECK_THAT(errors.messages()[0], StartsWith("cleanup failed: release physical memory"));
  CHECK(cleanup_error_count() == count_before + 1);
  CHECK(stack.faults->calls(backend_call::release) == 1);
  // Not forwarded, so the driver object is still there: tidy it up.
  CHECK(stack.counting->live().physical_allocations == 1);
  stack.counting->release(leaked);
}

BACKEND_TEST_CASE("an address_range whose free fails reports it once and does not throw",
                  "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const captured_cleanup_errors errors;
  const std::size_t count_before = cleanup_error_count();
  address leaked = 0;
  CHECK_NOTHROW([&] {
    const address_range range(*stack.faults, stack.granule);
    leaked = range.base();
    stack.faults->fail_nth(backend_call::free_address_range, 1, injected_failure::driver_error);
  }());

  REQUIRE(errors.messages().size() == 1);
  CHECK_THAT(errors.messages()[0], StartsWith("cleanup failed: free address range"));
  CHECK(cleanup_error_count() == count_before + 1);
  CHECK(stack.faults->calls(backend_call::free_address_range) == 1);
  CHECK(stack.counting->live().reservations == 1);
  stack.counting->free_address_range(leaked, stack.granule);
}

BACKEND_TEST_CASE("a mapping whose unmap fails reports it once and does not throw", "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const physical_memory memory(*stack.faults, stack.granule, default_properties);
  const address_range range(*stack.faults, stack.granule);
  const captured_cleanup_errors errors;
  const std::size_t count_before = cleanup_error_count();
  CHECK_NOTHROW([&] {
    const mapping map(*stack.faults, range.base(), memory, 0, stack.granule);
    stack.faults->fail_nth(backend_call::unmap, 1, injected_failure::driver_error);
  }());

  REQUIRE(errors.messages().size() == 1);
  CHECK_THAT(errors.messages()[0], StartsWith("cleanup failed: unmap"));
  CHECK(cleanup_error_count() == count_before + 1);
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
  CHECK(stack.counting->live().mappings == 1);
  stack.counting->unmap(range.base(), stack.granule);
}

BACKEND_TEST_CASE(
    "a vmm_allocation whose release or free fails reports it once and undoes the "
    "rest",
    "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const backend_call failing = GENERATE(backend_call::release, backend_call::free_address_range);
  const injected_failure failure =
      GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  CAPTURE(vmm_pmr::testing::to_string(failing), name_of(failure));
  const captured_cleanup_errors errors;
  const std::size_t count_before = cleanup_error_count();

  physical_handle handle = 0;
  address base = 0;
  CHECK_NOTHROW([&] {
    const vmm_allocation allocation = build(*stack.faults, stack.granule);
    handle = allocation.chunks()[0].memory.handle();
    base = allocation.base();
    stack.faults->fail_nth(failing, 1, failure);
  }());

  REQUIRE(errors.messages().size() == 1);
  CHECK(cleanup_error_count() == count_before + 1);
  const live_objects left = stack.counting->live();
  CHECK(left.mappings == 0);
  if (failing == backend_call::release) {
    CHECK_THAT(errors.messages()[0], StartsWith("cleanup failed: release physical memory"));
    CHECK(left == live_objects{.physical_allocations = 1, .physical_bytes = stack.granule});
    stack.counting->release(handle);
  } else {
    CHECK_THAT(errors.messages()[0], StartsWith("cleanup failed: free address range"));
    CHECK(left == live_objects{.reservations = 1});
    stack.counting->free_address_range(base, stack.granule);
  }
  CHECK(stack.counting->live() == live_objects{});
}

BACKEND_TEST_CASE(
    "a vmm_allocation whose unmap fails reports the unmap once and still releases "
    "the memory",
    "[handles]") {
  const backend_stack stack = make_stack(TestType::make());
  const captured_cleanup_errors errors;
  address base = 0;
  CHECK_NOTHROW([&] {
    const vmm_allocation allocation = build(*stack.faults, stack.granule);
    base = allocation.base();
    stack.faults->fail_nth(backend_call::unmap, 1, injected_failure::driver_error);
  }());

  const auto unmap_reports = std::count_if(
      errors.messages().begin(), errors.messages().end(),
      [](const std::string& message) { return message.starts_with("cleanup failed: unmap"); });
  CHECK(unmap_reports == 1);
  CHECK(stack.faults->calls(backend_call::unmap) == 1);
  CHECK(stack.counting->live().physical_allocations == 0);
  // The mapping is still there, so the driver may also refuse to free its reservation
  // (the host backend does, and that refusal is a second, separate report).
  stack.counting->unmap(base, stack.granule);
  if (stack.counting->live().reservations == 1) {
    stack.counting->free_address_range(base, stack.granule);
  }
  CHECK(stack.counting->live() == live_objects{});
}

TEST_CASE("a cleanup error handler that throws does not make a destructor throw", "[handles]") {
  const backend_stack stack = make_stack(vmm_pmr::test::make_test_host_backend());
  const cleanup_error_handler previous = set_cleanup_error_handler(
      [](const std::string&) { throw std::runtime_error("a handler that throws"); });
  const std::size_t count_before = cleanup_error_count();
  address leaked = 0;
  CHECK_NOTHROW([&] {
    const address_range range(*stack.faults, stack.granule);
    leaked = range.base();
    stack.faults->fail_nth(backend_call::free_address_range, 1, injected_failure::driver_error);
  }());
  set_cleanup_error_handler(previous);
  CHECK(cleanup_error_count() == count_before + 1);
  stack.counting->free_address_range(leaked, stack.granule);
}

TEST_CASE("set_cleanup_error_handler returns the handler it replaces", "[handles]") {
  std::vector<std::string> first_messages;
  const cleanup_error_handler original = set_cleanup_error_handler(
      [&first_messages](const std::string& message) { first_messages.push_back(message); });
  const cleanup_error_handler replaced = set_cleanup_error_handler(original);
  REQUIRE(replaced);
  replaced("called through the returned handler");
  CHECK_THAT(first_messages,
             Equals(std::vector<std::string>{"called through the returned handler"}));
}
