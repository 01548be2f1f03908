// The "key=value,..." parser shared by vmm_pmr_pool_create() and VMM_PMR_CONF. Strict: an
// unknown key, a repeated key, a missing '=' or a value out of range fails with a message
// naming each, since a silently ignored typo ("footprint_limt") would change nothing and
// look like it worked.
#include "c_options.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr::c_interface {
namespace {

constexpr std::string_view accepted_keys =
    "backend, footprint_limit, release_threshold, reservation_size, record";

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  return text;
}

[[noreturn]] void refuse(std::string_view source, std::string_view key, std::string_view value,
                         std::string_view accepted) {
  throw invalid_argument(
      fmt::format("{}: {}={} is not accepted: {}", source, key, value, accepted));
}

std::size_t bytes_option(std::string_view source, std::string_view key, std::string_view value) {
  const std::optional<std::size_t> bytes = parse_bytes(value);
  if (!bytes) {
    refuse(source, key, value,
           "expected a size in bytes, a whole number with an optional unit B, KiB, MiB, GiB "
           "or TiB (e.g. 4096, 512MiB, 1GiB)");
  }
  return *bytes;
}

double footprint_option(std::string_view source, std::string_view value) {
  double limit = 0;
  const auto [end, problem] = std::from_chars(value.data(), value.data() + value.size(), limit);
  if (problem != std::errc{} || end != value.data() + value.size() || !std::isfinite(limit) ||
      limit < 1.0) {
    refuse(source, "footprint_limit", value,
           "expected a finite number >= 1 (the bytes mapped allowed per byte live at the peak, "
           "e.g. 1.02)");
  }
  return limit;
}

}  // namespace

std::optional<std::size_t> parse_bytes(std::string_view text) {
  text = trimmed(text);
  std::uint64_t number = 0;
  const auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (problem != std::errc{} || end == text.data()) return std::nullopt;
  const std::string_view unit = trimmed(text.substr(static_cast<std::size_t>(end - text.data())));
  static constexpr std::pair<std::string_view, unsigned> units[] = {
      {"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
  for (const auto& [name, shift] : units) {
    if (unit != name) continue;
    if (shift != 0 && number > (SIZE_MAX >> shift)) return std::nullopt;
    return static_cast<std::size_t>(number) << shift;
  }
  return std::nullopt;
}

pool_configuration parse_options(std::string_view text, std::string_view source) {
  pool_configuration configuration;
  std::set<std::string, std::less<>> seen;
  while (!text.empty()) {
    const std::size_t comma = text.find(',');
    const std::string_view pair = trimmed(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
    if (pair.empty()) continue;
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos) {
      throw invalid_argument(
          fmt::format("{}: '{}' has no value: write key=value pairs separated by commas (keys: {})",
                      source, pair, accepted_keys));
    }
    const std::string_view key = trimmed(pair.substr(0, equals));
    const std::string_view value = trimmed(pair.substr(equals + 1));
    if (!seen.emplace(key).second) {
      throw invalid_argument(fmt::format(
          "{}: the key {} is given twice (again as {}={}); give it once", source, key, key, value));
    }
    if (key == "backend") {
      if (value == "cuda") {
        configuration.backend = backend_kind::cuda;
      } else if (value == "host") {
        configuration.backend = backend_kind::host;
      } else {
        refuse(source, key, value, "expected cuda or host");
      }
    } else if (key == "footprint_limit") {
      configuration.options.footprint_limit = footprint_option(source, value);
    } else if (key == "release_threshold") {
      configuration.options.release_threshold = bytes_option(source, key, value);
    } else if (key == "reservation_size") {
      configuration.options.reservation_size = bytes_option(source, key, value);
    } else if (key == "record") {
      if (value.empty()) refuse(source, key, value, "expected the path of the trace file");
      configuration.record = std::string(value);
    } else {
      throw invalid_argument(fmt::format("{}: unknown key '{}' (in '{}'); the keys are: {}", source,
                                         key, pair, accepted_keys));
    }
  }
  return configuration;
}

}  // namespace vmm_pmr::c_interface
