// The process's pools, one per device, for the framework hooks.
//
// Each is created at its device's first use, with the options of VMM_PMR_CONF (read and
// parsed once, the first time any device pool is asked for); a bad VMM_PMR_CONF fails every
// vmm_pmr_device_pool() call with the same message. A failed creation is not remembered:
// the next call tries again.
//
// The pools are never destroyed: at exit, frameworks still free tensors from their own
// static destructors and atexit handlers, in an order nobody controls, and the CUDA driver
// may be unloaded before this library's static destructors run. A pool destroyed then would
// turn those frees into use-after-free, and unmapping through an unloaded driver into a
// crash; the operating system takes the memory back anyway. Only the traces (record=) are
// flushed and closed at exit, by an atexit handler, so that no row is lost.
//
// With record=FILE, the pool of device 0 writes FILE and the pool of device D writes FILE.D.
#include <fmt/format.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>
#include <variant>

#include "c_options.hpp"
#include "device_pools.hpp"
#include "last_error.hpp"
#include "pool.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr_c.h"

namespace vmm_pmr::c_interface {
namespace {

constexpr const char* configuration_variable = "VMM_PMR_CONF";

// The configuration, or why VMM_PMR_CONF is refused.
using device_configuration = std::variant<pool_configuration, std::string>;

const device_configuration& configuration_from_environment() {
  static const device_configuration configuration = []() -> device_configuration {
    const char* text = std::getenv(configuration_variable);
    try {
      return parse_options(text == nullptr ? "" : text, configuration_variable);
    } catch (const std::exception& refused) {
      return std::string(refused.what());
    }
  }();
  return configuration;
}

}  // namespace

pool_configuration device_pool_configuration() {
  const device_configuration& configuration = configuration_from_environment();
  if (const auto* refused = std::get_if<std::string>(&configuration)) {
    throw invalid_argument(
        fmt::format("{}; set {} to valid options or unset it", *refused, configuration_variable));
  }
  return std::get<pool_configuration>(configuration);
}

namespace {

std::string trace_path(const std::string& record, int device) {
  return device == 0 ? record : fmt::format("{}.{}", record, device);
}

// Fixed slots: a hit is one atomic load, no lock, on the hooks' hot path.
std::array<std::atomic<vmm_pmr_pool*>, max_devices> pools{};
std::mutex creation;
std::once_flag trace_closer;

void close_traces_at_exit() noexcept {
  for (std::atomic<vmm_pmr_pool*>& slot : pools) {
    if (vmm_pmr_pool* pool = slot.load(std::memory_order_acquire)) pool->close_trace();
  }
}

vmm_pmr_pool* create_device_pool(int device) {
  if (device < 0 || device >= max_devices) {
    throw out_of_range(
        fmt::format("device {} is out of range: device pools exist for devices "
                    "0 to {}",
                    device, max_devices - 1));
  }
  std::lock_guard lock(creation);
  if (vmm_pmr_pool* made = pools[device].load(std::memory_order_acquire)) return made;
  pool_configuration settings = device_pool_configuration();
  if (settings.record) {
    settings.record = trace_path(*settings.record, device);
    std::call_once(trace_closer, [] { std::atexit(close_traces_at_exit); });
  }
  auto* made = new vmm_pmr_pool(device, std::move(settings));
  pools[device].store(made, std::memory_order_release);
  return made;
}

}  // namespace

vmm_pmr_pool* existing_device_pool(int device) noexcept {
  if (device < 0 || device >= max_devices) return nullptr;
  return pools[device].load(std::memory_order_acquire);
}

}  // namespace vmm_pmr::c_interface

extern "C" vmm_pmr_pool* vmm_pmr_device_pool(int device) {
  using namespace vmm_pmr::c_interface;
  if (device >= 0 && device < max_devices) {
    if (vmm_pmr_pool* made = pools[device].load(std::memory_order_acquire)) return made;
  }
  return guarded([&] { return fmt::format("vmm_pmr_device_pool({})", device); },
                 [&] { return create_device_pool(device); }, static_cast<vmm_pmr_pool*>(nullptr));
}
