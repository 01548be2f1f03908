// The test doubles that every rollback and leak test relies on: fault_injecting_backend
// (fails the N-th call of a kind, or of any kind, without forwarding it) and
// counting_backend (counts live driver objects; only successful calls count). If these
// lie, every test built on them passes for the wrong reason.
#include <unistd.h>

#include <array>
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <memory>
#include <new>
#include <string>

#include "support/backends_under_test.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

namespace {

using namespace vmm_pmr;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::counting_backend;
using vmm_pmr::testing::fault_injecting_backend;
using vmm_pmr::testing::injected_failure;
using vmm_pmr::testing::live_objects;

constexpr std::array<access_grant, 1> read_write = {access_grant{0, access_mode::read_write}};

std::size_t granule_of(const backend& b) {
  return b.granularity(physical_properties{}, granularity_kind::minimum);
}

// One physical allocation mapped into its own reservation, made and undone by hand so
// that these tests depend on nothing above the backend.
struct raw_mapping {
  physical_handle handle = 0;
  address base = 0;
  std::size_t size = 0;
};

raw_mapping map_one(backend& b, std::size_t size) {
  raw_mapping m;
  m.size = size;
  m.handle = b.create(size, {});
  m.base = b.reserve_address_range(size, 0, 0);
  b.map(m.base, size, 0, m.handle);
  return m;
}

void unmap_one(backend& b, const raw_mapping& m) {
  b.unmap(m.base, m.size);
  b.free_address_range(m.base, m.size);
  b.release(m.handle);
}

}  // namespace

// fault_injecting_backend

TEST_CASE("fault_injecting_backend fails exactly the n-th call of the armed kind", "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  faults.fail_nth(backend_call::create, 3, injected_failure::driver_error);

  const physical_handle first = faults.create(granule, {});
  // Calls of other kinds do not count towards n.
  const address base = faults.reserve_address_range(granule, 0, 0);
  const physical_handle second = faults.create(granule, {});
  CHECK_FALSE(faults.fired());
  CHECK_THROWS_AS(faults.create(granule, {}), driver_error);
  CHECK(faults.fired());
  const physical_handle fourth = faults.create(granule, {});

  faults.free_address_range(base, granule);
  for (physical_handle handle : {first, second, fourth}) faults.release(handle);
}

TEST_CASE("fault_injecting_backend fails exactly the n-th call of any kind when armed for any",
          "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  faults.fail_nth_call(3, injected_failure::driver_error);

  const physical_handle handle = faults.create(granule, {});
  const address base = faults.reserve_address_range(granule, 0, 0);
  CHECK_FALSE(faults.fired());
  CHECK_THROWS_AS(faults.map(base, granule, 0, handle), driver_error);
  CHECK(faults.fired());
  faults.map(base, granule, 0, handle);

  faults.unmap(base, granule);
  faults.free_address_range(base, granule);
  faults.release(handle);
}

TEST_CASE("fault_injecting_backend throws out_of_memory, a std::bad_alloc, when asked to",
          "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  faults.fail_nth(backend_call::create, 1, injected_failure::out_of_memory);
  CHECK_THROWS_AS(faults.create(granule_of(faults), {}), vmm_pmr::out_of_memory);

  faults.fail_nth(backend_call::reserve_address_range, 1, injected_failure::out_of_memory);
  CHECK_THROWS_AS(faults.reserve_address_range(granule_of(faults), 0, 0), std::bad_alloc);
}

TEST_CASE("fault_injecting_backend throws driver_error, naming the call, when asked to",
          "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  faults.fail_nth(backend_call::reserve_address_range, 1, injected_failure::driver_error);
  try {
    faults.reserve_address_range(granule_of(faults), 0, 0);
    FAIL("the armed call did not fail");
  } catch (const driver_error& failure) {
    CHECK_THAT(failure.call(), Catch::Matchers::ContainsSubstring("reserve_address_range"));
  }
}

TEST_CASE("fault_injecting_backend does not forward the call it fails", "[decorators]") {
  const auto counting = std::make_shared<counting_backend>(vmm_pmr::test::make_test_host_backend());
  fault_injecting_backend faults(counting);
  const std::size_t granule = granule_of(faults);
  const live_objects nothing = counting->live();

  faults.fail_nth(backend_call::create, 1, injected_failure::out_of_memory);
  CHECK_THROWS(faults.create(granule, {}));
  faults.fail_nth(backend_call::reserve_address_range, 1, injected_failure::driver_error);
  CHECK_THROWS(faults.reserve_address_range(granule, 0, 0));
  CHECK(counting->live() == nothing);

  // A failed undo leaves its object alive, as a failing driver would.
  const raw_mapping m = map_one(faults, granule);
  const live_objects one_mapping = counting->live();
  faults.fail_nth(backend_call::unmap, 1, injected_failure::driver_error);
  CHECK_THROWS(faults.unmap(m.base, m.size));
  faults.fail_nth(backend_call::release, 1, injected_failure::driver_error);
  CHECK_THROWS(faults.release(m.handle));
  CHECK(counting->live() == one_mapping);

  unmap_one(faults, m);
  CHECK(counting->live() == nothing);
}

