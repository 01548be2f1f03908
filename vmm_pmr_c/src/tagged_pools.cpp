// Pools by tag: for each device, up to 32 pools made at first use, each like the device's
// own pool (VMM_PMR_CONF's options, without a trace), so that one tag's memory sleeps and
// wakes apart from the rest. The calling thread's tag picks the pool the framework hooks
// allocate from; a free finds its pool by address (stream_ordered_resource::holds, no lock).
//
// Invariant: a slot's name is written before its pool is published (release store), and
// neither changes afterwards; the pools are never destroyed, like the device pools.
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>

#include "device_pools.hpp"
#include "last_error.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr_c.h"

namespace vmm_pmr::c_interface {
namespace {

constexpr std::size_t max_tag_length = 63;
constexpr int max_tags = 32;

struct tag_slot {
  std::array<char, max_tag_length + 1> name{};
  std::atomic<vmm_pmr_pool*> pool{nullptr};
};

std::array<std::array<tag_slot, max_tags>, max_devices> slots;
std::mutex creation;

std::string& current_tag() noexcept {
  thread_local std::string tag;
  return tag;
}

vmm_pmr_pool* find_tagged(int device, std::string_view tag) noexcept {
  for (tag_slot& slot : slots[device]) {
    vmm_pmr_pool* pool = slot.pool.load(std::memory_order_acquire);
    if (pool == nullptr) return nullptr;  // slots fill in order
    if (tag == slot.name.data()) return pool;
  }
  return nullptr;
}

vmm_pmr_pool* create_tagged(int device, std::string_view tag) {
  if (device < 0 || device >= max_devices) {
    throw out_of_range(
        fmt::format("device {} is out of range: tagged pools exist for devices 0 to {}", device,
                    max_devices - 1));
  }
  if (tag.size() > max_tag_length) {
    throw invalid_argument(
        fmt::format("the tag is {} bytes long; tags have at most {}", tag.size(), max_tag_length));
  }
  std::lock_guard lock(creation);
  if (vmm_pmr_pool* made = find_tagged(device, tag)) return made;
  for (tag_slot& slot : slots[device]) {
    if (slot.pool.load(std::memory_order_relaxed) != nullptr) continue;
    pool_configuration settings = device_pool_configuration();
    settings.record.reset();
    auto* made = new vmm_pmr_pool(device, std::move(settings));
    std::memcpy(slot.name.data(), tag.data(), tag.size());
    slot.pool.store(made, std::memory_order_release);
    return made;
  }
  throw invalid_argument(
      fmt::format("device {} has pools for {} tags already, the most there may be; use fewer tags",
                  device, max_tags));
}

}  // namespace
}  // namespace vmm_pmr::c_interface

extern "C" {

int vmm_pmr_set_tag(const char* tag) {
  using namespace vmm_pmr::c_interface;
  const std::string_view name = tag == nullptr ? std::string_view() : std::string_view(tag);
  if (name.size() > max_tag_length) {
    set_last_error(fmt::format("vmm_pmr_set_tag: the tag is {} bytes long; tags have at most {}",
                               name.size(), max_tag_length));
    return -1;
  }
  return guarded([] { return std::string("vmm_pmr_set_tag"); },
                 [&] {
                   current_tag().assign(name);
                   return 0;
                 },
                 -1);
}

const char* vmm_pmr_current_tag(void) { return vmm_pmr::c_interface::current_tag().c_str(); }

vmm_pmr_pool* vmm_pmr_tagged_pool(int device, const char* tag) {
  using namespace vmm_pmr::c_interface;
  if (tag == nullptr || *tag == '\0') return vmm_pmr_device_pool(device);
  if (device >= 0 && device < max_devices) {
    if (vmm_pmr_pool* pool = find_tagged(device, tag)) return pool;
  }
  return guarded([&] { return fmt::format("vmm_pmr_tagged_pool({}, \"{}\")", device, tag); },
                 [&] { return create_tagged(device, tag); }, static_cast<vmm_pmr_pool*>(nullptr));
}

vmm_pmr_pool* vmm_pmr_pool_holding(int device, const void* pointer) {
  using namespace vmm_pmr::c_interface;
  if (device < 0 || device >= max_devices) return vmm_pmr_device_pool(device);
  if (vmm_pmr_pool* pool = existing_device_pool(device);
      pool != nullptr && pool->resource().holds(pointer)) {
    return pool;
  }
  for (tag_slot& slot : slots[device]) {
    vmm_pmr_pool* pool = slot.pool.load(std::memory_order_acquire);
    if (pool == nullptr) break;
    if (pool->resource().holds(pointer)) return pool;
  }
  // Freeing there reports the bad free, counted in that pool's statistics.
  return vmm_pmr_device_pool(device);
}

}  // extern "C"
