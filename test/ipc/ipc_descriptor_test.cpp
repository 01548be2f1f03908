// The shared-allocation descriptor: its wire format round-trips, and parse() refuses
// every malformed input with a message saying what is wrong.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/shared_allocation_descriptor.hpp"

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::MessageMatches;
using vmm_pmr::shared_allocation_descriptor;

namespace {

constexpr std::size_t two_mib = std::size_t{2} << 20;

shared_allocation_descriptor three_posix_chunks() {
  shared_allocation_descriptor descriptor;
  descriptor.handle_type = vmm_pmr::handle_types::posix_fd;
  descriptor.granularity = two_mib;
  descriptor.requested_bytes = 7 * two_mib + 5;
  descriptor.chunk_sizes = {two_mib, 2 * two_mib, 5 * two_mib};
  return descriptor;
}

shared_allocation_descriptor two_fabric_chunks() {
  shared_allocation_descriptor descriptor;
  descriptor.handle_type = vmm_pmr::handle_types::fabric;
  descriptor.granularity = two_mib;
  descriptor.requested_bytes = 3 * two_mib;
  descriptor.chunk_sizes = {two_mib, 2 * two_mib};
  descriptor.fabric_handles.resize(2);
  for (std::size_t i = 0; i < 64; ++i) {
    descriptor.fabric_handles[0][i] = static_cast<std::uint8_t>(i);
    descriptor.fabric_handles[1][i] = static_cast<std::uint8_t>(255 - i);
  }
  return descriptor;
}

void put_u32(std::vector<std::byte>& bytes, std::size_t at, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) bytes[at + i] = static_cast<std::byte>(value >> (8 * i));
}

void put_u64(std::vector<std::byte>& bytes, std::size_t at, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<std::byte>(value >> (8 * i));
}

// Byte offsets of the wire format's fields.
constexpr std::size_t magic_at = 0, version_at = 4, type_at = 8, count_at = 12;
constexpr std::size_t granularity_at = 16, requested_at = 24, first_chunk_at = 32;

struct malformation {
  const char* name;
  void (*damage)(std::vector<std::byte>&);
  const char* message;
};

}  // namespace

TEST_CASE("a posix_fd descriptor round-trips through its wire format", "[ipc][descriptor]") {
  const shared_allocation_descriptor original = three_posix_chunks();
  const std::vector<std::byte> bytes = original.serialize();
  CHECK(bytes.size() == 32 + 3 * 8);
  CHECK(shared_allocation_descriptor::parse(bytes) == original);
  CHECK(original.mapped_bytes() == 8 * two_mib);
}

TEST_CASE("a fabric descriptor round-trips with its handles", "[ipc][descriptor]") {
  const shared_allocation_descriptor original = two_fabric_chunks();
  const std::vector<std::byte> bytes = original.serialize();
  CHECK(bytes.size() == 32 + 2 * 8 + 2 * 64);
  CHECK(shared_allocation_descriptor::parse(bytes) == original);
}

TEST_CASE("the wire format is little-endian with the documented layout", "[ipc][descriptor]") {
  const std::vector<std::byte> bytes = three_posix_chunks().serialize();
  const char magic[] = "VMMP";
  CHECK(std::memcmp(bytes.data(), magic, 4) == 0);
  CHECK(bytes[version_at] == std::byte{1});
  CHECK(bytes[type_at] == std::byte{1});
  CHECK(bytes[count_at] == std::byte{3});
  CHECK(bytes[granularity_at + 2] == std::byte{0x20});  // 2 MiB = 0x200000
  CHECK(bytes[requested_at] == std::byte{5});
}

TEST_CASE("serialized_bytes tells a stream reader the whole length from the header",
          "[ipc][descriptor]") {
  const std::vector<std::byte> bytes = two_fabric_chunks().serialize();
  CHECK(shared_allocation_descriptor::serialized_bytes(
            std::span(bytes).first(shared_allocation_descriptor::header_bytes)) == bytes.size());
}

