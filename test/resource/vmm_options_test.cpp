// vmm_options are checked at construction against what the device supports.
//
// A decorator that overrides the device's attributes stands in for devices this
// machine does not have (no VMM, no fabric handles, no host NUMA, ...).
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <functional>

#include "support/backends_under_test.hpp"
#include "support/resource_fixtures.hpp"
#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/formatters.hpp"
#include "vmm_pmr/resource/detail/resolved_options.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::test::two_mib;

namespace {

// Test double: reports edited device attributes (and, optionally, more devices).
class attributes_override_backend final : public vmm_pmr::forwarding_backend {
 public:
  attributes_override_backend(std::shared_ptr<vmm_pmr::backend> inner,
                              std::function<void(vmm_pmr::device_attributes&)> edit,
                              int devices = 1)
      : forwarding_backend(std::move(inner)), edit_(std::move(edit)), devices_(devices) {}
  int device_count() const override { return devices_; }
  vmm_pmr::device_attributes attributes(int ordinal) const override {
    vmm_pmr::device_attributes attributes = inner().attributes(0);
    attributes.ordinal = ordinal;
    edit_(attributes);
    return attributes;
  }

 private:
  std::function<void(vmm_pmr::device_attributes&)> edit_;
  int devices_;
};

std::shared_ptr<vmm_pmr::backend> host_with(std::function<void(vmm_pmr::device_attributes&)> edit,
                                            int devices = 1) {
  return std::make_shared<attributes_override_backend>(vmm_pmr::test::make_test_host_backend(),
                                                       std::move(edit), devices);
}

vmm_pmr::test::message_contains_all message_contains(const std::string& a, const std::string& b) {
  return {a, b};
}

}  // namespace

TEST_CASE("default options mean read-write memory of device 0", "[vmm_options]") {
  auto host = vmm_pmr::test::make_test_host_backend();
  const vmm_pmr::detail::resolved_options resolved = vmm_pmr::detail::resolve_options({}, *host);
  CHECK(resolved.properties.location == vmm_pmr::memory_location::on_device(0));
  REQUIRE(resolved.access.size() == 1);
  CHECK(resolved.access[0] == vmm_pmr::access_grant{0, vmm_pmr::access_mode::read_write});
  CHECK(resolved.granularity == two_mib);
  CHECK(resolved.reservation_alignment == two_mib);
}

TEST_CASE("a device ordinal out of range is refused with the device count", "[vmm_options]") {
  auto host = vmm_pmr::test::make_test_host_backend();
  for (int ordinal : {-1, 1, 7}) {
    vmm_pmr::vmm_options options;
    options.device = ordinal;
    CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(host, options), vmm_pmr::invalid_argument,
                         message_contains(std::to_string(ordinal), "1 device"));
  }
}

TEST_CASE("a device without VMM support is refused by name", "[vmm_options]") {
  auto backend = host_with([](auto& a) {
    a.vmm = false;
    a.name = "Old GPU";
  });
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(backend), vmm_pmr::unsupported_error,
                       message_contains("Old GPU", "virtual memory management"));
}

TEST_CASE("shareable handle types the device cannot export are refused", "[vmm_options]") {
  vmm_pmr::vmm_options fabric;
  fabric.shareable = vmm_pmr::handle_types::fabric;
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(vmm_pmr::test::make_test_host_backend(), fabric),
                       vmm_pmr::unsupported_error,
                       message_contains("fabric", "supported: none, posix_fd"));

  vmm_pmr::vmm_options posix;
  posix.shareable = vmm_pmr::handle_types::posix_fd;
  CHECK_THROWS_MATCHES(
      vmm_pmr::vmm_resource(host_with([](auto& a) { a.posix_fd_handles = false; }), posix),
      vmm_pmr::unsupported_error, message_contains("posix_fd", "device 0"));
  CHECK_NOTHROW(vmm_pmr::vmm_resource(vmm_pmr::test::make_test_host_backend(), posix));
}

