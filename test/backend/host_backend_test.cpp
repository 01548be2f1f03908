// The host backend: the VMM cycle on memfd + mmap, and the CUDA driver's rules, which
// it must refuse the way the driver does (a driver_error naming the rule) while staying
// usable afterwards. Faults are observed in forked children, so a test that expects a
// SIGSEGV cannot take the test runner down with it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/core/error.hpp"

namespace {

using namespace vmm_pmr;
using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::make_test_host_backend;
using vmm_pmr::test::two_mib;

constexpr std::size_t granule = two_mib;
constexpr std::array<access_grant, 1> read_write = {access_grant{0, access_mode::read_write}};
constexpr std::array<access_grant, 1> read_only = {access_grant{0, access_mode::read}};

physical_properties shareable_properties() {
  physical_properties props;
  props.shareable = handle_types::posix_fd;
  return props;
}

std::size_t open_fd_count() {
  std::size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++count;
  }
  return count;
}

std::byte* pointer(address at) { return reinterpret_cast<std::byte*>(at); }

// Runs `action` in a forked child; returns the signal that killed it, or 0 if it exited.
template <typename Action>
int signal_that_ended_child(Action action) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Catch2's handler would report the expected fault as a failure of the child.
    std::signal(SIGSEGV, SIG_DFL);
    action();
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

// Expects `call` to be refused with a driver_error whose message names `rule`.
template <typename Call>
void require_refused(Call call, const std::string& rule, const std::string& result = "EINVAL") {
  try {
    call();
    FAIL("not refused; expected: " << rule);
  } catch (const driver_error& refused) {
    CHECK(refused.result_name() == result);
    CHECK_THAT(refused.what(), ContainsSubstring(rule));
  }
}

// One whole cycle, checked: proves that the backend still works after a refusal.
void require_usable(backend& host) {
  const physical_handle handle = host.create(granule, {});
  const address base = host.reserve_address_range(granule, 0, 0);
  host.map(base, granule, 0, handle);
  host.set_access(base, granule, read_write);
  host.fill(base, 0x5a, granule);
  std::uint8_t last = 0;
  host.copy_to_host(&last, base + granule - 1, 1);
  CHECK(last == 0x5a);
  host.unmap(base, granule);
  host.free_address_range(base, granule);
  host.release(handle);
}

// A reservation of `granules` granules with every granule mapped to its own handle.
struct mapped_range {
  address base = 0;
  std::size_t size = 0;
  std::vector<physical_handle> handles;
};

mapped_range map_granules(backend& host, std::size_t granules) {
  mapped_range range;
  range.size = granules * granule;
  range.base = host.reserve_address_range(range.size, 0, 0);
  for (std::size_t i = 0; i < granules; ++i) {
    range.handles.push_back(host.create(granule, {}));
    host.map(range.base + i * granule, granule, 0, range.handles.back());
  }
  return range;
}

void unmap_and_free(backend& host, const mapped_range& range) {
  host.unmap(range.base, range.size);
  host.free_address_range(range.base, range.size);
  for (const physical_handle handle : range.handles) host.release(handle);
}

}  // namespace

TEST_CASE("create, reserve, map, set_access, write, read, unmap, free and release make a cycle",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);
  CHECK(base % granule == 0);
  host->map(base, 2 * granule, 0, handle);
  host->set_access(base, 2 * granule, read_write);
  CHECK(host->get_access(base + granule + 17, 0) == access_mode::read_write);

  const std::string message = "written through the mapping";
  host->copy_from_host(base + granule, message.data(), message.size());
  std::string read_back(message.size(), '\0');
  host->copy_to_host(read_back.data(), base + granule, read_back.size());
  CHECK(read_back == message);

  host->unmap(base, 2 * granule);
  host->free_address_range(base, 2 * granule);
  host->release(handle);
}

TEST_CASE("two mappings of one physical allocation share its bytes", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address first = host->reserve_address_range(granule, 0, 0);
  const address second = host->reserve_address_range(granule, 0, 0);
  host->map(first, granule, 0, handle);
  host->map(second, granule, 0, handle);
  host->set_access(first, granule, read_write);
  host->set_access(second, granule, read_write);

  pointer(first)[1234] = std::byte{42};
  CHECK(pointer(second)[1234] == std::byte{42});

  host->unmap(first, granule);
  host->unmap(second, granule);
  host->free_address_range(first, granule);
  host->free_address_range(second, granule);
  host->release(handle);
}

