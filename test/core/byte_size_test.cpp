// Byte counts for humans (format_bytes) and the granularity arithmetic under every
// allocation (round_up, is_power_of_two). round_up must report overflow: a request near
// SIZE_MAX that wrapped around would become a tiny allocation.
#include <catch2/catch_test_macros.hpp>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "vmm_pmr/core/byte_size.hpp"

namespace {

using vmm_pmr::format_bytes;
using vmm_pmr::is_power_of_two;
using vmm_pmr::round_up;

constexpr std::size_t kib = std::size_t{1} << 10;
constexpr std::size_t mib = std::size_t{1} << 20;
constexpr std::size_t gib = std::size_t{1} << 30;
constexpr std::size_t eib = std::size_t{1} << 60;
constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();

}  // namespace

TEST_CASE("format_bytes prints counts below 1 KiB in bytes", "[byte_size]") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1) == "1 B");
  CHECK(format_bytes(17) == "17 B");
  CHECK(format_bytes(1023) == "1023 B");
}

TEST_CASE("format_bytes prints an exact multiple of the largest fitting unit as an integer",
          "[byte_size]") {
  CHECK(format_bytes(kib) == "1 KiB");
  CHECK(format_bytes(2 * mib) == "2 MiB");
  CHECK(format_bytes(3 * gib) == "3 GiB");
  CHECK(format_bytes(1024 * gib) == "1 TiB");
  CHECK(format_bytes(eib) == "1 EiB");
  CHECK(format_bytes(15 * eib) == "15 EiB");
}

TEST_CASE("format_bytes prints an inexact count with one decimal", "[byte_size]") {
  CHECK(format_bytes(kib + kib / 2) == "1.5 KiB");
  CHECK(format_bytes(gib + gib / 2) == "1.5 GiB");
  CHECK(format_bytes(10 * mib + mib / 2) == "10.5 MiB");
}

TEST_CASE("format_bytes never makes an inexact count look exact", "[byte_size]") {
  CHECK(format_bytes(2 * mib + 1) == "2.0 MiB");
  CHECK(format_bytes(2 * mib - 1) == "2.0 MiB");
  CHECK(format_bytes(gib + 17) == "1.0 GiB");
}

TEST_CASE("format_bytes moves to the next unit instead of printing 1024.0", "[byte_size]") {
  CHECK(format_bytes(mib - 1) == "1.0 MiB");
  CHECK(format_bytes(gib - 1) == "1.0 GiB");
  CHECK(format_bytes(1024 * kib - kib / 2) == "1023.5 KiB");
}

TEST_CASE("format_bytes prints SIZE_MAX in exbibytes", "[byte_size]") {
  CHECK(format_bytes(size_max) == "16.0 EiB");
  CHECK(format_bytes(size_max - eib) == "15.0 EiB");
}

TEST_CASE("round_up returns a multiple unchanged", "[byte_size]") {
  CHECK(round_up(0, 2 * mib) == 0);
  CHECK(round_up(2 * mib, 2 * mib) == 2 * mib);
  CHECK(round_up(6 * mib, 2 * mib) == 6 * mib);
  CHECK(round_up(17, 1) == 17);
  // The largest multiple of 2 MiB that a size_t holds.
  CHECK(round_up(size_max - (2 * mib - 1), 2 * mib) == size_max - (2 * mib - 1));
}

TEST_CASE("round_up rounds up to the next multiple", "[byte_size]") {
  CHECK(round_up(1, 2 * mib) == 2 * mib);
  CHECK(round_up(2 * mib + 1, 2 * mib) == 4 * mib);
  CHECK(round_up(4 * mib - 1, 2 * mib) == 4 * mib);
  CHECK(round_up(10, 3) == 12);  // multiples need not be powers of two
  CHECK(round_up(size_max - 2 * mib, 2 * mib) == size_max - (2 * mib - 1));
}

TEST_CASE("round_up reports overflow as nullopt instead of wrapping", "[byte_size]") {
  CHECK(round_up(size_max, 2 * mib) == std::nullopt);
  CHECK(round_up(size_max - (2 * mib - 1) + 1, 2 * mib) == std::nullopt);
  CHECK(round_up(size_max, 2) == std::nullopt);
  CHECK(round_up(size_max, size_max) == size_max);
  CHECK(round_up(size_max - 1, size_max) == size_max);
}

TEST_CASE("round_up and is_power_of_two work at compile time", "[byte_size]") {
  STATIC_REQUIRE(round_up(1, 4096) == 4096);
  STATIC_REQUIRE(!round_up(size_max, 4096).has_value());
  STATIC_REQUIRE(is_power_of_two(4096));
}

TEST_CASE("is_power_of_two is true for powers of two only, and false for 0", "[byte_size]") {
  CHECK_FALSE(is_power_of_two(0));
  CHECK(is_power_of_two(1));
  CHECK(is_power_of_two(2));
  CHECK(is_power_of_two(2 * mib));
  CHECK(is_power_of_two(std::size_t{1} << 63));
  CHECK_FALSE(is_power_of_two(3));
  CHECK_FALSE(is_power_of_two(6 * mib));
  CHECK_FALSE(is_power_of_two(2 * mib + 1));
  CHECK_FALSE(is_power_of_two(size_max));
}
