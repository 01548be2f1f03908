#include "vmm_pmr/handles/vmm_allocation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <limits>
#include <string>
#include <utility>

#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {

vmm_allocation::vmm_allocation(std::vector<address_range> ranges, std::vector<mapped_chunk> chunks)
    : ranges_(std::move(ranges)), chunks_(std::move(chunks)) {}

vmm_allocation vmm_allocation::build(backend& owner, std::size_t size, std::size_t alignment,
                                     const physical_properties& props,
                                     std::span<const access_grant> access,
                                     std::size_t reserved_size) {
  // Each local owns its driver object until the end; an exception at any step
  // destroys the earlier ones in reverse order.
  physical_memory memory(owner, size, props);
  address_range range(owner, std::max(size, reserved_size), alignment);
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

std::size_t vmm_allocation::reserved_bytes() const noexcept {
  std::size_t bytes = 0;
  for (const address_range& range : ranges_) bytes += range.size();
  return bytes;
}

vmm_allocation vmm_allocation::build_extension(backend& owner, std::size_t map_bytes,
                                               std::size_t reserve_bytes,
                                               const physical_properties& props,
                                               std::span<const access_grant> access) const {
  assert(!ranges_.empty());
  const address mapped_end = ranges_.front().base() + mapped_bytes();
  const address reserved_end = ranges_.back().end();
  const std::size_t room = reserved_end - mapped_end;
  const std::size_t missing = std::max(map_bytes > room ? map_bytes - room : 0, reserve_bytes);

  // Declared before the chunk's locals: a failure unmaps and releases before freeing.
  address_range behind;
  if (missing != 0) {
    behind = address_range(owner, missing, 0, reserved_end);
    // Taken: the backend reserved elsewhere. `behind` gives that range back on return.
    if (behind.base() != reserved_end) return {};
  }
  // No mapping spans two reservations: what fits in the current one's free tail is a
  // chunk of its own, the rest another chunk in the new reservation. Access is set per
  // chunk then, never across the reservations' boundary either.
  const std::size_t first_bytes = map_bytes > room && room != 0 ? room : map_bytes;
  physical_memory memory;
  mapping map;
  physical_memory second_memory;
  mapping second_map;
  if (first_bytes != 0) {
    memory = physical_memory(owner, first_bytes, props);
    map = mapping(owner, mapped_end, memory, 0, first_bytes);
    owner.set_access(mapped_end, first_bytes, access);
  }
  if (map_bytes > first_bytes) {
    second_memory = physical_memory(owner, map_bytes - first_bytes, props);
    second_map = mapping(owner, reserved_end, second_memory, 0, map_bytes - first_bytes);
    owner.set_access(reserved_end, map_bytes - first_bytes, access);
  }

  std::vector<address_range> ranges;
  ranges.reserve(1);
  std::vector<mapped_chunk> chunks;
  chunks.reserve(2);
  if (behind) ranges.push_back(std::move(behind));
  if (map) chunks.push_back({std::move(memory), std::move(map)});
  if (second_map) chunks.push_back({std::move(second_memory), std::move(second_map)});
  return vmm_allocation(std::move(ranges), std::move(chunks));
}

vmm_allocation vmm_allocation::build_relocation(backend& owner, std::size_t map_bytes,
                                                std::size_t reserved_size, std::size_t alignment,
                                                const physical_properties& props,
                                                std::span<const access_grant> access) const {
  const std::size_t mapped = mapped_bytes();
  assert(reserved_size >= mapped + map_bytes);
  address_range range(owner, reserved_size, alignment);
  // Declared after the reservation: a failure unmaps everything mapped so far first.
  std::vector<mapped_chunk> chunks;
  chunks.reserve(chunks_.size() + 1);  // push_back below cannot throw then
  std::size_t offset = 0;
  for (const mapped_chunk& chunk : chunks_) {
    // The same physical memory at a second address: nothing is copied.
    mapping map(owner, range.base() + offset, chunk.memory, 0, chunk.map.size());
    chunks.push_back({physical_memory(), std::move(map)});
    offset += chunk.map.size();
  }
  physical_memory memory;
  mapping map;
  if (map_bytes != 0) {
    memory = physical_memory(owner, map_bytes, props);
    map = mapping(owner, range.base() + offset, memory, 0, map_bytes);
  }
  // Once over the whole contiguous run: the driver's cost is per call.
  owner.set_access(range.base(), mapped + map_bytes, access);

  if (map) chunks.push_back({std::move(memory), std::move(map)});
  std::vector<address_range> ranges;
  ranges.reserve(1);
  ranges.push_back(std::move(range));
  return vmm_allocation(std::move(ranges), std::move(chunks));
}

void vmm_allocation::append(vmm_allocation&& extension) {
  ranges_.reserve(ranges_.size() + extension.ranges_.size());
  chunks_.reserve(chunks_.size() + extension.chunks_.size());
  // Moves only from here on: nothing can throw.
  for (address_range& range : extension.ranges_) ranges_.push_back(std::move(range));
  for (mapped_chunk& chunk : extension.chunks_) chunks_.push_back(std::move(chunk));
  extension.chunks_.clear();
  extension.ranges_.clear();
}

vmm_allocation vmm_allocation::relocate(vmm_allocation&& relocation) noexcept {
  assert(relocation.chunks_.size() >= chunks_.size());
  for (std::size_t i = 0; i < chunks_.size(); ++i) {
    assert(!relocation.chunks_[i].memory);
    relocation.chunks_[i].memory = std::move(chunks_[i].memory);
  }
  ranges_.swap(relocation.ranges_);
  chunks_.swap(relocation.chunks_);
  return std::move(relocation);
}

vmm_allocation vmm_allocation::split_tail(std::size_t chunks_kept) {
  assert(chunks_kept <= chunks_.size());
  std::vector<mapped_chunk> tail;
  tail.reserve(chunks_.size() - chunks_kept);
  for (std::size_t i = chunks_kept; i < chunks_.size(); ++i) tail.push_back(std::move(chunks_[i]));
  chunks_.resize(chunks_kept);  // only moved-from chunks go: no driver call
  return vmm_allocation({}, std::move(tail));
}

}  // namespace vmm_pmr
