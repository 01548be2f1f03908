// device_vector<T>: host round trips, element access, amortized append (in place into
// reserved address space; without it, moving at most every other doubling and never
// copying), resizing, and bad input.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstdint>
#include <numeric>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/growth_fixtures.hpp"
#include "support/printers.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::device_vector;
using vmm_pmr::test::two_mib;
using vmm_pmr::testing::backend_call;

namespace {

struct particle {
  float x, y, z;
  std::uint32_t id;
  friend bool operator==(const particle&, const particle&) = default;
};

std::vector<std::uint64_t> iota(std::size_t count, std::uint64_t first) {
  std::vector<std::uint64_t> values(count);
  std::iota(values.begin(), values.end(), first);
  return values;
}

}  // namespace

BACKEND_TEST_CASE("a device_vector round-trips through host memory", "[device_vector]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  const std::vector<particle> host = {{1, 2, 3, 7}, {4, 5, 6, 8}, {7, 8, 9, 9}};
  device_vector<particle> particles(std::span<const particle>(host), {}, &resource);
  CHECK(particles.size() == 3);
  CHECK(particles.to_host({}) == host);
  CHECK(particles.element(1, {}) == host[1]);
  particles.set_element(2, {0, 0, 0, 42}, {});
  CHECK(particles.element(2, {}).id == 42);

  std::vector<particle> two(2);
  particles.copy_to_host(two, {});
  CHECK(two[0] == host[0]);

  const auto values = iota(100000, 5);
  device_vector<std::uint64_t> numbers(0, {}, &resource);
  numbers.copy_from_host(values, {});
  CHECK(numbers.size() == values.size());
  CHECK(numbers.to_host({}) == values);
  device_vector<std::uint64_t> copy(numbers, {});
  CHECK(copy.data() != numbers.data());
  CHECK(copy.to_host({}) == values);
}

BACKEND_TEST_CASE(
    "append into reserved address space grows in place, in amortized steps, without copying",
    "[device_vector][growth]") {
  auto [counting, faults] = vmm_pmr::test::decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_vector<std::uint64_t> values(0, {}, &resource);
  const auto batch = iota(10000, 0);    // 80 kB per batch
  constexpr std::size_t batches = 400;  // 32 MB in all: 16 granules
  values.reserve_address_space(batches * batch.size());
  values.append(batch, {});
  const std::uint64_t* const data = values.data();
  const std::size_t creates = faults->calls(backend_call::create);
  for (std::size_t b = 1; b < batches; ++b) {
    values.append(batch, {});
    REQUIRE(values.data() == data);
  }
  CHECK(values.size() == batches * batch.size());
  CHECK(values.capacity() >= values.size());
  // Capacity doubles: a handful of chunks, not one per batch.
  CHECK(faults->calls(backend_call::create) - creates <= 5);
  CHECK(values.element(0, {}) == 0);
  CHECK(values.element(values.size() - 1, {}) == batch.size() - 1);
  const auto host = values.to_host({});
  for (std::size_t b = 0; b < batches; ++b) {
    REQUIRE(std::equal(batch.begin(), batch.end(), host.begin() + b * batch.size()));
  }
}

