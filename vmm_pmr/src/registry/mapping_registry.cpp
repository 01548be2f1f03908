#include "vmm_pmr/registry/mapping_registry.hpp"

#include <algorithm>
#include <mutex>

namespace vmm_pmr {
namespace {

constexpr std::size_t recently_freed_capacity = 1024;

// An aliased entry maps memory another entry holds: it counts as an allocation, with no
// bytes of its own.
std::size_t counted_bytes(const allocation_info& info) {
  return info.aliased ? 0 : info.requested_bytes;
}
std::size_t counted_mapped_bytes(const allocation_info& info) {
  return info.aliased ? 0 : info.mapped_bytes;
}

void count_allocation(allocation_stats& stats, const allocation_info& info) {
  ++stats.live_count;
  stats.live_bytes += counted_bytes(info);
  stats.live_mapped_bytes += counted_mapped_bytes(info);
  ++stats.total_count;
  stats.total_bytes += counted_bytes(info);
  stats.peak_count = std::max(stats.peak_count, stats.live_count);
  stats.peak_bytes = std::max(stats.peak_bytes, stats.live_bytes);
  stats.peak_mapped_bytes = std::max(stats.peak_mapped_bytes, stats.live_mapped_bytes);
}

void count_deallocation(allocation_stats& stats, const allocation_info& info) {
  --stats.live_count;
  stats.live_bytes -= counted_bytes(info);
  stats.live_mapped_bytes -= counted_mapped_bytes(info);
}

}  // namespace

mapping_registry& mapping_registry::global() {
  static auto* registry = new mapping_registry();
  return *registry;
}

allocation_info mapping_registry::describe(const entry& e) {
  allocation_info info = e.info;
  info.chunks.reserve(e.allocation.chunks().size());
  for (const mapped_chunk& chunk : e.allocation.chunks()) {
    info.chunks.push_back({chunk.map.base(), chunk.map.size(), chunk.memory.handle()});
  }
  info.reservations.reserve(e.allocation.ranges().size());
  for (const address_range& range : e.allocation.ranges()) {
    info.reservations.push_back({range.base(), range.size()});
  }
  return info;
}

const mapping_registry::entry* mapping_registry::entry_containing(address at) const {
  auto after = entries_.upper_bound(at);
  if (after == entries_.begin()) return nullptr;
  const entry& candidate = std::prev(after)->second;
  if (at >= candidate.info.base + candidate.info.mapped_bytes) return nullptr;
  return &candidate;
}

void mapping_registry::note_freed(owner_state& state, address base) {
  if (state.recently_freed.size() < recently_freed_capacity) {
    state.recently_freed.push_back(base);
    return;
  }
  state.recently_freed[state.next_freed_slot] = base;
  state.next_freed_slot = (state.next_freed_slot + 1) % recently_freed_capacity;
}

address mapping_registry::add(const void* owner, vmm_allocation allocation,
                              const detail::allocation_description& description) {
  const address base = allocation.base();
  entry e{std::move(allocation), {}};
  e.info.base = base;
  e.info.requested_bytes = description.requested_bytes;
  e.info.mapped_bytes = e.allocation.mapped_bytes();
  e.info.alignment = description.alignment;
  e.info.location = description.location;
  e.info.owner = owner;
  e.info.compressed = description.compressed;
  e.info.imported = description.imported;
  e.info.aliased = description.aliased;

  std::unique_lock lock(mutex_);
  e.info.sequence = next_sequence_++;
  owner_state& state = owners_[owner];
  count_allocation(state.stats, e.info);
  count_allocation(totals_, e.info);
  entries_.emplace(base, std::move(e));
  return base;
}

detail::removal mapping_registry::remove(const void* owner, const void* pointer,
                                         std::size_t bytes) {
  const auto at = reinterpret_cast<address>(pointer);
  detail::removal result;
  std::unique_lock lock(mutex_);
  // Live entries are checked first, so a base the driver has handed out again is
  // never mistaken for a double free.
  owner_state* state = &owners_[owner];  // bad deallocations count even before any allocation

  const entry* holder = entry_containing(at);
  if (holder == nullptr) {
    const bool freed_before = std::find(state->recently_freed.begin(), state->recently_freed.end(),
                                        at) != state->recently_freed.end();
    result.status = freed_before ? detail::removal_status::double_free
                                 : detail::removal_status::unknown_pointer;
  } else if (holder->info.owner != owner) {
    result.status = detail::removal_status::wrong_owner;
  } else if (holder->info.base != at) {
    result.status = detail::removal_status::interior_pointer;
  } else if (holder->info.requested_bytes != bytes) {
    result.status = detail::removal_status::wrong_size;
  } else {
    result.status = detail::removal_status::removed;
  }
  if (result.status != detail::removal_status::removed) {
    if (holder != nullptr) result.found = describe(*holder);
    ++state->stats.deallocation_errors;
    ++totals_.deallocation_errors;
    return result;
  }

  auto node = entries_.extract(at);
  count_deallocation(state->stats, node.mapped().info);
  count_deallocation(totals_, node.mapped().info);
  note_freed(*state, at);
  result.allocation = std::move(node.mapped().allocation);
  return result;
}

detail::resize_outcome mapping_registry::resize(const void* owner, const void* pointer,
                                                std::size_t bytes,
                                                const detail::change_builder& build) {
  const auto at = reinterpret_cast<address>(pointer);
  detail::resize_outcome outcome;
  // Declared before the locks: whatever the change holds is destroyed (driver calls)
  // only after they are released, even when applying it throws.
  detail::allocation_change change;
  std::size_t chunks_before = 0;
  std::size_t mapped_before = 0;
  {
    std::shared_lock lock(mutex_);
    const entry* holder = entry_containing(at);
    if (holder == nullptr) {
      outcome.status = detail::resize_status::unknown_pointer;
    } else if (holder->info.owner != owner) {
      outcome.status = detail::resize_status::wrong_owner;
    } else if (holder->info.base != at) {
      outcome.status = detail::resize_status::interior_pointer;
    } else if (holder->info.requested_bytes != bytes) {
      outcome.status = detail::resize_status::wrong_size;
    } else {
      outcome.status = detail::resize_status::resized;
    }
    if (outcome.status != detail::resize_status::resized) {
      if (holder != nullptr) outcome.found = describe(*holder);
      return outcome;
    }
    chunks_before = holder->allocation.chunks().size();
    mapped_before = holder->info.mapped_bytes;
    change = build(describe(*holder), holder->allocation);
  }

  std::unique_lock lock(mutex_);
  auto it = entries_.find(at);
  // Another thread freed or resized it between the two locks (a race in the caller's
  // code): nothing is applied, and what was built is handed back to be destroyed.
  if (it == entries_.end() || it->second.info.owner != owner ||
      it->second.info.requested_bytes != bytes ||
      it->second.allocation.chunks().size() != chunks_before ||
      it->second.info.mapped_bytes != mapped_before) {
    outcome.status = detail::resize_status::changed_meanwhile;
    outcome.leftover = std::move(change.pieces);
    return outcome;
  }
  entry& changed = it->second;
  switch (change.kind) {
    case detail::allocation_change_kind::none:
      break;
    case detail::allocation_change_kind::append:
      changed.allocation.append(std::move(change.pieces));
      break;
    case detail::allocation_change_kind::relocate: {
      auto node = entries_.extract(it);
      outcome.leftover = node.mapped().allocation.relocate(std::move(change.pieces));
      node.key() = node.mapped().allocation.base();
      node.mapped().info.base = node.key();
      it = entries_.insert(std::move(node)).position;
      break;
    }
    case detail::allocation_change_kind::split_tail:
      outcome.leftover = changed.allocation.split_tail(change.chunks_kept);
      break;
  }
  entry& resized = it->second;
  const std::size_t mapped_after = resized.allocation.mapped_bytes();
  owner_state& state = owners_[owner];
  for (allocation_stats* stats : {&state.stats, &totals_}) {
    stats->live_bytes = stats->live_bytes - bytes + change.requested_bytes;
    stats->live_mapped_bytes = stats->live_mapped_bytes - mapped_before + mapped_after;
    if (change.requested_bytes > bytes) stats->total_bytes += change.requested_bytes - bytes;
    stats->peak_bytes = std::max(stats->peak_bytes, stats->live_bytes);
    stats->peak_mapped_bytes = std::max(stats->peak_mapped_bytes, stats->live_mapped_bytes);
  }
  resized.info.requested_bytes = change.requested_bytes;
  resized.info.mapped_bytes = mapped_after;
  outcome.base = resized.info.base;
  return outcome;
}

std::optional<allocation_info> mapping_registry::find(const void* pointer) const {
  std::shared_lock lock(mutex_);
  const entry* holder = entry_containing(reinterpret_cast<address>(pointer));
  if (holder == nullptr) return std::nullopt;
  return describe(*holder);
}

bool mapping_registry::with_allocation_containing(
    const void* pointer, const std::function<void(const allocation_info&)>& function) const {
  std::shared_lock lock(mutex_);
  const entry* holder = entry_containing(reinterpret_cast<address>(pointer));
  if (holder == nullptr) return false;
  function(describe(*holder));
  return true;
}

std::vector<allocation_info> mapping_registry::live(const void* owner) const {
  std::shared_lock lock(mutex_);
  std::vector<allocation_info> infos;
  for (const auto& [base, e] : entries_) {
    if (e.info.owner == owner) infos.push_back(describe(e));
  }
  return infos;
}

allocation_stats mapping_registry::stats(const void* owner) const {
  std::shared_lock lock(mutex_);
  auto it = owners_.find(owner);
  return it == owners_.end() ? allocation_stats{} : it->second.stats;
}

allocation_stats mapping_registry::stats() const {
  std::shared_lock lock(mutex_);
  return totals_;
}

std::pair<std::vector<vmm_allocation>, leak_report> mapping_registry::release_all(
    const void* owner) {
  std::vector<vmm_allocation> allocations;
  leak_report report;
  report.owner = owner;
  std::unique_lock lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->second.info.owner != owner) {
      ++it;
      continue;
    }
    report.leaked.push_back(describe(it->second));
    report.leaked_bytes += counted_bytes(it->second.info);
    count_deallocation(totals_, it->second.info);
    allocations.push_back(std::move(it->second.allocation));
    it = entries_.erase(it);
  }
  owners_.erase(owner);
  lock.unlock();
  // Report in the order the leaks were made: the first one is often the culprit.
  std::sort(
      report.leaked.begin(), report.leaked.end(),
      [](const allocation_info& a, const allocation_info& b) { return a.sequence < b.sequence; });
  return {std::move(allocations), std::move(report)};
}

}  // namespace vmm_pmr
