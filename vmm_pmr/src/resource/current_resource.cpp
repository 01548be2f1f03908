// Invariant: the table holds raw pointers for what users set, and owns what it made
// itself (the defaults, installed resources) for the rest of the process, so a
// pointer it ever returned stays valid: code that saves the previous resource and
// restores it later never restores a dangling one. The table is never destroyed,
// so it can be used from static destructors at exit.
#include "vmm_pmr/resource/current_resource.hpp"

#include <fmt/format.h>

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {
namespace {

struct device_slot {
  std::pmr::memory_resource* current = nullptr;
  std::shared_ptr<vmm_resource> default_resource;
  std::vector<std::shared_ptr<vmm_resource>> installed;
};

struct resource_table {
  std::mutex mutex;
  std::map<int, device_slot> slots;
};

resource_table& table() {
  static auto* instance = new resource_table();
  return *instance;
}

void check_device(int device) {
  if (device < 0) {
    throw invalid_argument(fmt::format("device {} is not a device ordinal", device));
  }
}

}  // namespace

std::pmr::memory_resource* current_device_resource(int device) {
  check_device(device);
  resource_table& t = table();
  std::lock_guard lock(t.mutex);
  device_slot& slot = t.slots[device];
  if (slot.current != nullptr) return slot.current;
  if (!slot.default_resource) {
    vmm_options options;
    options.device = device;
    slot.default_resource = std::make_shared<vmm_resource>(cuda_backend(), options);
  }
  slot.current = slot.default_resource.get();
  return slot.current;
}

std::pmr::memory_resource* set_current_device_resource(int device,
                                                       std::pmr::memory_resource* resource) {
  check_device(device);
  resource_table& t = table();
  std::lock_guard lock(t.mutex);
  device_slot& slot = t.slots[device];
  return std::exchange(slot.current, resource);
}

std::shared_ptr<vmm_resource> install_vmm_resource(vmm_options options, pmr_default also,
                                                   std::shared_ptr<backend> backend) {
  if (!backend) backend = cuda_backend();
  const int device = options.device;
  auto resource = std::make_shared<vmm_resource>(std::move(backend), std::move(options));
  resource_table& t = table();
  {
    std::lock_guard lock(t.mutex);
    device_slot& slot = t.slots[device];
    slot.installed.push_back(resource);
    slot.current = resource.get();
  }
  if (also == pmr_default::replace) std::pmr::set_default_resource(resource.get());
  return resource;
}

}  // namespace vmm_pmr
