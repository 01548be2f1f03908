// The CUDA backend against a real driver and GPU, and its report when there is none.
//
// Exactly one half runs on any machine: without a VMM-capable GPU the first case checks
// the explanation and every GPU case SKIPs with it; with one, the first case SKIPs. GPU
// cases clean up through small RAII holders, so a failed REQUIRE leaks nothing into the
// cases after it.
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"

namespace {

using namespace vmm_pmr;
using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::require_cuda_backend;
using vmm_pmr::test::two_mib;

constexpr std::array<access_grant, 1> device_0_read_write = {
    access_grant{0, access_mode::read_write}};

// One physical allocation (created or imported), released on scope exit.
class physical {
 public:
  physical(backend& gpu, physical_handle handle) : gpu_(gpu), handle_(handle) {}
  ~physical() { gpu_.release(handle_); }
  physical(const physical&) = delete;
  physical& operator=(const physical&) = delete;

  physical_handle handle() const { return handle_; }

 private:
  backend& gpu_;
  physical_handle handle_;
};

// A reservation with `memory` mapped at its start and `access` granted; undone on exit.
class mapped_range {
 public:
  mapped_range(backend& gpu, const physical& memory, std::size_t size,
               std::span<const access_grant> access = device_0_read_write)
      : gpu_(gpu), size_(size), base_(gpu.reserve_address_range(size, 0, 0)) {
    try {
      gpu_.map(base_, size_, 0, memory.handle());
      mapped_ = true;
      gpu_.set_access(base_, size_, access);
    } catch (...) {
      undo();
      throw;
    }
  }
  ~mapped_range() { undo(); }
  mapped_range(const mapped_range&) = delete;
  mapped_range& operator=(const mapped_range&) = delete;

  address base() const { return base_; }

 private:
  void undo() {
    if (mapped_) gpu_.unmap(base_, size_);
    gpu_.free_address_range(base_, size_);
  }

  backend& gpu_;
  std::size_t size_;
  address base_;
  bool mapped_ = false;
};

// An address range alone, freed on scope exit.
class reservation {
 public:
  reservation(backend& gpu, std::size_t size)
      : gpu_(gpu), size_(size), base_(gpu.reserve_address_range(size, 0, 0)) {}
  ~reservation() { gpu_.free_address_range(base_, size_); }
  reservation(const reservation&) = delete;
  reservation& operator=(const reservation&) = delete;

  address base() const { return base_; }

 private:
  backend& gpu_;
  std::size_t size_;
  address base_;
};

// The driver_error that map() throws, or nullopt (after undoing it) if the map succeeded.
std::optional<driver_error> refused_map(backend& gpu, address at, std::size_t size,
                                        const physical& memory) {
  try {
    gpu.map(at, size, 0, memory.handle());
  } catch (const driver_error& refused) {
    return refused;
  }
  gpu.unmap(at, size);
  return std::nullopt;
}

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> values(bytes);
  std::iota(values.begin(), values.end(), seed);
  return values;
}

std::vector<std::uint8_t> read_back(backend& gpu, address from, std::size_t bytes) {
  std::vector<std::uint8_t> values(bytes);
  gpu.copy_to_host(values.data(), from, bytes);
  return values;
}

TEST_CASE("without a usable GPU, cuda_available says why and cuda_backend throws it",
          "[cuda_backend]") {
  const cuda_availability status = cuda_available();
  if (status.available) SKIP("a VMM-capable GPU is present");

  REQUIRE_FALSE(status.reason.empty());
  const bool names_the_cause =
      status.reason.find("libcuda") != std::string::npos ||
      status.reason.find("driver") != std::string::npos ||
      status.reason.find("cuInit") != std::string::npos ||
      status.reason.find("virtual memory management") != std::string::npos ||
      status.reason.find("without CUDA support") != std::string::npos;
  CHECK(names_the_cause);
  CHECK_THROWS_MATCHES(cuda_backend(), unavailable_error, Catch::Matchers::Message(status.reason));
}

TEST_CASE("the CUDA backend names itself and the driver version", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  CHECK(gpu->name() == "cuda");
  CHECK_THAT(gpu->version(), Catch::Matchers::StartsWith("CUDA driver "));
  CHECK(gpu->device_count() >= 1);
  CHECK(cuda_backend() == gpu);
}

TEST_CASE("device 0 reports VMM, POSIX fd handles, a name and its memory", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const device_attributes device = gpu->attributes(0);
  CHECK(device.ordinal == 0);
  CHECK_FALSE(device.name.empty());
  CHECK(device.total_memory >= (std::size_t{1} << 30));
  CHECK(device.vmm);
  CHECK(device.posix_fd_handles);
  CHECK(device.host_numa_id >= -1);
}

