// Everything public in vmm_pmr, in layer order (lowest first). The interop/ headers need
// CCCL or Thrust, so they are included on their own; formatters.hpp needs fmt.
#pragma once

// core
#include "vmm_pmr/core/access_grant.hpp"
#include "vmm_pmr/core/allocation_type.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/compression.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/handle_types.hpp"
#include "vmm_pmr/core/memory_location.hpp"
#include "vmm_pmr/core/stream_view.hpp"

// backend
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/forwarding_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"

// handles
#include "vmm_pmr/handles/address_range.hpp"
#include "vmm_pmr/handles/event.hpp"
#include "vmm_pmr/handles/mapping.hpp"
#include "vmm_pmr/handles/physical_memory.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"

// registry
#include "vmm_pmr/registry/allocation_info.hpp"
#include "vmm_pmr/registry/allocation_stats.hpp"
#include "vmm_pmr/registry/leak_report.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"

// ipc
#include "vmm_pmr/ipc/exported_allocation.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"
#include "vmm_pmr/ipc/shared_allocation_descriptor.hpp"
#include "vmm_pmr/ipc/unique_fd.hpp"

// resource
#include "vmm_pmr/resource/current_resource.hpp"
#include "vmm_pmr/resource/deallocation_error.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

// stream_ordered
#include "vmm_pmr/stream_ordered/sleep_contents.hpp"
#include "vmm_pmr/stream_ordered/stream_bound_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_options.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_stats.hpp"

// buffer
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/recording/recording_resource.hpp"
#include "vmm_pmr/recording/recording_stream_ordered_resource.hpp"
#include "vmm_pmr/recording/trace_event.hpp"
#include "vmm_pmr/recording/trace_writer.hpp"