TEST_CASE("fault_injecting_backend counts calls per kind and in total, failed ones included",
          "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  CHECK(faults.total_calls() == 0);

  faults.fail_nth(backend_call::set_access, 1, injected_failure::driver_error);
  const raw_mapping m = map_one(faults, granule);
  CHECK_THROWS(faults.set_access(m.base, m.size, read_write));
  faults.set_access(m.base, m.size, read_write);
  unmap_one(faults, m);

  CHECK(faults.calls(backend_call::create) == 1);
  CHECK(faults.calls(backend_call::reserve_address_range) == 1);
  CHECK(faults.calls(backend_call::map) == 1);
  CHECK(faults.calls(backend_call::set_access) == 2);
  CHECK(faults.calls(backend_call::unmap) == 1);
  CHECK(faults.calls(backend_call::free_address_range) == 1);
  CHECK(faults.calls(backend_call::release) == 1);
  CHECK(faults.calls(backend_call::export_handle) == 0);
  CHECK(faults.calls(backend_call::import_handle) == 0);
  CHECK(faults.total_calls() == 8);
}

TEST_CASE("fault_injecting_backend neither counts nor fails queries and copies", "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  faults.fail_nth_call(1, injected_failure::driver_error);

  CHECK(faults.name() == host->name());
  CHECK(faults.device_count() == host->device_count());
  const std::size_t granule = granule_of(faults);
  CHECK(faults.attributes(0).vmm);
  CHECK(faults.total_calls() == 0);
  CHECK_FALSE(faults.fired());

  CHECK_THROWS(faults.create(granule, {}));
}

TEST_CASE("fault_injecting_backend lets calls through after its failure has fired",
          "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  faults.fail_nth(backend_call::create, 1, injected_failure::driver_error);
  CHECK_THROWS(faults.create(granule, {}));

  for (int i = 0; i < 3; ++i) faults.release(faults.create(granule, {}));
  CHECK(faults.calls(backend_call::create) == 4);
}

TEST_CASE("fault_injecting_backend fails nothing once disarmed", "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  faults.fail_nth(backend_call::create, 1, injected_failure::out_of_memory);
  faults.disarm();
  faults.release(faults.create(granule, {}));
  CHECK_FALSE(faults.fired());

  faults.fail_nth_call(2, injected_failure::driver_error);
  faults.disarm();
  faults.release(faults.create(granule, {}));
  CHECK_FALSE(faults.fired());
}

TEST_CASE("fault_injecting_backend counts n from the moment it is armed", "[decorators]") {
  const auto host = vmm_pmr::test::make_test_host_backend();
  fault_injecting_backend faults(host);
  const std::size_t granule = granule_of(faults);
  faults.release(faults.create(granule, {}));
  faults.release(faults.create(granule, {}));

  faults.fail_nth(backend_call::create, 2, injected_failure::driver_error);
  const physical_handle handle = faults.create(granule, {});
  CHECK_THROWS(faults.create(granule, {}));
  faults.release(handle);
}

TEST_CASE("fault_injecting_backend names every call it can fail", "[decorators]") {
  using vmm_pmr::testing::to_string;
  CHECK(std::string(to_string(backend_call::create)) == "create");
  CHECK(std::string(to_string(backend_call::release)) == "release");
  CHECK(std::string(to_string(backend_call::reserve_address_range)) == "reserve_address_range");
  CHECK(std::string(to_string(backend_call::free_address_range)) == "free_address_range");
  CHECK(std::string(to_string(backend_call::map)) == "map");
  CHECK(std::string(to_string(backend_call::unmap)) == "unmap");
  CHECK(std::string(to_string(backend_call::set_access)) == "set_access");
  CHECK(std::string(to_string(backend_call::export_handle)) == "export_handle");
  CHECK(std::string(to_string(backend_call::import_handle)) == "import_handle");
}

// counting_backend

BACKEND_TEST_CASE("counting_backend counts physical allocations and their bytes up and down",
                  "[decorators]") {
  counting_backend counting(TestType::make());
  const std::size_t granule = granule_of(counting);
  CHECK(counting.live() == live_objects{});

  const physical_handle small = counting.create(granule, {});
  const physical_handle large = counting.create(2 * granule, {});
  CHECK(counting.live().physical_allocations == 2);
  CHECK(counting.live().physical_bytes == 3 * granule);

  counting.release(small);
  CHECK(counting.live().physical_allocations == 1);
  CHECK(counting.live().physical_bytes == 2 * granule);
  counting.release(large);
  CHECK(counting.live() == live_objects{});
}