TEST_CASE("an invalid device ordinal is an invalid_argument naming it", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const int beyond = gpu->device_count();
  CHECK_THROWS_MATCHES(
      gpu->attributes(beyond), vmm_pmr::invalid_argument,
      Catch::Matchers::MessageMatches(ContainsSubstring("ordinal " + std::to_string(beyond))));
  CHECK_THROWS_AS(gpu->attributes(-1), vmm_pmr::invalid_argument);
  CHECK_THROWS_AS(gpu->create(two_mib, {.location = memory_location::on_device(beyond)}),
                  vmm_pmr::invalid_argument);
}

TEST_CASE("device memory has a power-of-two granularity of at least 2 MiB", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const std::size_t minimum = gpu->granularity({}, granularity_kind::minimum);
  const std::size_t recommended = gpu->granularity({}, granularity_kind::recommended);
  CHECK(minimum >= two_mib);
  CHECK(is_power_of_two(minimum));
  CHECK(recommended % minimum == 0);
}

TEST_CASE("device memory goes through create, reserve, map, access, copy and back",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const std::size_t size = 2 * two_mib;
  const std::vector<std::uint8_t> written = pattern(size, 7);

  const physical_handle handle = gpu->create(size, {});
  const address base = gpu->reserve_address_range(2 * size, 0, 0);
  gpu->map(base, size, 0, handle);
  gpu->set_access(base, size, device_0_read_write);
  gpu->copy_from_host(base, written.data(), size);
  const std::vector<std::uint8_t> read = read_back(*gpu, base, size);
  gpu->unmap(base, size);
  gpu->free_address_range(base, 2 * size);
  gpu->release(handle);

  CHECK(read == written);
}

TEST_CASE("properties_of reports what create asked for", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical_properties asked{.shareable = handle_types::posix_fd};
  const physical memory(*gpu, gpu->create(two_mib, asked));
  CHECK(gpu->properties_of(memory.handle()) == asked);
}

TEST_CASE("a fresh mapping grants no access and set_access grants read_write", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical memory(*gpu, gpu->create(two_mib, {}));
  const mapped_range range(*gpu, memory, two_mib, {});
  CHECK(gpu->get_access(range.base(), 0) == access_mode::none);
  gpu->set_access(range.base(), two_mib, device_0_read_write);
  CHECK(gpu->get_access(range.base(), 0) == access_mode::read_write);
}

TEST_CASE("device-to-device copy and fill land before they return", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical memory(*gpu, gpu->create(two_mib, {}));
  const mapped_range range(*gpu, memory, two_mib);
  const std::size_t half = two_mib / 2;
  const std::vector<std::uint8_t> written = pattern(half, 3);

  gpu->copy_from_host(range.base(), written.data(), half);
  gpu->copy(range.base() + half, range.base(), half);
  CHECK(read_back(*gpu, range.base() + half, half) == written);

  gpu->fill(range.base(), 0xa5, half);
  CHECK(read_back(*gpu, range.base(), half) == std::vector<std::uint8_t>(half, 0xa5));
}

TEST_CASE("host-located memory is reachable from device 0 and copies both ways", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  if (!gpu->attributes(0).host_location_vmm) SKIP("device 0 does not support host-located VMM");
  const physical_properties on_host{.location = memory_location::on_host()};
  const std::size_t size = gpu->granularity(on_host, granularity_kind::minimum);
  const physical memory(*gpu, gpu->create(size, on_host));
  const mapped_range range(*gpu, memory, size);
  const std::vector<std::uint8_t> written = pattern(size, 11);

  gpu->copy_from_host(range.base(), written.data(), size);
  CHECK(read_back(*gpu, range.base(), size) == written);
  CHECK(gpu->get_access(range.base(), 0) == access_mode::read_write);
}

TEST_CASE("host memory on the calling thread's NUMA node is created on a concrete node",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  if (!gpu->attributes(0).host_numa_location_vmm) SKIP("device 0 does not support host-NUMA VMM");
  const physical_properties current_node{.location = memory_location::on_host_numa_current()};
  const std::size_t size = gpu->granularity(current_node, granularity_kind::minimum);
  const physical memory(*gpu, gpu->create(size, current_node));
  CHECK(gpu->properties_of(memory.handle()).location.kind == location_kind::host_numa);
}

