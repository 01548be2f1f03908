// Access after creation: set_access grants and revokes read_write / read / none per
// device in one backend call per contiguous range; access() asks the backend. On the
// host backend a forbidden access really faults (checked in forked children); on the
// GPU the queries are checked here and a faulting kernel in ipc_process_test.cpp.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>

#include <cstring>
#include <memory>

#include "support/backends_under_test.hpp"
#include "support/child_process.hpp"
#include "support/ipc_fixtures.hpp"
#include "support/ipc_peer_process.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::access_grant;
using vmm_pmr::access_mode;
using vmm_pmr::test::make_pattern;
using vmm_pmr::test::read_bytes;
using vmm_pmr::test::run_in_forked_child;
using vmm_pmr::test::two_mib;
using vmm_pmr::test::write_bytes;
using vmm_pmr::testing::backend_call;

namespace {

void store_one_byte(void* at) { *static_cast<volatile unsigned char*>(at) = 1; }

void load_one_byte(const void* at) {
  const unsigned char value = *static_cast<const volatile unsigned char*>(at);
  (void)value;
}

}  // namespace

BACKEND_TEST_CASE("a new allocation has its resource's access, asked by base or interior pointer",
                  "[access]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  auto* memory = static_cast<char*>(resource.allocate(3 * two_mib));
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  CHECK(resource.access(memory + 2 * two_mib + 5, 0) == access_mode::read_write);
  // The CPU is never granted device memory; the answer needs no driver call.
  CHECK(resource.access(memory, access_grant::host_cpu) == access_mode::none);
  resource.deallocate(memory, 3 * two_mib);
}

BACKEND_TEST_CASE("read makes an allocation read-only, none revokes it, read_write restores it",
                  "[access]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  constexpr std::size_t bytes = 2 * two_mib;
  void* memory = resource.allocate(bytes);
  write_bytes(*faults, memory, make_pattern(bytes, 1));

  const access_grant read_only[] = {{0, access_mode::read}};
  const std::size_t calls = faults->calls(backend_call::set_access);
  resource.set_access(memory, read_only);
  CHECK(faults->calls(backend_call::set_access) == calls + 1);  // one range, one call
  CHECK(resource.access(memory, 0) == access_mode::read);
  CHECK(read_bytes(*faults, memory, bytes) == make_pattern(bytes, 1));
  if constexpr (!TestType::is_gpu) {
    CHECK(run_in_forked_child([&] { store_one_byte(memory); }).signal == SIGSEGV);
    CHECK(run_in_forked_child([&] { load_one_byte(memory); }).exit_code == 0);
  }

  const access_grant revoked[] = {{0, access_mode::none}};
  resource.set_access(memory, revoked);
  CHECK(resource.access(memory, 0) == access_mode::none);
  if constexpr (!TestType::is_gpu) {
    CHECK(run_in_forked_child([&] { load_one_byte(memory); }).signal == SIGSEGV);
  }

  const access_grant read_write[] = {{0, access_mode::read_write}};
  resource.set_access(memory, read_write);
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  CHECK(read_bytes(*faults, memory, bytes) == make_pattern(bytes, 1));  // nothing was lost
  write_bytes(*faults, memory, make_pattern(bytes, 2));
  CHECK(read_bytes(*faults, memory, bytes) == make_pattern(bytes, 2));
  resource.deallocate(memory, bytes);
}

