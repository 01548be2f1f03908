#include "vmm_pmr/vmm_allocation.hpp"

#include <utility>

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
