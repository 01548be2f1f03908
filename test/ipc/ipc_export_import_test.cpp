// Export and import within one process: two resources map the same physical memory.
// Refusals, bad input and failures at every backend call leave no fd, driver object or
// registry entry behind, and the resources stay usable. (Between real processes:
// ipc_process_test.cpp.)
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "support/backends_under_test.hpp"
#include "support/ipc_fixtures.hpp"
#include "support/open_fds.hpp"
#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::handle_types;
using vmm_pmr::test::count_open_fds;
using vmm_pmr::test::make_pattern;
using vmm_pmr::test::read_bytes;
using vmm_pmr::test::shareable_options;
using vmm_pmr::test::two_mib;
using vmm_pmr::test::write_bytes;

namespace {

// One export and import made and undone first, so that what the driver opens on first
// use (device files) is not counted as a leak by the checks that follow.
void warm_up(vmm_pmr::vmm_resource& exporter, vmm_pmr::vmm_resource& importer) {
  void* original = exporter.allocate(1);
  {
    const vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
    importer.deallocate(importer.import_allocation(shared), 1);
  }
  exporter.deallocate(original, 1);
}

// Claims fabric support like an H100 whose driver then refuses it for want of an IMEX
// channel (CUDA_ERROR_NOT_PERMITTED, driver 580): fabric memory is refused when
// `refuses_fabric_memory`, else made as plain posix_fd memory; fabric exports are
// always refused.
class fabric_claiming_backend final : public vmm_pmr::forwarding_backend {
 public:
  fabric_claiming_backend(std::shared_ptr<vmm_pmr::backend> inner, bool refuses_fabric_memory)
      : forwarding_backend(std::move(inner)), refuses_fabric_memory_(refuses_fabric_memory) {}

  vmm_pmr::device_attributes attributes(int ordinal) const override {
    vmm_pmr::device_attributes attributes = forwarding_backend::attributes(ordinal);
    attributes.fabric_handles = true;
    return attributes;
  }
  vmm_pmr::physical_handle create(std::size_t size,
                                  const vmm_pmr::physical_properties& props) override {
    if (!contains(props.shareable, handle_types::fabric))
      return forwarding_backend::create(size, props);
    if (refuses_fabric_memory_) refuse("cuMemCreate(fabric)");
    vmm_pmr::physical_properties posix_only = props;
    posix_only.shareable = handle_types::posix_fd;
    return forwarding_backend::create(size, posix_only);
  }
  vmm_pmr::shareable_handle export_handle(vmm_pmr::physical_handle handle,
                                          handle_types type) override {
    if (type == handle_types::fabric) refuse("cuMemExportToShareableHandle(fabric)");
    return forwarding_backend::export_handle(handle, type);
  }

 private:
  [[noreturn]] static void refuse(const char* call) {
    throw vmm_pmr::driver_error(call, "CUDA_ERROR_NOT_PERMITTED", 800,
                                "no IMEX channel (simulated)");
  }
  bool refuses_fabric_memory_;
};

}  // namespace

BACKEND_TEST_CASE("an exported allocation imported by another resource shares its bytes both ways",
                  "[ipc][import]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource exporter(driver, shareable_options());
  vmm_pmr::vmm_resource importer(driver);
  const std::size_t fds_before = count_open_fds();
  constexpr std::size_t bytes = 3 * two_mib + 5;
  void* original = exporter.allocate(bytes);
  write_bytes(*driver, original, make_pattern(bytes, 1));
  {
    const vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
    void* imported = importer.import_allocation(shared);
    CHECK(imported != original);
    CHECK(read_bytes(*driver, imported, bytes) == make_pattern(bytes, 1));
    write_bytes(*driver, imported, make_pattern(bytes, 2));
    CHECK(read_bytes(*driver, original, bytes) == make_pattern(bytes, 2));

    const auto info = importer.find(static_cast<char*>(imported) + bytes - 1);
    REQUIRE(info);
    CHECK(info->imported);
    CHECK(info->base == vmm_pmr::test::address_of(imported));
    CHECK(info->owner == &importer);
    CHECK(info->requested_bytes == bytes);
    CHECK(info->mapped_bytes == 4 * two_mib);
    CHECK(info->location == vmm_pmr::memory_location::on_device(0));
    CHECK_FALSE(exporter.find(original)->imported);
    CHECK(importer.stats().live_bytes == bytes);

    importer.deallocate(imported, bytes);
    CHECK(importer.stats().live_count == 0);
    CHECK(importer.stats().deallocation_errors == 0);
  }
  exporter.deallocate(original, bytes);
  CHECK(count_open_fds() == fds_before);
}