TEST_CASE("host-location memory with shareable handles is refused where the driver refuses it",
          "[vmm_options]") {
  vmm_pmr::vmm_options options;
  options.location = vmm_pmr::memory_location::on_host();
  options.shareable = vmm_pmr::handle_types::posix_fd;
  auto cuda_like = host_with([](auto& a) { a.host_location_shareable = false; });
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(cuda_like, options), vmm_pmr::unsupported_error,
                       message_contains("host-location", "host_numa"));
}

TEST_CASE("host and host-NUMA locations need the device's support", "[vmm_options]") {
  vmm_pmr::vmm_options host;
  host.location = vmm_pmr::memory_location::on_host();
  CHECK_THROWS_MATCHES(
      vmm_pmr::vmm_resource(host_with([](auto& a) { a.host_location_vmm = false; }), host),
      vmm_pmr::unsupported_error, message_contains("location host", "host-location"));

  vmm_pmr::vmm_options numa;
  numa.location = vmm_pmr::memory_location::on_host_numa(0);
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(host_with([](auto& a) { a.host_numa_id = 3; }), numa),
                       vmm_pmr::unsupported_error,
                       message_contains("host NUMA node 0", "NUMA id is 3"));

  numa.location = vmm_pmr::memory_location::on_host_numa(-2);
  CHECK_THROWS_AS(
      vmm_pmr::vmm_resource(host_with([](auto& a) { a.host_numa_location_vmm = true; }), numa),
      vmm_pmr::invalid_argument);
}

TEST_CASE("host memory is readable by the host CPU by default", "[vmm_options]") {
  vmm_pmr::vmm_options options;
  options.location = vmm_pmr::memory_location::on_host();
  auto resolved =
      vmm_pmr::detail::resolve_options(options, *vmm_pmr::test::make_test_host_backend());
  CHECK(std::find(resolved.access.begin(), resolved.access.end(),
                  vmm_pmr::access_grant{vmm_pmr::access_grant::host_cpu,
                                        vmm_pmr::access_mode::read_write}) !=
        resolved.access.end());
}

TEST_CASE("RDMA and compression need the device's support", "[vmm_options]") {
  vmm_pmr::vmm_options rdma;
  rdma.gpu_direct_rdma = true;
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(vmm_pmr::test::make_test_host_backend(), rdma),
                       vmm_pmr::unsupported_error, message_contains("gpu_direct_rdma", "RDMA"));

  vmm_pmr::vmm_options required;
  required.compression = vmm_pmr::compression::required;
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(vmm_pmr::test::make_test_host_backend(), required),
                       vmm_pmr::unsupported_error, message_contains("compression", "device 0"));

  // Preferred compression on a device without it is plain memory, not an error.
  vmm_pmr::vmm_options preferred;
  preferred.compression = vmm_pmr::compression::preferred;
  vmm_pmr::vmm_resource resource(vmm_pmr::test::make_test_host_backend(), preferred);
  void* pointer = resource.allocate(100);
  CHECK_FALSE(resource.find(pointer)->compressed);
  resource.deallocate(pointer, 100);
}

TEST_CASE("compression the driver silently withholds fails 'required' at construction",
          "[vmm_options]") {
  vmm_pmr::vmm_options required;
  required.compression = vmm_pmr::compression::required;
  auto claims_compression = host_with([](auto& a) { a.generic_compression = true; });
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(claims_compression, required),
                       vmm_pmr::unsupported_error, message_contains("compressible", "probe"));
}