TEST_CASE("parse refuses every malformed input, saying what is wrong", "[ipc][descriptor]") {
  static const malformation cases[] = {
      {"empty", [](auto& b) { b.clear(); }, "truncated"},
      {"header cut short", [](auto& b) { b.resize(31); }, "shorter than the 32 B header"},
      {"last chunk cut short", [](auto& b) { b.pop_back(); }, "truncated"},
      {"trailing byte", [](auto& b) { b.push_back(std::byte{0}); }, "1 trailing bytes"},
      {"bad magic", [](auto& b) { put_u32(b, magic_at, 0x12345678); }, "bad magic"},
      {"version 2", [](auto& b) { put_u32(b, version_at, 2); }, "unsupported version 2"},
      {"handle type 0", [](auto& b) { put_u32(b, type_at, 0); }, "unknown handle type 0"},
      {"handle type 3", [](auto& b) { put_u32(b, type_at, 3); }, "unknown handle type 3"},
      {"fabric type without handles", [](auto& b) { put_u32(b, type_at, 2); }, "truncated"},
      {"zero chunks", [](auto& b) { put_u32(b, count_at, 0); }, "no chunks"},
      {"too many chunks", [](auto& b) { put_u32(b, count_at, 65537); }, "more than the 65536"},
      {"more chunks than bytes", [](auto& b) { put_u32(b, count_at, 4); }, "truncated"},
      {"fewer chunks than bytes", [](auto& b) { put_u32(b, count_at, 2); }, "trailing"},
      {"zero granularity", [](auto& b) { put_u64(b, granularity_at, 0); }, "granularity is 0"},
      {"zero-sized chunk", [](auto& b) { put_u64(b, first_chunk_at, 0); },
       "chunk 0 is 0 B, not a nonzero multiple"},
      {"chunk not a multiple", [](auto& b) { put_u64(b, first_chunk_at + 8, two_mib + 4096); },
       "chunk 1 is"},
      {"zero requested", [](auto& b) { put_u64(b, requested_at, 0); }, "requested bytes is 0"},
      {"requested beyond the chunks", [](auto& b) { put_u64(b, requested_at, 8 * two_mib + 1); },
       "exceed"},
      {"chunk sizes overflow",
       [](auto& b) {
         put_u64(b, granularity_at, 4096);
         put_u64(b, first_chunk_at, std::numeric_limits<std::uint64_t>::max() - 4095);
         put_u64(b, first_chunk_at + 8, 4096);
       },
       "overflow"},
  };
  const malformation& bad =
      GENERATE(Catch::Generators::from_range(std::begin(cases), std::end(cases)));
  CAPTURE(bad.name);
  std::vector<std::byte> bytes = three_posix_chunks().serialize();
  bad.damage(bytes);
  CHECK_THROWS_MATCHES(shared_allocation_descriptor::parse(bytes), vmm_pmr::invalid_argument,
                       MessageMatches(ContainsSubstring(bad.message) &&
                                      ContainsSubstring("shared allocation descriptor")));
}

TEST_CASE("serialize refuses a descriptor that parse would refuse", "[ipc][descriptor]") {
  shared_allocation_descriptor no_type = three_posix_chunks();
  no_type.handle_type = vmm_pmr::handle_types::none;
  CHECK_THROWS_AS(no_type.serialize(), vmm_pmr::invalid_argument);

  shared_allocation_descriptor both_types = three_posix_chunks();
  both_types.handle_type = vmm_pmr::handle_types::posix_fd | vmm_pmr::handle_types::fabric;
  CHECK_THROWS_WITH(both_types.serialize(), ContainsSubstring("exactly one"));

  shared_allocation_descriptor fabric_missing = two_fabric_chunks();
  fabric_missing.fabric_handles.pop_back();
  CHECK_THROWS_WITH(fabric_missing.serialize(), ContainsSubstring("1 fabric handles for 2"));

  shared_allocation_descriptor posix_with_fabric = three_posix_chunks();
  posix_with_fabric.fabric_handles.resize(3);
  CHECK_THROWS_WITH(posix_with_fabric.serialize(), ContainsSubstring("fabric handles"));

  shared_allocation_descriptor too_many;
  too_many.granularity = 1;
  too_many.requested_bytes = 1;
  too_many.chunk_sizes.assign(shared_allocation_descriptor::max_chunks + 1, 1);
  CHECK_THROWS_WITH(too_many.serialize(), ContainsSubstring("more than the 65536"));
}

TEST_CASE("mapped_bytes saturates instead of wrapping around", "[ipc][descriptor]") {
  shared_allocation_descriptor huge;
  huge.chunk_sizes = {std::numeric_limits<std::size_t>::max(), 1};
  CHECK(huge.mapped_bytes() == std::numeric_limits<std::size_t>::max());
}
