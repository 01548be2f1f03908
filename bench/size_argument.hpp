// Byte sizes and counts as the command line spells them: "2MiB", "1.5GiB", "4096", "10000".
//
// Units are binary (B, KiB, MiB, GiB, TiB; K, M, G, T as short forms) because every size
// this tool measures is a multiple of a power-of-two granularity. "MB" and friends are
// refused rather than guessed: a benchmark at 64,000,000 bytes is not one at 64 MiB.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vmm_pmr::bench {

// Throws std::invalid_argument with a message naming `text` and what is accepted.
std::size_t parse_byte_size(std::string_view text);
std::vector<std::size_t> parse_byte_size_list(std::string_view text);  // comma-separated
std::uint64_t parse_count(std::string_view text, std::uint64_t minimum, std::uint64_t maximum);

}  // namespace vmm_pmr::bench
