#include "vmm_pmr/vmm_allocation.hpp"

#include <fmt/format.h>

#include <limits>
#include <string>
#include <utility>

#include "vmm_pmr/byte_size.hpp"
#include "vmm_pmr/error.hpp"

namespace vmm_pmr {

vmm_allocation::vmm_allocation(std::vector<address_range> ranges, std::vector<mapped_chunk> chunks)
    : ranges_(std::move(ranges)), chunks_(std::move(chunks)) {}

vmm_allocation vmm_allocation::build(backend& owner, std::size_t size, std::size_t alignment,
                                     const physical_properties& props,
                                     std::span<const access_grant> access) {
  // Each local owns its driver object until the end; an exception at any step
  // destroys the earlier ones in reverse order.
  physical_memory memory(owner, size, props);
  address_range range(owner, size, alignment);
  mapping map(owner, range.base(), memory, 0, size);
  owner.set_access(map.base(), size, access);

  std::vector<address_range> ranges;
  ranges.reserve(1);
  std::vector<mapped_chunk> chunks;
  chunks.reserve(1);
  ranges.push_back(std::move(range));
  chunks.push_back({std::move(memory), std::move(map)});
  return vmm_allocation(std::move(ranges), std::move(chunks));
}

vmm_allocation vmm_allocation::import(backend& owner, std::span<const shareable_handle> handles,
                                      std::span<const std::size_t> chunk_sizes,
                                      std::size_t alignment, std::span<const access_grant> access) {
  if (handles.empty() || handles.size() != chunk_sizes.size()) {
    throw invalid_argument(fmt::format("vmm_allocation::import: {} handles for {} chunk sizes",
                                       handles.size(), chunk_sizes.size()));
  }
  std::size_t total = 0;
  for (std::size_t size : chunk_sizes) {
    if (size > std::numeric_limits<std::size_t>::max() - total) {
      throw invalid_argument("vmm_allocation::import: the chunk sizes overflow when added");
    }
    total += size;
  }

  std::vector<address_range> ranges;
  ranges.reserve(1);
  // Declared after the reservation, so a failure unmaps and releases the chunks made so
  // far before the reservation is freed.
  address_range range(owner, total, alignment);
  std::vector<mapped_chunk> chunks;
  chunks.reserve(chunk_sizes.size());  // push_back below cannot throw then
  std::size_t offset = 0;
  for (std::size_t i = 0; i < chunk_sizes.size(); ++i) {
    try {
      physical_memory memory =
          physical_memory::adopt(owner, owner.import_handle(handles[i]), chunk_sizes[i]);
      mapping map(owner, range.base() + offset, memory, 0, chunk_sizes[i]);
      chunks.push_back({std::move(memory), std::move(map)});
    } catch (const driver_error& failure) {
      const std::string where = fmt::format("importing chunk {} of {} ({})", i, chunk_sizes.size(),
                                            format_bytes(chunk_sizes[i]));
      throw driver_error(failure.call(), failure.result_name(), failure.result_code(),
                         failure.detail().empty() ? where : failure.detail() + "; " + where);
    }
    offset += chunk_sizes[i];
  }
  // Once for the whole range: the driver's cost is per call, not per chunk.
  owner.set_access(range.base(), total, access);

  ranges.push_back(std::move(range));
  return vmm_allocation(std::move(ranges), std::move(chunks));
}

vmm_allocation& vmm_allocation::operator=(vmm_allocation&& other) noexcept {
  if (this != &other) {
    chunks_.clear();
    ranges_.clear();
    ranges_ = std::move(other.ranges_);
    chunks_ = std::move(other.chunks_);
  }
  return *this;
}

std::size_t vmm_allocation::mapped_bytes() const noexcept {
  std::size_t bytes = 0;
  for (const mapped_chunk& chunk : chunks_) bytes += chunk.map.size();
  return bytes;
}

}  // namespace vmm_pmr