TEST_CASE("access lists are checked: ordinals, duplicates, the host CPU", "[vmm_options]") {
  auto two_devices = host_with([](auto&) {}, 2);
  vmm_pmr::vmm_options options;
  options.access = {{1, vmm_pmr::access_mode::read}, {0, vmm_pmr::access_mode::read_write}};
  auto resolved = vmm_pmr::detail::resolve_options(options, *two_devices);
  CHECK(resolved.access.front().device == 0);  // sorted by device

  options.access = {{0, vmm_pmr::access_mode::read_write}, {0, vmm_pmr::access_mode::read}};
  CHECK_THROWS_MATCHES(vmm_pmr::detail::resolve_options(options, *two_devices),
                       vmm_pmr::invalid_argument, message_contains("device 0", "more than once"));
  options.access = {{2, vmm_pmr::access_mode::read_write}};
  CHECK_THROWS_MATCHES(vmm_pmr::detail::resolve_options(options, *two_devices),
                       vmm_pmr::invalid_argument, message_contains("device 2", "2 devices"));
  options.access = {{vmm_pmr::access_grant::host_cpu, vmm_pmr::access_mode::read_write}};
  CHECK_THROWS_MATCHES(vmm_pmr::detail::resolve_options(options, *two_devices),
                       vmm_pmr::invalid_argument, message_contains("host CPU", "device 0"));
}

TEST_CASE("an explicit granularity must be a multiple of the minimum", "[vmm_options]") {
  auto host = vmm_pmr::test::make_test_host_backend();
  vmm_pmr::vmm_options options;
  options.granularity = vmm_pmr::granularity_choice::multiple_of(3 << 20);
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(host, options), vmm_pmr::invalid_argument,
                       message_contains("3 MiB", "2 MiB"));
  options.granularity = vmm_pmr::granularity_choice::multiple_of(8 << 20);
  vmm_pmr::vmm_resource resource(host, options);
  CHECK(resource.granularity() == (8 << 20));
  void* pointer = resource.allocate(1);
  CHECK(resource.find(pointer)->mapped_bytes == (8 << 20));
  resource.deallocate(pointer, 1);
}

TEST_CASE("the reservation alignment applies to every allocation", "[vmm_options]") {
  auto host = vmm_pmr::test::make_test_host_backend();
  vmm_pmr::vmm_options options;
  options.reservation_alignment = 3 << 20;
  CHECK_THROWS_AS(vmm_pmr::vmm_resource(host, options), vmm_pmr::invalid_argument);
  options.reservation_alignment = std::size_t{1} << 30;
  vmm_pmr::vmm_resource resource(host, options);
  for (int i = 0; i < 3; ++i) {
    void* pointer = resource.allocate(100);
    CHECK(reinterpret_cast<std::uintptr_t>(pointer) % (std::size_t{1} << 30) == 0);
    resource.deallocate(pointer, 100);
  }
}

TEST_CASE("options the driver refuses at the probe allocation fail construction", "[vmm_options]") {
  auto faults = std::make_shared<vmm_pmr::testing::fault_injecting_backend>(
      vmm_pmr::test::make_test_host_backend());
  faults->fail_nth(vmm_pmr::testing::backend_call::create, 1,
                   vmm_pmr::testing::injected_failure::driver_error);
  CHECK_THROWS_MATCHES(vmm_pmr::vmm_resource(faults), vmm_pmr::unsupported_error,
                       message_contains("refused by device 0", "INJECTED_FAILURE"));
}

TEST_CASE("options format as one readable line", "[vmm_options]") {
  vmm_pmr::vmm_options options;
  options.location = vmm_pmr::memory_location::on_host_numa(1);
  options.shareable = vmm_pmr::handle_types::posix_fd | vmm_pmr::handle_types::fabric;
  options.access = {{vmm_pmr::access_grant::host_cpu, vmm_pmr::access_mode::read},
                    {0, vmm_pmr::access_mode::read_write}};
  options.granularity = vmm_pmr::granularity_choice::multiple_of(4 << 20);
  const std::string text = fmt::format("{}", options);
  CHECK_THAT(text, ContainsSubstring("host NUMA node 1") && ContainsSubstring("posix_fd|fabric") &&
                       ContainsSubstring("host: read") && ContainsSubstring("4 MiB"));
}