BACKEND_TEST_CASE("export gives one fd per chunk and the exporter's sizes", "[ipc][export]") {
  vmm_pmr::vmm_resource exporter(TestType::make(), shareable_options());
  CHECK(exporter.shareable() == handle_types::posix_fd);
  void* original = exporter.allocate(5 * two_mib - 3);
  const vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
  const vmm_pmr::shared_allocation_descriptor& descriptor = shared.descriptor;
  CHECK(descriptor.handle_type == handle_types::posix_fd);
  CHECK(descriptor.granularity == exporter.granularity());
  CHECK(descriptor.requested_bytes == 5 * two_mib - 3);
  CHECK(descriptor.chunk_sizes == std::vector<std::size_t>{5 * two_mib});
  CHECK(descriptor.fabric_handles.empty());
  REQUIRE(shared.fds.size() == 1);
  CHECK((fcntl(shared.fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK_NOTHROW(descriptor.validate());
  exporter.deallocate(original, 5 * two_mib - 3);
}

BACKEND_TEST_CASE(
    "an import of several chunks maps them back to back, in order, with one access call",
    "[ipc][import]") {
  auto driver = TestType::make();
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(driver);
  vmm_pmr::vmm_resource importer(faults);
  vmm_pmr::test::hand_made_export made =
      vmm_pmr::test::export_by_hand(*driver, {two_mib, 2 * two_mib, two_mib}, two_mib);
  const std::size_t requested = made.shared.descriptor.requested_bytes;

  const std::size_t access_calls = faults->calls(vmm_pmr::testing::backend_call::set_access);
  auto* imported = static_cast<unsigned char*>(importer.import_allocation(made.shared));
  CHECK(faults->calls(vmm_pmr::testing::backend_call::set_access) == access_calls + 1);
  CHECK(faults->calls(vmm_pmr::testing::backend_call::reserve_address_range) == 1);

  const auto info = importer.find(imported);
  REQUIRE(info);
  REQUIRE(info->chunks.size() == 3);
  CHECK(info->chunks[0].base == info->base);
  CHECK(info->chunks[1].base == info->base + two_mib);
  CHECK(info->chunks[2].base == info->base + 3 * two_mib);
  CHECK(info->mapped_bytes == 4 * two_mib);
  CHECK(info->requested_bytes == requested);
  // Chunk i was filled with i + 1 by its exporter.
  CHECK(read_bytes(*faults, imported, 1)[0] == 1);
  CHECK(read_bytes(*faults, imported + two_mib, 1)[0] == 2);
  CHECK(read_bytes(*faults, imported + 3 * two_mib - 1, 1)[0] == 2);
  CHECK(read_bytes(*faults, imported + 3 * two_mib, 1)[0] == 3);
  importer.deallocate(imported, requested);
}

BACKEND_TEST_CASE("the exporter may free first: the importer's mapping keeps the memory alive",
                  "[ipc][import][lifetime]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource exporter(driver, shareable_options());
  vmm_pmr::vmm_resource importer(driver);
  constexpr std::size_t bytes = 2 * two_mib;
  void* original = exporter.allocate(bytes);
  write_bytes(*driver, original, make_pattern(bytes, 7));
  void* imported = nullptr;
  {
    const vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
    imported = importer.import_allocation(shared);
  }  // the fds are closed
  exporter.deallocate(original, bytes);
  CHECK(exporter.stats().live_count == 0);
  CHECK(read_bytes(*driver, imported, bytes) == make_pattern(bytes, 7));
  write_bytes(*driver, imported, make_pattern(bytes, 8));
  CHECK(read_bytes(*driver, imported, bytes) == make_pattern(bytes, 8));
  importer.deallocate(imported, bytes);
}

BACKEND_TEST_CASE("export refuses a pointer that is not the start of one of its allocations",
                  "[ipc][export]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource exporter(driver, shareable_options());
  vmm_pmr::vmm_resource other(driver, shareable_options());
  void* mine = exporter.allocate(two_mib);
  void* theirs = other.allocate(two_mib);
  int on_the_stack = 0;
  CHECK_THROWS_MATCHES(exporter.export_allocation(&on_the_stack), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("export_allocation") &&
                                      ContainsSubstring("unknown pointer")));
  CHECK_THROWS_MATCHES(exporter.export_allocation(static_cast<char*>(mine) + 4096),
                       vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("interior pointer") &&
                                      ContainsSubstring("(4096 B into allocation")));
  CHECK_THROWS_MATCHES(exporter.export_allocation(theirs), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("belongs to another resource")));
  exporter.deallocate(mine, two_mib);
  CHECK_THROWS_WITH(exporter.export_allocation(mine), ContainsSubstring("unknown pointer"));
  other.deallocate(theirs, two_mib);
}