BACKEND_TEST_CASE("set_access refuses bad devices and bad pointers and changes nothing",
                  "[access]") {
  auto driver = TestType::make();
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(driver);
  vmm_pmr::vmm_resource resource(faults);
  vmm_pmr::vmm_resource other(driver);
  auto* memory = static_cast<char*>(resource.allocate(two_mib));
  void* theirs = other.allocate(two_mib);
  const int devices = driver->device_count();
  const std::size_t calls = faults->calls(backend_call::set_access);

  const access_grant beyond[] = {{devices, access_mode::read}};
  CHECK_THROWS_MATCHES(
      resource.set_access(memory, beyond), vmm_pmr::invalid_argument,
      MessageMatches(ContainsSubstring("device " + std::to_string(devices) + " does not exist")));
  const access_grant negative[] = {{-2, access_mode::read}};
  CHECK_THROWS_AS(resource.set_access(memory, negative), vmm_pmr::invalid_argument);
  const access_grant twice[] = {{0, access_mode::read}, {0, access_mode::read_write}};
  CHECK_THROWS_MATCHES(resource.set_access(memory, twice), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("device 0 is named twice")));
  const access_grant host_twice[] = {{access_grant::host_cpu, access_mode::read},
                                     {access_grant::host_cpu, access_mode::read}};
  CHECK_THROWS_WITH(resource.set_access(memory, host_twice),
                    ContainsSubstring("the host CPU is named twice"));
  const access_grant cpu[] = {{access_grant::host_cpu, access_mode::read}};
  CHECK_THROWS_MATCHES(resource.set_access(memory, cpu), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("host CPU cannot be granted access to "
                                                        "memory at location device 0")));

  const access_grant read_only[] = {{0, access_mode::read}};
  int on_the_stack = 0;
  CHECK_THROWS_WITH(resource.set_access(&on_the_stack, read_only),
                    ContainsSubstring("unknown pointer"));
  CHECK_THROWS_WITH(resource.set_access(memory + 64, read_only),
                    ContainsSubstring("interior pointer"));
  CHECK_THROWS_WITH(resource.set_access(theirs, read_only), ContainsSubstring("another resource"));

  CHECK_THROWS_AS(resource.access(memory, devices), vmm_pmr::invalid_argument);
  CHECK_THROWS_WITH(resource.access(&on_the_stack, 0), ContainsSubstring("unknown pointer"));
  CHECK_THROWS_WITH(resource.access(theirs, 0), ContainsSubstring("another resource"));

  CHECK(faults->calls(backend_call::set_access) == calls);
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  CHECK(other.access(theirs, 0) == access_mode::read_write);
  other.deallocate(theirs, two_mib);
  resource.deallocate(memory, two_mib);
}

BACKEND_TEST_CASE("an empty grant list changes nothing and calls nothing", "[access]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  void* memory = resource.allocate(1);
  const std::size_t calls = faults->calls(backend_call::set_access);
  resource.set_access(memory, {});
  CHECK(faults->calls(backend_call::set_access) == calls);
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  resource.deallocate(memory, 1);
}

BACKEND_TEST_CASE("a refused set_access is a driver_error naming the call and the allocation",
                  "[access][fault_injection]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  void* memory = resource.allocate(1);
  faults->fail_nth(backend_call::set_access, 1, vmm_pmr::testing::injected_failure::driver_error);
  const access_grant read_only[] = {{0, access_mode::read}};
  CHECK_THROWS_MATCHES(resource.set_access(memory, read_only), vmm_pmr::driver_error,
                       MessageMatches(ContainsSubstring("INJECTED_FAILURE") &&
                                      ContainsSubstring("vmm_resource::set_access")));
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  resource.deallocate(memory, 1);
}

BACKEND_TEST_CASE("access to an imported mapping is this process's own", "[access][ipc]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource exporter(driver, vmm_pmr::test::shareable_options());
  vmm_pmr::vmm_resource importer(driver);
  void* original = exporter.allocate(two_mib);
  void* imported = importer.import_allocation(exporter.export_allocation(original));
  const access_grant read_only[] = {{0, access_mode::read}};
  importer.set_access(imported, read_only);
  CHECK(importer.access(imported, 0) == access_mode::read);
  CHECK(exporter.access(original, 0) == access_mode::read_write);
  if constexpr (!TestType::is_gpu) {
    CHECK(run_in_forked_child([&] { store_one_byte(imported); }).signal == SIGSEGV);
    CHECK(run_in_forked_child([&] { store_one_byte(original); }).exit_code == 0);
  }
  importer.deallocate(imported, two_mib);
  exporter.deallocate(original, two_mib);
}

