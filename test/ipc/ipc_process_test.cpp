// Sharing between real processes: the test exports, the ipc_peer program (fork + exec)
// imports and does one scenario, on the host backend (memfd) and on the GPU. The
// peer's exit status and output say what happened on its side.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <signal.h>

#include "support/backends_under_test.hpp"
#include "support/ipc_fixtures.hpp"
#include "support/ipc_peer_process.hpp"
#include "support/open_fds.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::make_pattern;
using vmm_pmr::test::read_bytes;
using vmm_pmr::test::shareable_options;
using vmm_pmr::test::start_ipc_peer;
using vmm_pmr::test::two_mib;
using vmm_pmr::test::write_bytes;
namespace peer = vmm_pmr::test::ipc_peer;

BACKEND_TEST_CASE("a child process imports and writes; the parent reads what it wrote",
                  "[ipc][process]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource resource(driver, shareable_options());
  constexpr std::size_t bytes = 3 * two_mib + 7;
  void* memory = resource.allocate(bytes);
  write_bytes(*driver, memory, make_pattern(bytes, peer::parent_seed));

  vmm_pmr::test::child_process child = start_ipc_peer(TestType::is_gpu, "write");
  vmm_pmr::send_allocation(child.socket(), resource.export_allocation(memory));
  CHECK(child.receive_byte() == peer::written);
  const vmm_pmr::test::child_outcome outcome = child.wait();
  INFO(outcome.describe());
  REQUIRE(outcome.exited());
  REQUIRE(outcome.exit_code == peer::exit_ok);
  // The child has exited and unmapped; the parent sees its writes in its own mapping.
  CHECK(read_bytes(*driver, memory, bytes) == make_pattern(bytes, peer::child_seed));
  resource.deallocate(memory, bytes);
}

BACKEND_TEST_CASE("the parent frees first and the child still reads the data",
                  "[ipc][process][lifetime]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource resource(driver, shareable_options());
  constexpr std::size_t bytes = 4 * two_mib;
  void* memory = resource.allocate(bytes);
  write_bytes(*driver, memory, make_pattern(bytes, peer::parent_seed));

  vmm_pmr::test::child_process child = start_ipc_peer(TestType::is_gpu, "read_after_free");
  vmm_pmr::send_allocation(child.socket(), resource.export_allocation(memory));
  REQUIRE(child.receive_byte() == peer::imported);
  // The exported fds are gone with the temporary; now the parent's mapping goes too.
  resource.deallocate(memory, bytes);
  CHECK(resource.stats().live_count == 0);
  child.send_byte(peer::go_on);
  const vmm_pmr::test::child_outcome outcome = child.wait();
  INFO(outcome.describe());
  CHECK(outcome.exited());
  CHECK(outcome.exit_code == peer::exit_ok);
}

BACKEND_TEST_CASE("a child that crashes mid-way leaves the parent's memory and resource unaffected",
                  "[ipc][process]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource resource(counting, shareable_options());
  const auto live_before = counting->live();
  constexpr std::size_t bytes = 2 * two_mib;
  void* memory = resource.allocate(bytes);
  write_bytes(*counting, memory, make_pattern(bytes, peer::parent_seed));
  const auto info_before = resource.find(memory);
  const auto stats_before = resource.stats();
  const std::size_t fds_before = vmm_pmr::test::count_open_fds();

  vmm_pmr::test::child_process child = start_ipc_peer(TestType::is_gpu, "crash");
  vmm_pmr::send_allocation(child.socket(), resource.export_allocation(memory));
  CHECK(child.receive_byte() == peer::written);
  const vmm_pmr::test::child_outcome outcome = child.wait();
  INFO(outcome.describe());
  CHECK(outcome.signal == SIGABRT);

  // The registry and the statistics did not move; the memory is intact apart from what
  // the child wrote before it died (it is shared memory, after all).
  const auto info_after = resource.find(memory);
  REQUIRE(info_after);
  CHECK(info_after->sequence == info_before->sequence);
  CHECK(info_after->mapped_bytes == info_before->mapped_bytes);
  CHECK(resource.stats() == stats_before);
  std::vector<std::uint8_t> expected = make_pattern(bytes, peer::parent_seed);
  std::fill(expected.begin(), expected.begin() + bytes / 2, peer::crash_fill);
  CHECK(read_bytes(*counting, memory, bytes) == expected);
  CHECK(vmm_pmr::test::count_open_fds() == fds_before);

  // Still usable: allocates, exports and imports again.
  void* other = resource.allocate(100);
  vmm_pmr::vmm_resource importer(counting);
  void* imported = importer.import_allocation(resource.export_allocation(memory));
  CHECK(read_bytes(*counting, imported, 16) == std::vector<std::uint8_t>(16, peer::crash_fill));
  importer.deallocate(imported, bytes);
  resource.deallocate(other, 100);
  resource.deallocate(memory, bytes);
  CHECK(counting->live() == live_before);
}