BACKEND_TEST_CASE("export from a resource made without shareable handles names the option to set",
                  "[ipc][export]") {
  vmm_pmr::vmm_resource plain(TestType::make());
  void* pointer = plain.allocate(100);
  CHECK_THROWS_MATCHES(plain.export_allocation(pointer), vmm_pmr::unsupported_error,
                       MessageMatches(ContainsSubstring("vmm_options::shareable")));
  plain.deallocate(pointer, 100);
}

BACKEND_TEST_CASE("export needs exactly one preferred handle type", "[ipc][export]") {
  vmm_pmr::vmm_resource exporter(TestType::make(), shareable_options());
  void* pointer = exporter.allocate(100);
  for (handle_types preferred :
       {handle_types::none, handle_types::posix_fd | handle_types::fabric}) {
    CHECK_THROWS_MATCHES(exporter.export_allocation(pointer, preferred), vmm_pmr::invalid_argument,
                         MessageMatches(ContainsSubstring("exactly one handle type")));
  }
  exporter.deallocate(pointer, 100);
}

BACKEND_TEST_CASE("preferring fabric from a posix_fd resource exports posix_fd", "[ipc][export]") {
  vmm_pmr::vmm_resource exporter(TestType::make(), shareable_options());
  void* pointer = exporter.allocate(100);
  const vmm_pmr::exported_allocation shared =
      exporter.export_allocation(pointer, handle_types::fabric);
  CHECK(shared.descriptor.handle_type == handle_types::posix_fd);
  CHECK(shared.fds.size() == 1);
  exporter.deallocate(pointer, 100);
}

BACKEND_TEST_CASE("an imported allocation is not exported again; the exported one is forwarded",
                  "[ipc][export]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource exporter(driver, shareable_options());
  vmm_pmr::vmm_resource importer(driver, shareable_options());
  vmm_pmr::vmm_resource third(driver);
  void* original = exporter.allocate(two_mib);
  write_bytes(*driver, original, make_pattern(two_mib, 3));
  const vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
  void* imported = importer.import_allocation(shared);
  CHECK_THROWS_MATCHES(importer.export_allocation(imported), vmm_pmr::unsupported_error,
                       MessageMatches(ContainsSubstring("imported allocations are not exported "
                                                        "again") &&
                                      ContainsSubstring("Forward the exported_allocation")));
  // The fds survive the first import: the same exported_allocation serves another.
  void* forwarded = third.import_allocation(shared);
  CHECK(read_bytes(*driver, forwarded, two_mib) == make_pattern(two_mib, 3));
  third.deallocate(forwarded, two_mib);
  importer.deallocate(imported, two_mib);
  exporter.deallocate(original, two_mib);
}

