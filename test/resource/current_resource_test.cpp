// The per-device current resource, and installing a VMM resource in one call.
#include <catch2/catch_test_macros.hpp>

#include <memory_resource>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/current_resource.hpp"

namespace {

// Restores device 0's current resource and std::pmr's default after a test.
struct current_resource_guard {
  std::pmr::memory_resource* pmr_default = std::pmr::get_default_resource();
  std::pmr::memory_resource* previous =
      vmm_pmr::set_current_device_resource(0, std::pmr::new_delete_resource());
  current_resource_guard() { vmm_pmr::set_current_device_resource(0, previous); }
  ~current_resource_guard() {
    vmm_pmr::set_current_device_resource(0, previous);
    std::pmr::set_default_resource(pmr_default);
  }
};

}  // namespace

TEST_CASE("set_current_device_resource returns the previous resource", "[current_resource]") {
  current_resource_guard guard;
  vmm_pmr::vmm_resource resource(vmm_pmr::test::make_test_host_backend());
  vmm_pmr::set_current_device_resource(3, &resource);
  CHECK(vmm_pmr::current_device_resource(3) == &resource);
  CHECK(vmm_pmr::set_current_device_resource(3, std::pmr::new_delete_resource()) == &resource);
  CHECK(vmm_pmr::current_device_resource(3) == std::pmr::new_delete_resource());
  vmm_pmr::set_current_device_resource(3, &resource);
  vmm_pmr::set_current_device_resource(3, nullptr);
}

TEST_CASE("install_vmm_resource makes the device's current resource and leaves pmr's default",
          "[current_resource]") {
  current_resource_guard guard;
  auto installed = vmm_pmr::install_vmm_resource({}, vmm_pmr::pmr_default::leave,
                                                 vmm_pmr::test::make_test_host_backend());
  CHECK(vmm_pmr::current_device_resource(0) == installed.get());
  CHECK(std::pmr::get_default_resource() == guard.pmr_default);
  void* pointer = vmm_pmr::current_device_resource(0)->allocate(100);
  CHECK(installed->find(pointer));
  vmm_pmr::current_device_resource(0)->deallocate(pointer, 100);
}

TEST_CASE("install_vmm_resource replaces pmr's default only when asked", "[current_resource]") {
  current_resource_guard guard;
  auto installed = vmm_pmr::install_vmm_resource({}, vmm_pmr::pmr_default::replace,
                                                 vmm_pmr::test::make_test_host_backend());
  CHECK(std::pmr::get_default_resource() == installed.get());
  std::pmr::vector<int> values{1, 2, 3};  // default resource: now VMM memory
  CHECK(installed->find(values.data()));
}

TEST_CASE("a previous current resource stays valid after another is installed",
          "[current_resource]") {
  current_resource_guard guard;
  std::pmr::memory_resource* first =
      vmm_pmr::install_vmm_resource({}, vmm_pmr::pmr_default::leave,
                                    vmm_pmr::test::make_test_host_backend())
          .get();
  std::pmr::memory_resource* saved = vmm_pmr::current_device_resource(0);
  CHECK(saved == first);
  (void)vmm_pmr::install_vmm_resource({}, vmm_pmr::pmr_default::leave,
                                      vmm_pmr::test::make_test_host_backend());
  vmm_pmr::set_current_device_resource(0, saved);  // the RMM save-and-restore pattern
  void* pointer = vmm_pmr::current_device_resource(0)->allocate(10);
  vmm_pmr::current_device_resource(0)->deallocate(pointer, 10);
}

TEST_CASE("a negative device ordinal is refused", "[current_resource][bad_input]") {
  CHECK_THROWS_AS(vmm_pmr::current_device_resource(-1), vmm_pmr::invalid_argument);
  CHECK_THROWS_AS(vmm_pmr::set_current_device_resource(-1, nullptr), vmm_pmr::invalid_argument);
}

TEST_CASE("without a GPU the default device resource says why it cannot exist",
          "[current_resource]") {
  const auto status = vmm_pmr::cuda_available();
  if (status.available) SKIP("a GPU is present: the default resource exists");
  CHECK_THROWS_AS(vmm_pmr::current_device_resource(5), vmm_pmr::unavailable_error);
}

TEST_CASE("with a GPU the default device resource is a vmm_resource on it", "[current_resource]") {
  (void)vmm_pmr::test::require_cuda_backend();
  auto* resource = dynamic_cast<vmm_pmr::vmm_resource*>(vmm_pmr::current_device_resource(0));
  REQUIRE(resource != nullptr);
  void* pointer = resource->allocate(1000);
  CHECK(resource->find(pointer));
  resource->deallocate(pointer, 1000);
}