BACKEND_TEST_CASE(
    "a write through a read-only imported mapping faults in the child; the parent "
    "carries on",
    "[ipc][process][access][faults_on_purpose]") {
  auto driver = TestType::make();
  if constexpr (TestType::is_gpu) {
    const std::string no_kernels = vmm_pmr::test::ipc_peer_kernels_unavailable();
    if (!no_kernels.empty()) SKIP(no_kernels);
  }
  vmm_pmr::vmm_resource resource(driver, shareable_options());
  constexpr std::size_t bytes = two_mib;
  void* memory = resource.allocate(bytes);
  write_bytes(*driver, memory, make_pattern(bytes, peer::parent_seed));

  vmm_pmr::test::child_process child = start_ipc_peer(TestType::is_gpu, "write_read_only");
  vmm_pmr::send_allocation(child.socket(), resource.export_allocation(memory));
  CHECK(child.receive_byte() == peer::imported);
  const vmm_pmr::test::child_outcome outcome = child.wait();
  INFO(outcome.describe());
  if constexpr (TestType::is_gpu) {
    // The kernel's store faults: the child's context reports an illegal address.
    CHECK(outcome.exited());
    CHECK(outcome.exit_code == peer::exit_ok);
    CHECK_THAT(outcome.output, ContainsSubstring("cudaErrorIllegalAddress"));
  } else {
    CHECK(outcome.signal == SIGSEGV);
  }
  // The store did not land, and the parent's memory and resource are as they were.
  CHECK(read_bytes(*driver, memory, bytes) == make_pattern(bytes, peer::parent_seed));
  write_bytes(*driver, memory, make_pattern(bytes, 3));
  CHECK(read_bytes(*driver, memory, bytes) == make_pattern(bytes, 3));
  resource.deallocate(resource.allocate(100), 100);
  resource.deallocate(memory, bytes);
}

TEST_CASE("memory of device 0, imported by a child on device 1, is written by a kernel there",
          "[gpu][ipc][process][multi_gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  if (gpu->device_count() < 2)
    SKIP("needs 2 GPUs (this machine has " << gpu->device_count() << ")");
  const std::string no_kernels = vmm_pmr::test::ipc_peer_kernels_unavailable();
  if (!no_kernels.empty()) SKIP(no_kernels);
  vmm_pmr::vmm_resource resource(gpu, shareable_options());
  constexpr std::size_t bytes = 2 * two_mib;
  void* memory = resource.allocate(bytes);
  gpu->fill(vmm_pmr::test::address_of(memory), 0, bytes);

  vmm_pmr::test::child_process child = start_ipc_peer(true, "import_on_device", {"1"});
  vmm_pmr::send_allocation(child.socket(), resource.export_allocation(memory));
  CHECK(child.receive_byte() == peer::written);
  const vmm_pmr::test::child_outcome outcome = child.wait();
  INFO(outcome.describe());
  CHECK(outcome.exit_code == peer::exit_ok);
  CHECK(read_bytes(*gpu, memory, bytes) ==
        std::vector<std::uint8_t>(bytes, peer::kernel_fill_value));
  resource.deallocate(memory, bytes);
}