BACKEND_TEST_CASE("counting_backend counts reservations up and down", "[decorators]") {
  counting_backend counting(TestType::make());
  const std::size_t granule = granule_of(counting);

  const address first = counting.reserve_address_range(granule, 0, 0);
  const address second = counting.reserve_address_range(4 * granule, 0, 0);
  CHECK(counting.live().reservations == 2);

  counting.free_address_range(first, granule);
  CHECK(counting.live().reservations == 1);
  counting.free_address_range(second, 4 * granule);
  CHECK(counting.live() == live_objects{});
}

BACKEND_TEST_CASE("counting_backend counts mappings and mapped bytes up and down", "[decorators]") {
  counting_backend counting(TestType::make());
  const std::size_t granule = granule_of(counting);
  const physical_handle small = counting.create(granule, {});
  const physical_handle large = counting.create(2 * granule, {});
  const address base = counting.reserve_address_range(4 * granule, 0, 0);

  counting.map(base, granule, 0, small);
  counting.map(base + 2 * granule, 2 * granule, 0, large);
  CHECK(counting.live().mappings == 2);
  CHECK(counting.live().mapped_bytes == 3 * granule);

  counting.unmap(base, granule);
  CHECK(counting.live().mappings == 1);
  CHECK(counting.live().mapped_bytes == 2 * granule);
  counting.unmap(base + 2 * granule, 2 * granule);
  CHECK(counting.live().mappings == 0);
  CHECK(counting.live().mapped_bytes == 0);

  counting.free_address_range(base, 4 * granule);
  counting.release(small);
  counting.release(large);
  CHECK(counting.live() == live_objects{});
}

BACKEND_TEST_CASE("counting_backend drops both mappings when one unmap spans two adjacent ones",
                  "[decorators]") {
  counting_backend counting(TestType::make());
  const std::size_t granule = granule_of(counting);
  const physical_handle first = counting.create(granule, {});
  const physical_handle second = counting.create(granule, {});
  const physical_handle outside = counting.create(granule, {});
  const address base = counting.reserve_address_range(3 * granule, 0, 0);
  counting.map(base, granule, 0, first);
  counting.map(base + granule, granule, 0, second);
  counting.map(base + 2 * granule, granule, 0, outside);
  REQUIRE(counting.live().mappings == 3);

  counting.unmap(base, 2 * granule);
  CHECK(counting.live().mappings == 1);
  CHECK(counting.live().mapped_bytes == granule);

  counting.unmap(base + 2 * granule, granule);
  counting.free_address_range(base, 3 * granule);
  for (physical_handle handle : {first, second, outside}) counting.release(handle);
  CHECK(counting.live() == live_objects{});
}

TEST_CASE("counting_backend counts an imported allocation as physical memory of 0 bytes",
          "[decorators]") {
  counting_backend counting(vmm_pmr::test::make_test_host_backend());
  const std::size_t granule = granule_of(counting);
  physical_properties shareable;
  shareable.shareable = handle_types::posix_fd;
  const physical_handle exported = counting.create(granule, shareable);
  const shareable_handle shared = counting.export_handle(exported, handle_types::posix_fd);
  const physical_handle imported = counting.import_handle(shared);
  ::close(shared.fd);

  CHECK(counting.live().physical_allocations == 2);
  CHECK(counting.live().physical_bytes == granule);
  counting.release(imported);
  counting.release(exported);
  CHECK(counting.live() == live_objects{});
}

BACKEND_TEST_CASE("counting_backend does not count calls that fail", "[decorators]") {
  const auto faults = std::make_shared<fault_injecting_backend>(TestType::make());
  counting_backend counting(faults);
  const std::size_t granule = granule_of(counting);
  const injected_failure failure =
      GENERATE(injected_failure::out_of_memory, injected_failure::driver_error);
  CAPTURE(failure == injected_failure::out_of_memory ? "out_of_memory" : "driver_error");

  faults->fail_nth(backend_call::create, 1, failure);
  CHECK_THROWS(counting.create(granule, {}));
  faults->fail_nth(backend_call::reserve_address_range, 1, failure);
  CHECK_THROWS(counting.reserve_address_range(granule, 0, 0));
  CHECK(counting.live() == live_objects{});

  const raw_mapping m = map_one(counting, granule);
  const live_objects one_mapping = counting.live();
  faults->fail_nth(backend_call::map, 1, failure);
  CHECK_THROWS(counting.map(m.base, m.size, 0, m.handle));
  faults->fail_nth(backend_call::unmap, 1, failure);
  CHECK_THROWS(counting.unmap(m.base, m.size));
  CHECK(counting.live() == one_mapping);

  counting.unmap(m.base, m.size);
  faults->fail_nth(backend_call::free_address_range, 1, failure);
  CHECK_THROWS(counting.free_address_range(m.base, m.size));
  faults->fail_nth(backend_call::release, 1, failure);
  CHECK_THROWS(counting.release(m.handle));
  CHECK(counting.live().reservations == 1);
  CHECK(counting.live().physical_allocations == 1);

  counting.free_address_range(m.base, m.size);
  counting.release(m.handle);
  CHECK(counting.live() == live_objects{});
}