BACKEND_TEST_CASE(
    "append without reserved address space never copies and moves at most every other doubling",
    "[device_vector][growth]") {
  // Whether a growth moves depends on where the driver puts reservations; with every hint
  // refused (the worst case) a move reserves twice the new size, so the next doubling fits.
  const bool refuse_hints = GENERATE(false, true);
  CAPTURE(refuse_hints);
  auto [counting, faults] = refuse_hints ? vmm_pmr::test::decorate_for_relocation(TestType::make())
                                         : vmm_pmr::test::decorate_for_growth(TestType::make());
  vmm_pmr::vmm_resource resource(faults);
  device_vector<std::uint64_t> values(0, {}, &resource);
  const auto batch = iota(10000, 0);  // 80 kB per batch
  values.append(batch, {});
  std::size_t growths = 0;
  std::size_t moves = 0;
  for (std::size_t b = 1; b < 400; ++b) {  // 32 MB in all: 16 granules
    const auto before = *resource.find(values.data());
    values.append(batch, {});
    const auto after = *resource.find(values.data());
    if (after.chunks.size() == before.chunks.size()) continue;  // fitted in the capacity
    ++growths;
    if (after.base != before.base) ++moves;
    // Nothing copied: the old physical chunks, in order, then the new one.
    REQUIRE(after.chunks.size() == before.chunks.size() + 1);
    for (std::size_t i = 0; i < before.chunks.size(); ++i) {
      CHECK(after.chunks[i].handle == before.chunks[i].handle);
    }
  }
  CHECK(growths == 4);  // 1 -> 2 -> 4 -> 8 -> 16 granules
  CHECK(moves <= (growths + 1) / 2);
  if (refuse_hints) CHECK(moves == (growths + 1) / 2);
  const auto host = values.to_host({});
  for (std::size_t b = 0; b < 400; ++b) {
    REQUIRE(std::equal(batch.begin(), batch.end(), host.begin() + b * batch.size()));
  }
}

BACKEND_TEST_CASE("device_vector resizes, reserves, clears and shrinks", "[device_vector]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  device_vector<std::uint32_t> values(10, {}, &resource);
  CHECK(values.capacity() == two_mib / sizeof(std::uint32_t));
  values.reserve(3 * two_mib / sizeof(std::uint32_t), {});
  CHECK(values.capacity() == 3 * two_mib / sizeof(std::uint32_t));
  CHECK(values.size() == 10);
  values.clear();
  CHECK(values.empty());
  CHECK(values.capacity() == 3 * two_mib / sizeof(std::uint32_t));
  values.resize(5, {});
  values.shrink_to_fit({});
  CHECK(values.capacity() == two_mib / sizeof(std::uint32_t));
  CHECK(values.span().size() == 5);
  CHECK(values.span().data() == values.data());
  const device_vector<std::uint32_t>& constant = values;
  CHECK(constant.span().size() == 5);
}

BACKEND_TEST_CASE("bad input to a device_vector gives a clear error and leaves it unchanged",
                  "[device_vector]") {
  vmm_pmr::vmm_resource resource(TestType::make());
  device_vector<std::uint64_t> values(3, {}, &resource);
  const std::uint64_t* const data = values.data();

  CHECK_THROWS_MATCHES(
      values.element(3, {}), vmm_pmr::out_of_range,
      MessageMatches(ContainsSubstring("element(3)") && ContainsSubstring("holds 3 elements")));
  CHECK_THROWS_AS(values.set_element(7, 1, {}), vmm_pmr::out_of_range);
  std::vector<std::uint64_t> too_many(4);
  CHECK_THROWS_MATCHES(values.copy_to_host(too_many, {}), vmm_pmr::out_of_range,
                       MessageMatches(ContainsSubstring("4 elements asked for")));
  CHECK_THROWS_MATCHES(values.resize(values.max_size() + 1, {}), vmm_pmr::out_of_memory,
                       MessageMatches(ContainsSubstring("do not fit")));
  CHECK_THROWS_AS(values.reserve(values.max_size(), {}), vmm_pmr::out_of_memory);
  CHECK(values.size() == 3);
  CHECK(values.data() == data);

  device_vector<std::uint64_t> moved(std::move(values));
  CHECK(values.empty());  // NOLINT(bugprone-use-after-move)
  CHECK_THROWS_MATCHES(values.resize(1, {}), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring("no memory resource")));
  const std::uint64_t one = 1;
  CHECK_THROWS_AS(values.append(std::span<const std::uint64_t>(&one, 1), {}),
                  vmm_pmr::invalid_argument);
  CHECK_THROWS_AS(device_vector<std::uint64_t>(vmm_pmr::device_buffer(12, {}, &resource)),
                  vmm_pmr::invalid_argument);
}