BACKEND_TEST_CASE("what the backend itself does when an imported handle is exported again",
                  "[ipc][export]") {
  auto driver = TestType::make();
  vmm_pmr::physical_properties props;
  props.shareable = handle_types::posix_fd;
  const vmm_pmr::physical_memory memory(*driver, two_mib, props);
  const vmm_pmr::shareable_handle exported =
      driver->export_handle(memory.handle(), handle_types::posix_fd);
  const vmm_pmr::unique_fd exported_fd(exported.fd);
  const vmm_pmr::physical_memory imported =
      vmm_pmr::physical_memory::adopt(*driver, driver->import_handle(exported), two_mib);
  std::string outcome;
  try {
    const vmm_pmr::unique_fd again(
        driver->export_handle(imported.handle(), handle_types::posix_fd).fd);
    outcome = again ? "exports it again" : "returns no fd";
  } catch (const std::exception& refusal) {
    outcome = std::string("refuses: ") + refusal.what();
  }
  // Recorded, not required: vmm_resource refuses either way, so that its behaviour does
  // not depend on the backend or the driver version.
  if constexpr (TestType::is_gpu) {
    WARN("the CUDA driver, asked to export an imported handle as posix_fd: " << outcome);
  } else {
    CHECK(outcome == "exports it again");
  }
}

BACKEND_TEST_CASE("an imported allocation is freed with the descriptor's requested size",
                  "[ipc][import]") {
  auto driver = TestType::make();
  vmm_pmr::test::report_recorder reports;
  vmm_pmr::vmm_resource exporter(driver, shareable_options());
  vmm_pmr::vmm_resource importer(driver, reports.attach({}));
  void* original = exporter.allocate(1000);
  void* imported = importer.import_allocation(exporter.export_allocation(original));
  importer.deallocate(imported, two_mib);  // the mapped size is not what was asked for
  CHECK_THAT(reports.last_message(), ContainsSubstring("size differs"));
  CHECK(importer.find(imported));
  importer.deallocate(imported, 1000);
  CHECK_FALSE(importer.find(imported));
  exporter.deallocate(original, 1000);
}

BACKEND_TEST_CASE("a resource destroyed with imported allocations frees them and reports the leak",
                  "[ipc][import]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource exporter(counting, shareable_options());
  void* original = exporter.allocate(two_mib + 1);
  const auto exporter_only = counting->live();
  vmm_pmr::test::report_recorder reports;
  {
    vmm_pmr::vmm_resource importer(counting, reports.attach({}));
    (void)importer.import_allocation(exporter.export_allocation(original));
  }
  REQUIRE(reports.leaks.size() == 1);
  REQUIRE(reports.leaks[0].leaked.size() == 1);
  CHECK(reports.leaks[0].leaked[0].imported);
  CHECK(reports.leaks[0].leaked_bytes == two_mib + 1);
  CHECK(counting->live() == exporter_only);
  exporter.deallocate(original, two_mib + 1);
}