BACKEND_TEST_CASE("the CPU's access to host-location memory is granted, revoked and queried",
                  "[access]") {
  auto driver = TestType::make();
  if (!driver->attributes(0).host_location_vmm) SKIP("device 0 has no host-location VMM");
  vmm_pmr::vmm_options host;
  host.location = vmm_pmr::memory_location::on_host();
  vmm_pmr::vmm_resource resource(driver, host);
  auto* memory = static_cast<unsigned char*>(resource.allocate(two_mib));
  CHECK(resource.access(memory, access_grant::host_cpu) == access_mode::read_write);
  memory[10] = 42;

  const access_grant cpu_reads[] = {{access_grant::host_cpu, access_mode::read}};
  if constexpr (TestType::is_gpu) {
    // Recorded, not required: whether the driver makes the CPU's mapping read-only.
    try {
      resource.set_access(memory, cpu_reads);
      WARN("the CUDA driver granted the CPU read-only access to host memory; it reports "
           << vmm_pmr::to_string(resource.access(memory, access_grant::host_cpu)));
    } catch (const vmm_pmr::driver_error& refusal) {
      WARN("the CUDA driver refuses read-only CPU access to host memory: " << refusal.what());
    }
  } else {
    resource.set_access(memory, cpu_reads);
    CHECK(resource.access(memory, access_grant::host_cpu) == access_mode::read);
    CHECK(memory[10] == 42);
    CHECK(run_in_forked_child([&] { store_one_byte(memory); }).signal == SIGSEGV);
  }

  const access_grant cpu_writes[] = {{access_grant::host_cpu, access_mode::read_write}};
  resource.set_access(memory, cpu_writes);
  CHECK(resource.access(memory, access_grant::host_cpu) == access_mode::read_write);
  memory[11] = 43;
  CHECK(memory[11] == 43);
  resource.deallocate(memory, two_mib);
}

TEST_CASE("an allocation on device 1 granted to device 0 is read and written through device 0",
          "[gpu][access][multi_gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  if (gpu->device_count() < 2)
    SKIP("needs 2 GPUs (this machine has " << gpu->device_count() << ")");
  vmm_pmr::vmm_options on_device_1;
  on_device_1.device = 1;
  vmm_pmr::vmm_resource resource(gpu, on_device_1);
  void* memory = resource.allocate(two_mib);
  CHECK(resource.access(memory, 1) == access_mode::read_write);
  CHECK(resource.access(memory, 0) == access_mode::none);

  const access_grant both[] = {{0, access_mode::read_write}, {1, access_mode::read_write}};
  resource.set_access(memory, both);
  CHECK(resource.access(memory, 0) == access_mode::read_write);
  // The backend copies from device 0's context unless another is current.
  write_bytes(*gpu, memory, make_pattern(two_mib, 4));
  CHECK(read_bytes(*gpu, memory, two_mib) == make_pattern(two_mib, 4));

  const access_grant revoke_0[] = {{0, access_mode::none}};
  resource.set_access(memory, revoke_0);
  CHECK(resource.access(memory, 0) == access_mode::none);
  CHECK(resource.access(memory, 1) == access_mode::read_write);
  resource.deallocate(memory, two_mib);
}

TEST_CASE("memory of the last device, mapped for every device, is written by a kernel on each",
          "[gpu][access][multi_gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  if (gpu->device_count() < 2)
    SKIP("needs 2 GPUs (this machine has " << gpu->device_count() << ")");
  const std::string no_kernels = vmm_pmr::test::ipc_peer_kernels_unavailable();
  if (!no_kernels.empty()) SKIP(no_kernels);
  const vmm_pmr::test::child_outcome outcome = vmm_pmr::test::start_ipc_peer(true, "peers").wait();
  INFO(outcome.describe());
  CHECK(outcome.exited());
  CHECK(outcome.exit_code == vmm_pmr::test::ipc_peer::exit_ok);
}
