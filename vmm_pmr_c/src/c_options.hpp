// The options of the C interface: "key=value,key=value" (vmm_pmr_c.h lists the keys),
// as given to vmm_pmr_pool_create() or in VMM_PMR_CONF, turned into a pool's settings.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vmm_pmr/stream_ordered/stream_ordered_options.hpp"

namespace vmm_pmr::c_interface {

enum class backend_kind { cuda, host };

struct pool_configuration {
  backend_kind backend = backend_kind::cuda;
  stream_ordered_options options;
  std::optional<std::string> record;  // the trace file
};

// Throws vmm_pmr::invalid_argument naming `source` (where the text came from: "options" or
// "VMM_PMR_CONF"), the key, the value and what is accepted.
pool_configuration parse_options(std::string_view text, std::string_view source);

// "4096", "512MiB", "1GiB", "3 KiB": bytes; nullopt for anything else (overflow included).
std::optional<std::size_t> parse_bytes(std::string_view text);

}  // namespace vmm_pmr::c_interface