BACKEND_TEST_CASE("bad input to import is a clear error that leaks nothing", "[ipc][import]") {
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(TestType::make());
  vmm_pmr::vmm_resource exporter(counting, shareable_options());
  vmm_pmr::vmm_resource importer(counting);
  warm_up(exporter, importer);
  void* original = exporter.allocate(two_mib);
  write_bytes(*counting, original, make_pattern(two_mib, 5));
  vmm_pmr::exported_allocation shared = exporter.export_allocation(original);
  const auto live_before = counting->live();
  const auto stats_before = importer.stats();
  const auto refused_cleanly = [&](const auto& attempt) {
    const std::size_t fds_before = count_open_fds();
    attempt();
    CHECK(count_open_fds() == fds_before);
    CHECK(counting->live() == live_before);
    CHECK(importer.stats() == stats_before);
    CHECK(importer.live_allocations().empty());
  };

  SECTION("a closed fd") {
    const int closed = shared.fds[0].release();
    close(closed);
    shared.fds[0] = vmm_pmr::unique_fd(closed);
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(
          importer.import_allocation(shared), vmm_pmr::invalid_argument,
          MessageMatches(ContainsSubstring("the fd of chunk 0 (" + std::to_string(closed) +
                                           ") is not an open file descriptor")));
    });
    (void)shared.fds[0].release();  // closed already
  }
  SECTION("a pipe instead of the exported fd") {
    int pipe_ends[2];
    REQUIRE(pipe2(pipe_ends, O_CLOEXEC) == 0);
    const vmm_pmr::unique_fd write_end(pipe_ends[1]);
    shared.fds[0] = vmm_pmr::unique_fd(pipe_ends[0]);
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(importer.import_allocation(shared), vmm_pmr::driver_error,
                           MessageMatches(ContainsSubstring("importing chunk 0 of 1") &&
                                          ContainsSubstring("import_allocation")));
    });
  }
  SECTION("a descriptor inconsistent with itself") {
    shared.descriptor.requested_bytes = two_mib + 1;
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(
          importer.import_allocation(shared), vmm_pmr::invalid_argument,
          MessageMatches(ContainsSubstring("exceed the 2097152 B the chunks map")));
    });
  }
  SECTION("an fd missing") {
    shared.fds.clear();
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(
          importer.import_allocation(shared), vmm_pmr::invalid_argument,
          MessageMatches(ContainsSubstring("0 fds for 1 posix_fd chunks (expected 1)")));
    });
  }
  SECTION("an fd too many") {
    shared.fds.emplace_back(fcntl(shared.fds[0].get(), F_DUPFD_CLOEXEC, 0));
    refused_cleanly([&] {
      CHECK_THROWS_WITH(importer.import_allocation(shared),
                        ContainsSubstring("2 fds for 1 posix_fd chunks (expected 1)"));
    });
  }
  SECTION("a chunk the descriptor says is larger than the memory behind the fd") {
    shared.descriptor.chunk_sizes[0] = 2 * two_mib;
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(importer.import_allocation(shared), vmm_pmr::driver_error,
                           MessageMatches(ContainsSubstring("importing chunk 0 of 1 (4 MiB)")));
    });
  }
  SECTION("a handle type that is not exactly one type") {
    shared.descriptor.handle_type = handle_types::none;
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(importer.import_allocation(shared), vmm_pmr::invalid_argument,
                           MessageMatches(ContainsSubstring("exactly one of posix_fd or fabric")));
    });
  }
  SECTION("a granularity this device cannot map") {
    shared.descriptor.granularity = 4096;
    refused_cleanly([&] {
      CHECK_THROWS_MATCHES(importer.import_allocation(shared), vmm_pmr::invalid_argument,
                           MessageMatches(ContainsSubstring("granularity (4 KiB) is not a "
                                                            "multiple of")));
    });
  }

  // Still usable: it allocates, and an intact export of the same memory imports.
  importer.deallocate(importer.allocate(100), 100);
  const vmm_pmr::exported_allocation intact = exporter.export_allocation(original);
  void* imported = importer.import_allocation(intact);
  CHECK(read_bytes(*counting, imported, two_mib) == make_pattern(two_mib, 5));
  importer.deallocate(imported, two_mib);
  exporter.deallocate(original, two_mib);
}

BACKEND_TEST_CASE("a handle type the device cannot import is unsupported_error", "[ipc][import]") {
  auto driver = TestType::make();
  vmm_pmr::vmm_resource importer(driver);
  if (importer.device().fabric_handles) SKIP("this device imports fabric handles");
  vmm_pmr::exported_allocation fabric;
  fabric.descriptor.handle_type = handle_types::fabric;
  fabric.descriptor.granularity = two_mib;
  fabric.descriptor.requested_bytes = two_mib;
  fabric.descriptor.chunk_sizes = {two_mib};
  fabric.descriptor.fabric_handles.resize(1);
  const auto live_before = importer.stats();
  CHECK_THROWS_MATCHES(importer.import_allocation(fabric), vmm_pmr::unsupported_error,
                       MessageMatches(ContainsSubstring("cannot import fabric handles")));
  CHECK(importer.stats() == live_before);
}

