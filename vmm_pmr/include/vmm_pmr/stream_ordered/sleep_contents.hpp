// What stream_ordered_resource::sleep() does with the contents of live allocations: drop
// them (wake() then maps memory whose contents are undefined) or keep a copy in host memory
// that wake() copies back.
#pragma once

#include <cstdint>

namespace vmm_pmr {

enum class sleep_contents : std::uint8_t { discard, keep };

}  // namespace vmm_pmr
