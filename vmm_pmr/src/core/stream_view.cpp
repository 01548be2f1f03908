#include "vmm_pmr/core/stream_view.hpp"

#include <fmt/format.h>

namespace vmm_pmr {

std::string to_string(stream_view stream) {
  if (stream.is_legacy_default()) return "legacy default stream";
  if (stream.is_per_thread_default()) return "per-thread default stream";
  return fmt::format("stream {:#x}", stream.id());
}

}  // namespace vmm_pmr