TEST_CASE("a thread without a current context can copy", "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical memory(*gpu, gpu->create(two_mib, {}));
  const mapped_range range(*gpu, memory, two_mib);
  const std::vector<std::uint8_t> written = pattern(4096, 5);
  std::vector<std::uint8_t> read;
  std::thread([&] {
    gpu->copy_from_host(range.base(), written.data(), written.size());
    read = read_back(*gpu, range.base(), written.size());
  }).join();
  CHECK(read == written);
}

TEST_CASE("the host, as device -1, can be granted access to host-located memory",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  if (!gpu->attributes(0).host_location_vmm) SKIP("device 0 does not support host-located VMM");
  const physical_properties on_host{.location = memory_location::on_host()};
  const std::size_t size = gpu->granularity(on_host, granularity_kind::minimum);
  const physical memory(*gpu, gpu->create(size, on_host));
  const std::array<access_grant, 2> device_and_host = {access_grant{0, access_mode::read_write},
                                                       access_grant{-1, access_mode::read_write}};
  const mapped_range range(*gpu, memory, size, device_and_host);
  CHECK(gpu->get_access(range.base(), -1) == access_mode::read_write);

  auto* bytes = reinterpret_cast<std::uint8_t*>(range.base());
  bytes[0] = 42;
  gpu->fill(range.base() + 1, 43, 1);
  CHECK(bytes[0] == 42);
  CHECK(bytes[1] == 43);
}

TEST_CASE("creating more memory than the device has is out_of_memory naming the size",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const std::size_t one_tib = std::size_t{1} << 40;
  CHECK_THROWS_MATCHES(gpu->create(one_tib, {}), vmm_pmr::out_of_memory,
                       Catch::Matchers::MessageMatches(ContainsSubstring("cuMemCreate") &&
                                                       ContainsSubstring(format_bytes(one_tib)) &&
                                                       ContainsSubstring("device 0")));
}

TEST_CASE("mapping at an address off the granularity is CUDA_ERROR_INVALID_VALUE",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical memory(*gpu, gpu->create(two_mib, {}));
  const reservation range(*gpu, 2 * two_mib);
  const address misaligned = range.base() + two_mib / 2;

  const std::optional<driver_error> refusal = refused_map(*gpu, misaligned, two_mib, memory);
  REQUIRE(refusal);
  CHECK(refusal->result_name() == "CUDA_ERROR_INVALID_VALUE");
  CHECK_THAT(refusal->call(),
             ContainsSubstring("cuMemMap") && ContainsSubstring(fmt::format("{:#x}", misaligned)));
}

// Driver 580 maps whole allocations only: a size that is not the allocation's, even a
// granularity multiple, and any nonzero offset are CUDA_ERROR_NOT_SUPPORTED.
TEST_CASE("mapping a size other than the whole allocation is CUDA_ERROR_NOT_SUPPORTED",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical memory(*gpu, gpu->create(2 * two_mib, {}));
  const reservation range(*gpu, 4 * two_mib);
  const std::size_t misaligned = two_mib + two_mib / 2;

  const std::optional<driver_error> refusal = refused_map(*gpu, range.base(), misaligned, memory);
  REQUIRE(refusal);
  CHECK(refusal->result_name() == "CUDA_ERROR_NOT_SUPPORTED");
  CHECK_THAT(refusal->call(),
             ContainsSubstring("cuMemMap") && ContainsSubstring(format_bytes(misaligned)));
  const std::optional<driver_error> partial = refused_map(*gpu, range.base(), two_mib, memory);
  REQUIRE(partial);
  CHECK(partial->result_name() == "CUDA_ERROR_NOT_SUPPORTED");
}

TEST_CASE("memory exported as a POSIX fd and imported again shows the same bytes",
          "[cuda_backend]") {
  const auto gpu = require_cuda_backend();
  const physical exported(*gpu, gpu->create(two_mib, {.shareable = handle_types::posix_fd}));
  const mapped_range original(*gpu, exported, two_mib);
  const std::vector<std::uint8_t> written = pattern(two_mib, 29);
  gpu->copy_from_host(original.base(), written.data(), two_mib);

  const shareable_handle shared = gpu->export_handle(exported.handle(), handle_types::posix_fd);
  REQUIRE(shared.type == handle_types::posix_fd);
  REQUIRE(shared.fd >= 0);
  const physical imported(*gpu, gpu->import_handle(shared));
  ::close(shared.fd);
  const mapped_range second_view(*gpu, imported, two_mib);

  CHECK(read_back(*gpu, second_view.base(), two_mib) == written);
}

}  // namespace