BACKEND_TEST_CASE("a failure at any step of import leaves nothing behind",
                  "[ipc][import][fault_injection]") {
  auto driver = TestType::make();
  auto counting = std::make_shared<vmm_pmr::testing::counting_backend>(driver);
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(counting);
  vmm_pmr::vmm_resource importer(faults);
  vmm_pmr::test::hand_made_export made =
      vmm_pmr::test::export_by_hand(*driver, {two_mib, 2 * two_mib}, two_mib);
  const std::size_t requested = made.shared.descriptor.requested_bytes;

  const std::size_t before_calls = faults->total_calls();
  importer.deallocate(importer.import_allocation(made.shared), requested);
  const std::size_t import_calls = 6;  // reserve, (import, map) per chunk, set access
  REQUIRE(faults->total_calls() - before_calls == import_calls + 5);  // + 2 unmap, 2 release, free

  const auto baseline_live = counting->live();
  const auto baseline_stats = importer.stats();
  const std::size_t baseline_fds = count_open_fds();
  const auto failure = GENERATE(vmm_pmr::testing::injected_failure::out_of_memory,
                                vmm_pmr::testing::injected_failure::driver_error);
  for (std::size_t n = 1; n <= import_calls; ++n) {
    const bool out_of_memory = failure == vmm_pmr::testing::injected_failure::out_of_memory;
    CAPTURE(n, out_of_memory);
    faults->fail_nth_call(n, failure);
    if (out_of_memory) {
      CHECK_THROWS_MATCHES(importer.import_allocation(made.shared), vmm_pmr::out_of_memory,
                           MessageMatches(ContainsSubstring("import_allocation(2 posix_fd chunks, "
                                                            "6 MiB)")));
    } else {
      CHECK_THROWS_MATCHES(
          importer.import_allocation(made.shared), vmm_pmr::driver_error,
          MessageMatches(ContainsSubstring("INJECTED_FAILURE") &&
                         ContainsSubstring("import_allocation(2 posix_fd chunks")));
    }
    CHECK(faults->fired());
    CHECK(counting->live() == baseline_live);
    CHECK(importer.stats() == baseline_stats);
    CHECK(importer.live_allocations().empty());
    CHECK(count_open_fds() == baseline_fds);
  }
  auto* imported = static_cast<unsigned char*>(importer.import_allocation(made.shared));
  CHECK(read_bytes(*faults, imported + 2 * two_mib, 1)[0] == 2);
  importer.deallocate(imported, requested);
  CHECK(counting->live() == baseline_live);
}

BACKEND_TEST_CASE("a failed export leaks no fd and leaves the allocation usable",
                  "[ipc][export][fault_injection]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(TestType::make());
  vmm_pmr::vmm_resource exporter(faults, shareable_options());
  void* original = exporter.allocate(two_mib);
  (void)exporter.export_allocation(original);  // the driver's first-use fds, if any
  const std::size_t fds_before = count_open_fds();
  faults->fail_nth(vmm_pmr::testing::backend_call::export_handle, 1,
                   vmm_pmr::testing::injected_failure::driver_error);
  CHECK_THROWS_MATCHES(exporter.export_allocation(original), vmm_pmr::driver_error,
                       MessageMatches(ContainsSubstring("INJECTED_FAILURE") &&
                                      ContainsSubstring("export_allocation")));
  CHECK(count_open_fds() == fds_before);
  CHECK(exporter.find(original));
  CHECK(exporter.export_allocation(original).fds.size() == 1);
  exporter.deallocate(original, two_mib);
}

TEST_CASE("posix_fd|fabric falls back to posix_fd when the driver refuses fabric memory",
          "[ipc][fabric]") {
  auto claiming = std::make_shared<fabric_claiming_backend>(vmm_pmr::test::make_test_host_backend(),
                                                            /*refuses_fabric_memory=*/true);
  vmm_pmr::vmm_options both;
  both.shareable = handle_types::posix_fd | handle_types::fabric;
  vmm_pmr::vmm_resource exporter(claiming, both);
  CHECK(exporter.shareable() == handle_types::posix_fd);
  CHECK(exporter.options().shareable == both.shareable);
  void* original = exporter.allocate(100);
  const vmm_pmr::exported_allocation shared =
      exporter.export_allocation(original, handle_types::fabric);
  CHECK(shared.descriptor.handle_type == handle_types::posix_fd);
  CHECK(shared.fds.size() == 1);
  vmm_pmr::vmm_resource importer(claiming);
  importer.deallocate(importer.import_allocation(shared), 100);
  exporter.deallocate(original, 100);
}

TEST_CASE("fabric alone, refused by the driver, is unsupported_error at construction",
          "[ipc][fabric]") {
  auto claiming = std::make_shared<fabric_claiming_backend>(vmm_pmr::test::make_test_host_backend(),
                                                            /*refuses_fabric_memory=*/true);
  vmm_pmr::vmm_options fabric_only;
  fabric_only.shareable = handle_types::fabric;
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(claiming, fabric_only), vmm_pmr::unsupported_error,
                       MessageMatches(ContainsSubstring("shareable fabric") &&
                                      ContainsSubstring("CUDA_ERROR_NOT_PERMITTED")));
}

