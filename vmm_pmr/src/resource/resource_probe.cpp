#include "resource/resource_probe.hpp"

#include <fmt/format.h>

#include "resource/device_label.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/resource/vmm_options_formatter.hpp"

namespace vmm_pmr::detail {
namespace {

void probe(backend& owner, const vmm_options& options, const resolved_options& resolved,
           const physical_properties& properties) {
  physical_memory granule(owner, resolved.granularity, properties);
  if (options.compression == compression::required &&
      !owner.properties_of(granule.handle()).compressible) {
    throw unsupported_error(
        fmt::format("compression required: {} did not make a {} probe allocation compressible",
                    device_label(resolved.device), format_bytes(resolved.granularity)));
  }
}

}  // namespace

physical_properties probe_options(backend& owner, const vmm_options& options,
                                  const resolved_options& resolved) {
  try {
    probe(owner, options, resolved, resolved.properties);
    return resolved.properties;
  } catch (const driver_error& failure) {
    // Fabric handles need an IMEX channel that the device attribute does not reveal
    // (driver 580: CUDA_ERROR_NOT_PERMITTED). Asked for posix_fd too, the resource
    // carries on with posix_fd alone, as NCCL does; shareable() tells.
    constexpr handle_types both = handle_types::posix_fd | handle_types::fabric;
    if (contains(resolved.properties.shareable, both)) {
      physical_properties without_fabric = resolved.properties;
      without_fabric.shareable = handle_types::posix_fd;
      try {
        probe(owner, options, resolved, without_fabric);
        return without_fabric;
      } catch (const driver_error&) {
        // Not fabric's fault then: report the first refusal below.
      }
    }
    throw unsupported_error(fmt::format("options [{}] refused by {}: {}", options,
                                        device_label(resolved.device), failure.what()));
  }
}

}  // namespace vmm_pmr::detail