TEST_CASE("memory stays usable after release while it is still mapped", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);
  host->map(base, granule, 0, handle);
  host->set_access(base, granule, read_write);
  host->fill(base, 0x77, granule);

  host->release(handle);

  CHECK(pointer(base)[granule - 1] == std::byte{0x77});
  pointer(base)[0] = std::byte{0x11};
  CHECK(pointer(base)[0] == std::byte{0x11});
  host->unmap(base, granule);
  host->free_address_range(base, granule);
}

TEST_CASE("a fresh mapping has no access", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);
  host->map(base, granule, 0, handle);

  CHECK(host->get_access(base, 0) == access_mode::none);
  CHECK(signal_that_ended_child([&] {
          [[maybe_unused]] volatile std::byte value = *reinterpret_cast<volatile std::byte*>(base);
        }) == SIGSEGV);

  host->unmap(base, granule);
  host->free_address_range(base, granule);
  host->release(handle);
}

TEST_CASE("writing through read-only access faults and reading does not", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);
  host->map(base, granule, 0, handle);
  host->set_access(base, granule, read_only);

  CHECK(host->get_access(base, 0) == access_mode::read);
  CHECK(pointer(base)[100] == std::byte{0});
  CHECK(signal_that_ended_child(
            [&] { *reinterpret_cast<volatile std::byte*>(base + 100) = std::byte{1}; }) == SIGSEGV);

  host->unmap(base, granule);
  host->free_address_range(base, granule);
  host->release(handle);
}

TEST_CASE("a remapped range has no access until it is granted again", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);
  host->map(base, granule, 0, handle);
  host->set_access(base, granule, read_write);
  host->unmap(base, granule);

  host->map(base, granule, 0, handle);
  CHECK(host->get_access(base, 0) == access_mode::none);

  host->unmap(base, granule);
  host->free_address_range(base, granule);
  host->release(handle);
}

TEST_CASE("a reservation honours an alignment larger than the granularity", "[host_backend]") {
  const auto host = make_test_host_backend();
  constexpr std::size_t alignment = std::size_t{64} << 20;
  std::vector<address> bases;
  for (int i = 0; i < 8; ++i) {
    bases.push_back(host->reserve_address_range(granule, alignment, 0));
    CHECK(bases.back() % alignment == 0);
  }
  for (const address base : bases) host->free_address_range(base, granule);
}

TEST_CASE("a reservation gets the hinted address when it is free", "[host_backend]") {
  const auto host = make_test_host_backend();
  const address free_address = host->reserve_address_range(4 * granule, 0, 0);
  host->free_address_range(free_address, 4 * granule);

  const address base = host->reserve_address_range(2 * granule, 0, free_address + granule);
  CHECK(base == free_address + granule);
  host->free_address_range(base, 2 * granule);
}

TEST_CASE("a reservation gets another address when the hinted one is taken", "[host_backend]") {
  const auto host = make_test_host_backend();
  const address taken = host->reserve_address_range(2 * granule, 0, 0);

  const address other = host->reserve_address_range(2 * granule, 0, taken);
  CHECK(other != taken);
  CHECK(other % granule == 0);
  CHECK((other + 2 * granule <= taken || other >= taken + 2 * granule));

  host->free_address_range(other, 2 * granule);
  host->free_address_range(taken, 2 * granule);
}

TEST_CASE("a hint or alignment the driver would refuse is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const address base = host->reserve_address_range(granule, 0, 0);
  host->free_address_range(base, granule);

  require_refused([&] { host->reserve_address_range(granule, 0, base + 4096); },
                  "is not a multiple of the alignment");
  require_refused([&] { host->reserve_address_range(granule, 3 * granule, 0); },
                  "is not a power of two");
  require_usable(*host);
}

TEST_CASE("sizes of 0 are refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  require_refused([&] { host->create(0, {}); }, "size is 0");
  require_refused([&] { host->reserve_address_range(0, 0, 0); }, "size is 0");
  require_usable(*host);
}

TEST_CASE("sizes that are not multiples of the granularity are refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const std::string rule = "is not a multiple of the granularity (2 MiB)";
  require_refused([&] { host->create(granule + 4096, {}); }, rule);
  require_refused([&] { host->reserve_address_range(granule / 2, 0, 0); }, rule);

  const mapped_range range = map_granules(*host, 2);
  require_refused([&] { host->unmap(range.base, granule / 2); }, rule);
  require_refused([&] { host->set_access(range.base, granule / 2, read_write); }, rule);
  unmap_and_free(*host, range);
  require_usable(*host);
}