TEST_CASE(
    "a stream_ordered_resource asked for posix_fd|fabric maps posix_fd chunks when the driver "
    "refuses fabric memory",
    "[ipc][fabric][stream_ordered]") {
  auto claiming = std::make_shared<fabric_claiming_backend>(vmm_pmr::test::make_test_host_backend(),
                                                            /*refuses_fabric_memory=*/true);
  vmm_pmr::stream_ordered_options options;
  options.reservation_size = std::size_t{1} << 30;
  options.memory.shareable = handle_types::posix_fd | handle_types::fabric;
  vmm_pmr::stream_ordered_resource pool(claiming, options);
  void* block = pool.allocate(100, vmm_pmr::stream_view{});
  const std::optional<vmm_pmr::allocation_info> chunk =
      vmm_pmr::mapping_registry::global().find(block);
  REQUIRE(chunk);
  REQUIRE_FALSE(chunk->chunks.empty());
  CHECK(claiming->properties_of(chunk->chunks.front().handle).shareable == handle_types::posix_fd);
  pool.deallocate(block, 100, vmm_pmr::stream_view{});
}

TEST_CASE(
    "a stream_ordered_resource asked for fabric alone, refused by the driver, is "
    "unsupported_error at construction",
    "[ipc][fabric][stream_ordered]") {
  auto claiming = std::make_shared<fabric_claiming_backend>(vmm_pmr::test::make_test_host_backend(),
                                                            /*refuses_fabric_memory=*/true);
  vmm_pmr::stream_ordered_options options;
  options.reservation_size = std::size_t{1} << 30;
  options.memory.shareable = handle_types::fabric;
  CHECK_THROWS_MATCHES(vmm_pmr::stream_ordered_resource(claiming, options),
                       vmm_pmr::unsupported_error,
                       MessageMatches(ContainsSubstring("shareable fabric") &&
                                      ContainsSubstring("CUDA_ERROR_NOT_PERMITTED")));
}

TEST_CASE("a fabric export the driver refuses falls back to posix_fd", "[ipc][fabric]") {
  auto claiming = std::make_shared<fabric_claiming_backend>(vmm_pmr::test::make_test_host_backend(),
                                                            /*refuses_fabric_memory=*/false);
  vmm_pmr::vmm_options both;
  both.shareable = handle_types::posix_fd | handle_types::fabric;
  vmm_pmr::vmm_resource exporter(claiming, both);
  CHECK(exporter.shareable() == both.shareable);
  void* original = exporter.allocate(100);
  const vmm_pmr::exported_allocation shared =
      exporter.export_allocation(original, handle_types::fabric);
  CHECK(shared.descriptor.handle_type == handle_types::posix_fd);
  CHECK(shared.fds.size() == 1);
  exporter.deallocate(original, 100);
}

TEST_CASE("on the GPU, posix_fd|fabric gives allocations that export and import",
          "[gpu][ipc][fabric]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  const vmm_pmr::device_attributes device = gpu->attributes(0);
  if (!device.posix_fd_handles || !device.fabric_handles) {
    SKIP("device 0 does not claim both posix_fd and fabric handles");
  }
  vmm_pmr::vmm_options both;
  both.shareable = handle_types::posix_fd | handle_types::fabric;
  vmm_pmr::vmm_resource exporter(gpu, both);
  WARN("posix_fd|fabric asked; allocations carry " << vmm_pmr::to_string(exporter.shareable()));
  CHECK(contains(exporter.shareable(), handle_types::posix_fd));
  void* original = exporter.allocate(two_mib);
  write_bytes(*gpu, original, make_pattern(two_mib, 9));
  const vmm_pmr::exported_allocation shared =
      exporter.export_allocation(original, handle_types::fabric);
  CHECK(contains(exporter.shareable(), shared.descriptor.handle_type));
  vmm_pmr::vmm_resource importer(gpu);
  void* imported = importer.import_allocation(shared);
  CHECK(read_bytes(*gpu, imported, two_mib) == make_pattern(two_mib, 9));
  importer.deallocate(imported, two_mib);
  exporter.deallocate(original, two_mib);
}
