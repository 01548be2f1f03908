// Parsing of byte sizes and counts; see size_argument.hpp for the accepted spellings.
#include "size_argument.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace vmm_pmr::bench {
namespace {

struct unit_spelling {
  std::string_view name;
  int shift;
};

constexpr std::array<unit_spelling, 10> binary_units = {{
    {"", 0},
    {"B", 0},
    {"K", 10},
    {"KiB", 10},
    {"M", 20},
    {"MiB", 20},
    {"G", 30},
    {"GiB", 30},
    {"T", 40},
    {"TiB", 40},
}};

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

// The shift for a unit suffix; -1 for a decimal unit (refused), -2 for an unknown one.
int unit_shift(std::string_view unit) {
  for (const unit_spelling& spelling : binary_units) {
    if (unit == spelling.name) return spelling.shift;
  }
  // Case-insensitive second chance for the unambiguous binary spellings ("mib", "gib").
  for (std::string_view name : {"KiB", "MiB", "GiB", "TiB"}) {
    if (equals_ignoring_case(unit, name)) return unit_shift(name);
  }
  for (std::string_view name : {"kb", "mb", "gb", "tb"}) {
    if (equals_ignoring_case(unit, name)) return -1;
  }
  return -2;
}

}  // namespace

std::size_t parse_byte_size(std::string_view text) {
  const std::string_view trimmed = trim(text);
  std::size_t number_end = 0;
  while (number_end < trimmed.size() &&
         (std::isdigit(static_cast<unsigned char>(trimmed[number_end])) ||
          trimmed[number_end] == '.')) {
    ++number_end;
  }
  const std::string_view number = trimmed.substr(0, number_end);
  const std::string_view unit = trim(trimmed.substr(number_end));

  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || error != std::errc{} || end != number.data() + number.size()) {
    throw std::invalid_argument(fmt::format(
        "'{}' is not a size: write a number with an optional binary unit, e.g. 2MiB, 1.5GiB, 4096",
        text));
  }
  const int shift = unit_shift(unit);
  if (shift == -1) {
    throw std::invalid_argument(
        fmt::format("'{}': decimal units are not accepted, sizes are binary (did you mean {}iB?)",
                    text, unit.substr(0, 1)));
  }
  if (shift < 0) {
    throw std::invalid_argument(
        fmt::format("'{}': unknown unit '{}' (use B, KiB, MiB, GiB or TiB)", text, unit));
  }
  const double bytes = std::ldexp(value, shift);
  if (bytes != std::floor(bytes)) {
    throw std::invalid_argument(fmt::format("'{}' is not a whole number of bytes", text));
  }
  if (bytes < 1 || bytes > static_cast<double>(std::numeric_limits<std::size_t>::max() / 2)) {
    throw std::invalid_argument(
        fmt::format("'{}': a size must be at least 1 byte and fit in memory", text));
  }
  return static_cast<std::size_t>(bytes);
}

std::vector<std::size_t> parse_byte_size_list(std::string_view text) {
  std::vector<std::size_t> sizes;
  while (true) {
    const std::size_t comma = text.find(',');
    sizes.push_back(parse_byte_size(text.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return sizes;
}

std::uint64_t parse_count(std::string_view text, std::uint64_t minimum, std::uint64_t maximum) {
  const std::string_view trimmed = trim(text);
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(trimmed.data(), trimmed.data() + trimmed.size(), value);
  if (trimmed.empty() || error != std::errc{} || end != trimmed.data() + trimmed.size()) {
    throw std::invalid_argument(fmt::format("'{}' is not a whole number", text));
  }
  if (value < minimum || value > maximum) {
    throw std::invalid_argument(
        fmt::format("{} is out of range: expected {} to {}", value, minimum, maximum));
  }
  return value;
}

}  // namespace vmm_pmr::bench
