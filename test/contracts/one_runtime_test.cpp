// The library and the program share one C++ runtime. An exception the library throws and
// the program catches passes through both: with two runtimes (a toolchain that links
// libstdc++ statically into every binary) the library counts it as thrown and the
// program as caught, and std::uncaught_exceptions() in the program goes below zero.
#include <catch2/catch_test_macros.hpp>
#include <exception>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

TEST_CASE("an exception the library throws and the program catches is no longer in flight",
          "[contracts]") {
  vmm_pmr::vmm_resource resource(vmm_pmr::test::make_test_host_backend());
  REQUIRE(std::uncaught_exceptions() == 0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    bool caught = false;
    try {
      (void)resource.allocate(4096, 3);  // not a power of two: thrown inside the library
    } catch (const vmm_pmr::invalid_argument&) {
      caught = true;
    }
    CHECK(caught);
    CHECK(std::uncaught_exceptions() == 0);
  }
}
