// The C interface's options parser (vmm_pmr_c/src/c_options.hpp): sizes with units, every
// key, and the refusals naming the source, key and value.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstdint>

#include "c_options.hpp"
#include "vmm_pmr/core/error.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::c_interface::backend_kind;
using vmm_pmr::c_interface::parse_bytes;
using vmm_pmr::c_interface::parse_options;

TEST_CASE("option sizes take bytes and binary units", "[c_interface]") {
  CHECK(parse_bytes("4096") == 4096u);
  CHECK(parse_bytes("0") == 0u);
  CHECK(parse_bytes("7B") == 7u);
  CHECK(parse_bytes("3 KiB") == 3u << 10);
  CHECK(parse_bytes("512MiB") == std::size_t{512} << 20);
  CHECK(parse_bytes("1GiB") == std::size_t{1} << 30);
  CHECK(parse_bytes("2TiB") == std::size_t{2} << 40);
  CHECK_FALSE(parse_bytes(""));
  CHECK_FALSE(parse_bytes("GiB"));
  CHECK_FALSE(parse_bytes("1GB"));
  CHECK_FALSE(parse_bytes("1.5GiB"));
  CHECK_FALSE(parse_bytes("-1"));
  CHECK_FALSE(parse_bytes("20000000TiB"));  // overflows
  CHECK_FALSE(parse_bytes("99999999999999999999"));
}

TEST_CASE("every option key reaches the configuration", "[c_interface]") {
  const auto defaults = parse_options("", "options");
  CHECK(defaults.backend == backend_kind::cuda);
  CHECK_FALSE(defaults.options.footprint_limit);
  CHECK_FALSE(defaults.options.release_threshold);
  CHECK(defaults.options.reservation_size == 0);
  CHECK_FALSE(defaults.record);

  const auto all = parse_options(
      "backend=host, footprint_limit=1.25,release_threshold=1GiB,reservation_size=8GiB,"
      "record=/tmp/t.csv,",
      "options");
  CHECK(all.backend == backend_kind::host);
  CHECK(all.options.footprint_limit == 1.25);
  CHECK(all.options.release_threshold == std::size_t{1} << 30);
  CHECK(all.options.reservation_size == std::size_t{8} << 30);
  CHECK(all.record == "/tmp/t.csv");
}

TEST_CASE("refused options name where they came from, the key and the value",
          "[c_interface][bad_input]") {
  const auto refuses = [](const char* text, const char* expected) {
    INFO(text);
    CHECK_THROWS_MATCHES(
        parse_options(text, "VMM_PMR_CONF"), vmm_pmr::invalid_argument,
        MessageMatches(ContainsSubstring("VMM_PMR_CONF") && ContainsSubstring(expected)));
  };
  refuses("footprint_limit=0.99", "footprint_limit=0.99");
  refuses("footprint_limit=inf", "footprint_limit=inf");
  refuses("footprint_limit=1.5x", "footprint_limit=1.5x");
  refuses("release_threshold=1.5GiB", "release_threshold=1.5GiB");
  refuses("backend=gpu", "cuda or host");
  refuses("record=", "record=");
  refuses("colour=blue", "unknown key 'colour'");
  refuses("backend=host,backend=cuda", "given twice");
  refuses("backend=host,noequals", "'noequals' has no value");
}
