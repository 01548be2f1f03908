// Standard pmr containers on vmm_resource: over the host backend, and over
// host-location VMM memory on the GPU (which the host CPU may dereference).
#include <catch2/catch_test_macros.hpp>

#include <memory_resource>
#include <numeric>
#include <string>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/vmm_resource.hpp"

namespace {

// Memory the host CPU can dereference: any host-backend memory; host-location
// memory on the GPU.
vmm_pmr::vmm_options host_readable_options() {
  vmm_pmr::vmm_options options;
  options.location = vmm_pmr::memory_location::on_host();
  return options;
}

}  // namespace

BACKEND_TEST_CASE("std::pmr::vector<int> grows and keeps its elements in VMM memory",
                  "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::vector<int> values(&resource);
    for (int i = 0; i < 100000; ++i) values.push_back(i);
    CHECK(std::accumulate(values.begin(), values.end(), 0LL) == 100000LL * 99999 / 2);
    CHECK(resource.find(values.data()));
    CHECK(resource.stats().live_count == 1);
    CHECK(resource.stats().total_count > 1);  // it reallocated on the way
  }
  CHECK(resource.stats().live_count == 0);
  CHECK(resource.stats().deallocation_errors == 0);
}

BACKEND_TEST_CASE("std::pmr::string allocates from VMM memory beyond the small-string buffer",
                  "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::string text(&resource);
    text.assign(1000, 'x');
    text += " and more";
    CHECK(text.size() == 1009);
    CHECK(text.substr(1000) == " and more");
    CHECK(resource.find(text.data()));
  }
  CHECK(resource.stats().live_count == 0);
}

BACKEND_TEST_CASE("nested pmr containers all allocate from the same resource", "[pmr_containers]") {
  vmm_pmr::vmm_resource resource(TestType::make(), host_readable_options());
  {
    std::pmr::vector<std::pmr::string> words(&resource);
    for (int i = 0; i < 50; ++i)
      words.emplace_back(std::string(100, static_cast<char>('a' + i % 26)));
    CHECK(words[49].front() == 'x');
    CHECK(resource.find(words[10].data()));  // the element's allocator came from the vector
    CHECK(resource.stats().live_count >= 51);
  }
  CHECK(resource.stats().live_count == 0);
}