TEST_CASE("map at an address that is not a multiple of the granularity is refused",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);

  require_refused([&] { host->map(base + 4096, granule, 0, handle); },
                  "is not a multiple of the granularity");

  host->free_address_range(base, 2 * granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("map outside any reservation is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);

  // Hanging over the reservation's end.
  require_refused([&] { host->map(base, 2 * granule, 0, handle); },
                  "not inside reserved address space");
  host->free_address_range(base, granule);
  // Where nothing is reserved any more.
  require_refused([&] { host->map(base, 2 * granule, 0, handle); },
                  "not inside reserved address space");

  host->release(handle);
  require_usable(*host);
}

TEST_CASE("map over an existing mapping is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 2);
  const physical_handle other = host->create(granule, {});

  require_refused([&] { host->map(range.base + granule, granule, 0, other); },
                  "overlaps an existing mapping");

  host->release(other);
  unmap_and_free(*host, range);
  require_usable(*host);
}

TEST_CASE("map of part of an allocation is refused, as the CUDA driver does", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);

  require_refused([&] { host->map(base, granule, 0, handle); },
                  "only whole allocations can be mapped", "ENOTSUP");
  require_refused([&] { host->map(base, granule, granule, handle); },
                  "only whole allocations can be mapped", "ENOTSUP");

  host->free_address_range(base, 2 * granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("with partial mappings allowed, a mapping at an offset shows that part of the allocation",
          "[host_backend]") {
  const auto host = make_host_backend({.granularity = granule, .allow_partial_mappings = true});
  const physical_handle handle = host->create(2 * granule, {});
  const address whole = host->reserve_address_range(2 * granule, 0, 0);
  const address second_half = host->reserve_address_range(granule, 0, 0);
  host->map(whole, 2 * granule, 0, handle);
  host->map(second_half, granule, granule, handle);
  host->set_access(whole, 2 * granule, read_write);
  host->set_access(second_half, granule, read_write);

  pointer(whole)[granule + 5] = std::byte{9};
  CHECK(pointer(second_half)[5] == std::byte{9});

  host->unmap(whole, 2 * granule);
  host->unmap(second_half, granule);
  host->free_address_range(whole, 2 * granule);
  host->free_address_range(second_half, granule);
  host->release(handle);
}

TEST_CASE("with partial mappings allowed, map past the end of the allocation is refused",
          "[host_backend]") {
  const auto host = make_host_backend({.granularity = granule, .allow_partial_mappings = true});
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);

  require_refused([&] { host->map(base, 2 * granule, granule, handle); },
                  "runs past the end of the 4 MiB allocation");
  require_refused([&] { host->map(base, granule, 4096, handle); },
                  "offset 4 KiB is not a multiple of the granularity");

  host->free_address_range(base, 2 * granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("map may span adjacent reservations, which then cannot be freed", "[host_backend]") {
  const auto host = make_test_host_backend();
  // Two reservations side by side, the way a grow in place asks for them.
  const address free_space = host->reserve_address_range(2 * granule, 0, 0);
  host->free_address_range(free_space, 2 * granule);
  const address first = host->reserve_address_range(granule, 0, free_space);
  const address second = host->reserve_address_range(granule, 0, free_space + granule);
  REQUIRE(first == free_space);
  REQUIRE(second == free_space + granule);
  const physical_handle handle = host->create(2 * granule, {});

  host->map(first, 2 * granule, 0, handle);
  require_refused([&] { host->free_address_range(second, granule); }, "still contains mappings");
  require_refused([&] { host->free_address_range(first, 2 * granule); },
                  "not exactly one reservation");

  host->unmap(first, 2 * granule);
  host->free_address_range(first, granule);
  host->free_address_range(second, granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("unmap of part of a mapping is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);
  host->map(base, 2 * granule, 0, handle);

  require_refused([&] { host->unmap(base, granule); }, "ends inside a mapping");
  require_refused([&] { host->unmap(base + granule, granule); }, "starts inside a mapping");

  host->unmap(base, 2 * granule);
  host->free_address_range(base, 2 * granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("unmap may cover several adjacent mappings at once", "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 3);

  host->unmap(range.base, 3 * granule);

  // Unmapped for real: the space takes a new mapping.
  host->map(range.base + granule, granule, 0, range.handles[0]);
  host->unmap(range.base + granule, granule);
  host->free_address_range(range.base, range.size);
  for (const physical_handle handle : range.handles) host->release(handle);
}

TEST_CASE("unmap of a range with a gap is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 3);
  host->unmap(range.base + granule, granule);

  require_refused([&] { host->unmap(range.base, 3 * granule); }, "not fully mapped");
  require_refused([&] { host->unmap(range.base + granule, granule); }, "is not mapped");

  host->unmap(range.base, granule);
  host->unmap(range.base + 2 * granule, granule);
  host->free_address_range(range.base, range.size);
  for (const physical_handle handle : range.handles) host->release(handle);
  require_usable(*host);
}

TEST_CASE("set_access on a range that is not fully mapped is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 3);
  host->unmap(range.base + 2 * granule, granule);

  require_refused([&] { host->set_access(range.base, 3 * granule, read_write); },
                  "not fully mapped");
  require_refused([&] { host->set_access(range.base + 2 * granule, granule, read_write); },
                  "is not mapped");
  // Two adjacent mappings are one fully mapped range.
  host->set_access(range.base, 2 * granule, read_write);

  host->unmap(range.base, 2 * granule);
  host->free_address_range(range.base, range.size);
  for (const physical_handle handle : range.handles) host->release(handle);
  require_usable(*host);
}

TEST_CASE("set_access on part of a mapping is refused, as the CUDA driver does", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(2 * granule, {});
  const address base = host->reserve_address_range(2 * granule, 0, 0);
  host->map(base, 2 * granule, 0, handle);

  require_refused([&] { host->set_access(base, granule, read_write); }, "ends inside a mapping");
  CHECK(host->get_access(base, 0) == access_mode::none);

  host->unmap(base, 2 * granule);
  host->free_address_range(base, 2 * granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("devices other than 0 do not exist", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  const address base = host->reserve_address_range(granule, 0, 0);
  host->map(base, granule, 0, handle);

  const std::array<access_grant, 1> device_one = {access_grant{1, access_mode::read_write}};
  require_refused([&] { host->set_access(base, granule, device_one); }, "no such device");
  require_refused([&] { host->get_access(base, 1); }, "no such device");
  require_refused([&] { host->create(granule, {.location = memory_location::on_device(1)}); },
                  "no such device", "ENODEV");
  CHECK_THROWS_AS(host->attributes(1), vmm_pmr::invalid_argument);
  CHECK(host->device_count() == 1);

  host->unmap(base, granule);
  host->free_address_range(base, granule);
  host->release(handle);
  require_usable(*host);
}

TEST_CASE("free_address_range of anything but exactly one reservation is refused",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const address base = host->reserve_address_range(4 * granule, 0, 0);

  require_refused([&] { host->free_address_range(base, 2 * granule); },
                  "not exactly one reservation");
  require_refused([&] { host->free_address_range(base + 2 * granule, 2 * granule); },
                  "not exactly one reservation");
  require_refused([&] { host->free_address_range(base, 8 * granule); },
                  "not exactly one reservation");

  host->free_address_range(base, 4 * granule);
  require_refused([&] { host->free_address_range(base, 4 * granule); },
                  "not exactly one reservation");
  require_usable(*host);
}

TEST_CASE("free_address_range of a reservation that still contains mappings is refused",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 2);
  host->unmap(range.base, granule);

  require_refused([&] { host->free_address_range(range.base, range.size); },
                  "still contains mappings");

  host->unmap(range.base + granule, granule);
  host->free_address_range(range.base, range.size);
  for (const physical_handle handle : range.handles) host->release(handle);
  require_usable(*host);
}

TEST_CASE("release of an unknown or released handle is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});
  host->release(handle);

  require_refused([&] { host->release(handle); }, "not a live physical allocation");
  require_refused([&] { host->release(123456); }, "not a live physical allocation");
  require_refused([&] { host->properties_of(handle); }, "not a live physical allocation");
  require_usable(*host);
}

TEST_CASE("create beyond the capacity throws out_of_memory naming the size and the capacity",
          "[host_backend]") {
  const auto host = make_test_host_backend(granule, std::size_t{2} << 30);
  const physical_handle handle = host->create(std::size_t{1} << 30, {});
  const std::size_t fds_before = open_fd_count();

  CHECK_THROWS_MATCHES(host->create(std::size_t{3} << 30, {}), out_of_memory,
                       Catch::Matchers::Message("host backend: cannot create 3 GiB of physical "
                                                "memory: 1 GiB of 2 GiB capacity in use"));
  CHECK_THROWS_AS(host->create(std::size_t{1} << 30 | granule, {}), out_of_memory);
  CHECK(open_fd_count() == fds_before);

  host->release(handle);
}

TEST_CASE("capacity is free again after release", "[host_backend]") {
  const auto host = make_test_host_backend(granule, 2 * granule);
  const physical_handle first = host->create(2 * granule, {});
  CHECK_THROWS_AS(host->create(granule, {}), out_of_memory);

  host->release(first);

  const physical_handle second = host->create(2 * granule, {});
  host->release(second);
}

TEST_CASE("export and import give the same bytes and leak no fd", "[host_backend]") {
  const auto host = make_test_host_backend();
  const std::size_t fds_before = open_fd_count();
  {
    const physical_handle exported_from = host->create(granule, shareable_properties());
    const address writer = host->reserve_address_range(granule, 0, 0);
    host->map(writer, granule, 0, exported_from);
    host->set_access(writer, granule, read_write);

    const shareable_handle shared = host->export_handle(exported_from, handle_types::posix_fd);
    REQUIRE(shared.type == handle_types::posix_fd);
    const physical_handle imported = host->import_handle(shared);
    close(shared.fd);
    const address reader = host->reserve_address_range(granule, 0, 0);
    host->map(reader, granule, 0, imported);
    host->set_access(reader, granule, read_write);

    pointer(writer)[4321] = std::byte{0xab};
    CHECK(pointer(reader)[4321] == std::byte{0xab});

    host->unmap(reader, granule);
    host->unmap(writer, granule);
    host->free_address_range(reader, granule);
    host->free_address_range(writer, granule);
    host->release(imported);
    host->release(exported_from);
  }
  CHECK(open_fd_count() == fds_before);
}

TEST_CASE("an imported allocation reports shareable device memory of the exported size",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle original = host->create(2 * granule, shareable_properties());
  const shareable_handle shared = host->export_handle(original, handle_types::posix_fd);
  const physical_handle imported = host->import_handle(shared);
  close(shared.fd);

  CHECK(host->properties_of(imported) == shareable_properties());
  // Its size is the exported one: a whole mapping of 2 granules is accepted.
  const address base = host->reserve_address_range(2 * granule, 0, 0);
  host->map(base, 2 * granule, 0, imported);

  host->unmap(base, 2 * granule);
  host->free_address_range(base, 2 * granule);
  host->release(imported);
  host->release(original);
}

TEST_CASE("import of a closed or non-memory fd is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const std::size_t fds_before = open_fd_count();
  std::array<int, 2> pipe_ends{};
  REQUIRE(pipe(pipe_ends.data()) == 0);
  close(pipe_ends[1]);

  require_refused(
      [&] { host->import_handle({.type = handle_types::posix_fd, .fd = pipe_ends[0]}); },
      "not a memory file");
  close(pipe_ends[0]);
  require_refused(
      [&] { host->import_handle({.type = handle_types::posix_fd, .fd = pipe_ends[0]}); },
      "Bad file descriptor", "EBADF");
  require_refused([&] { host->import_handle({.type = handle_types::posix_fd, .fd = -1}); },
                  "Bad file descriptor", "EBADF");

  CHECK(open_fd_count() == fds_before);
  require_usable(*host);
}

TEST_CASE("export of an allocation not created shareable is refused", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, {});

  require_refused([&] { host->export_handle(handle, handle_types::posix_fd); },
                  "not created shareable");

  host->release(handle);
  require_usable(*host);
}

TEST_CASE("fabric handles are unsupported", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_handle handle = host->create(granule, shareable_properties());

  CHECK_THROWS_AS(host->export_handle(handle, handle_types::fabric), unsupported_error);
  CHECK_THROWS_AS(host->import_handle({.type = handle_types::fabric}), unsupported_error);
  CHECK_THROWS_AS(host->create(granule, {.shareable = handle_types::fabric}), unsupported_error);

  host->release(handle);
}

TEST_CASE("host NUMA locations are unsupported", "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_properties numa{.location = memory_location::on_host_numa(0)};
  const physical_properties numa_current{.location = memory_location::on_host_numa_current()};

  CHECK_THROWS_MATCHES(host->create(granule, numa), unsupported_error,
                       Catch::Matchers::MessageMatches(ContainsSubstring("host NUMA node 0")));
  CHECK_THROWS_AS(host->granularity(numa, granularity_kind::minimum), unsupported_error);
  CHECK_THROWS_AS(host->create(granule, numa_current), unsupported_error);
}

TEST_CASE("host-location memory serves like device memory but cannot be shareable",
          "[host_backend]") {
  const auto host = make_test_host_backend();
  const physical_properties on_host{.location = memory_location::on_host()};
  const physical_handle handle = host->create(granule, on_host);
  CHECK(host->properties_of(handle) == on_host);

  require_refused(
      [&] {
        host->create(granule,
                     {.location = memory_location::on_host(), .shareable = handle_types::posix_fd});
      },
      "host-location allocations cannot carry shareable handle types");

  host->release(handle);
}

TEST_CASE("properties_of returns what create was given, without compression", "[host_backend]") {
  const auto host = make_test_host_backend();
  physical_properties asked = shareable_properties();
  asked.compressible = true;
  const physical_handle handle = host->create(granule, asked);

  physical_properties granted = asked;
  granted.compressible = false;
  CHECK(host->properties_of(handle) == granted);

  host->release(handle);
}

TEST_CASE("granularity is the page size by default and the option when set", "[host_backend]") {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  CHECK(make_host_backend()->granularity({}, granularity_kind::minimum) == page);
  const auto host = make_test_host_backend(std::size_t{4} << 20);
  CHECK(host->granularity({}, granularity_kind::minimum) == (std::size_t{4} << 20));
  CHECK(host->granularity({}, granularity_kind::recommended) == (std::size_t{4} << 20));
}

TEST_CASE("a granularity that is not a power-of-two multiple of the page size is refused",
          "[host_backend]") {
  CHECK_THROWS_AS(make_host_backend({.granularity = 1000}), vmm_pmr::invalid_argument);
  CHECK_THROWS_AS(make_host_backend({.granularity = 3 * 4096}), vmm_pmr::invalid_argument);
  CHECK_NOTHROW(make_host_backend({.granularity = 2 * 4096}));
}

TEST_CASE("attributes describe one host device of the backend's capacity", "[host_backend]") {
  const auto host = make_test_host_backend(granule, std::size_t{8} << 30);
  const device_attributes attributes = host->attributes(0);

  CHECK(host->name() == "host");
  CHECK_THAT(host->version(), Catch::Matchers::StartsWith("Linux "));
  CHECK(attributes.name == "host (memfd)");
  CHECK(attributes.total_memory == (std::size_t{8} << 30));
  CHECK(attributes.vmm);
  CHECK(attributes.posix_fd_handles);
  CHECK(attributes.host_location_vmm);
  CHECK_FALSE(attributes.fabric_handles);
  CHECK_FALSE(attributes.gpu_direct_rdma_with_vmm);
  CHECK_FALSE(attributes.generic_compression);
  CHECK_FALSE(attributes.host_numa_location_vmm);
}

TEST_CASE("the default capacity is the machine's physical memory", "[host_backend]") {
  const auto physical = static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
                        static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  CHECK(make_host_backend()->attributes(0).total_memory == physical);
}

TEST_CASE("copy and fill move bytes between mappings", "[host_backend]") {
  const auto host = make_test_host_backend();
  const mapped_range range = map_granules(*host, 2);
  host->set_access(range.base, range.size, read_write);

  host->fill(range.base, 0x3c, granule);
  host->copy(range.base + granule, range.base, granule);

  std::array<std::uint8_t, 2> ends{};
  host->copy_to_host(&ends[0], range.base + granule, 1);
  host->copy_to_host(&ends[1], range.base + 2 * granule - 1, 1);
  CHECK(ends == std::array<std::uint8_t, 2>{0x3c, 0x3c});
  unmap_and_free(*host, range);
}

TEST_CASE("concurrent cycles on many threads leave no fd or range behind", "[host_backend]") {
  const auto host = make_test_host_backend();
  const std::size_t fds_before = open_fd_count();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&host, t] {
      for (int i = 0; i < 50; ++i) {
        const physical_handle handle = host->create(granule, {});
        const address base = host->reserve_address_range(2 * granule, 0, 0);
        host->map(base + granule, granule, 0, handle);
        host->set_access(base + granule, granule, read_write);
        pointer(base + granule)[i] = std::byte(t);
        host->unmap(base + granule, granule);
        host->free_address_range(base, 2 * granule);
        host->release(handle);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(open_fd_count() == fds_before);
  require_usable(*host);
}
