// The C entry points of the pools a caller owns: each checks its arguments, runs the pool's
// call in guarded() (last_error.hpp) and turns the outcome into NULL / -1 and a message.
#include <fmt/format.h>

#include <functional>
#include <limits>
#include <string>

#include "c_options.hpp"
#include "last_error.hpp"
#include "pool.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr_c.h"

using vmm_pmr::c_interface::guarded;
using vmm_pmr::c_interface::set_last_error;
using vmm_pmr::c_interface::stream_of;

namespace {

// NULL pools fail every call the same way.
bool refuse_null(const vmm_pmr_pool* pool, const char* call) {
  if (pool != nullptr) return false;
  set_last_error(
      fmt::format("{}: the pool is NULL; pass a pool from vmm_pmr_pool_create or "
                  "vmm_pmr_device_pool",
                  call));
  return true;
}

// A refused free: the call, the resource's diagnosis, what to do.
void set_refused_free(const std::string& call, const std::string& refused) {
  set_last_error(
      fmt::format("{} failed: {}; pass a pointer this pool returned, freed once, "
                  "with the size it was allocated with",
                  call, refused));
}

std::string quoted(const char* text) {
  return text == nullptr ? std::string("NULL") : fmt::format("\"{}\"", text);
}

}  // namespace

extern "C" {

vmm_pmr_pool* vmm_pmr_pool_create(int device, const char* options) {
  const auto call = [&] {
    return fmt::format("vmm_pmr_pool_create({}, {})", device, quoted(options));
  };
  return guarded(
      call,
      [&]() -> vmm_pmr_pool* {
        if (device < 0) {
          throw vmm_pmr::invalid_argument(fmt::format(
              "device {} is negative; pass a device ordinal (0 for the first GPU)", device));
        }
        return new vmm_pmr_pool(device, vmm_pmr::c_interface::parse_options(
                                            options == nullptr ? "" : options, "options"));
      },
      static_cast<vmm_pmr_pool*>(nullptr));
}

int64_t vmm_pmr_pool_destroy(vmm_pmr_pool* pool) {
  if (refuse_null(pool, "vmm_pmr_pool_destroy")) return -1;
  const auto call = [] { return std::string("vmm_pmr_pool_destroy"); };
  const int64_t live = guarded(
      call, [&] { return static_cast<int64_t>(pool->resource().stats().live_count); }, int64_t{0});
  // The destructors report their own failures on stderr and throw nothing.
  delete pool;
  return live;
}

void* vmm_pmr_pool_allocate(vmm_pmr_pool* pool, size_t size, void* stream) {
  if (refuse_null(pool, "vmm_pmr_pool_allocate")) return nullptr;
  const auto call = [&] {
    return fmt::format("vmm_pmr_pool_allocate({} bytes, stream {})", size, stream);
  };
  return guarded(
      call, [&] { return pool->allocate(size, stream_of(stream)); }, static_cast<void*>(nullptr));
}

int vmm_pmr_pool_deallocate(vmm_pmr_pool* pool, void* pointer, size_t size, void* stream) {
  if (refuse_null(pool, "vmm_pmr_pool_deallocate")) return -1;
  const auto call = [&] {
    return fmt::format("vmm_pmr_pool_deallocate({}, {} bytes, stream {})", pointer, size, stream);
  };
  return guarded(
      call,
      [&] {
        if (auto refused = pool->deallocate(pointer, size, stream_of(stream))) {
          set_refused_free(call(), *refused);
          return -1;
        }
        return 0;
      },
      -1);
}

int vmm_pmr_pool_free(vmm_pmr_pool* pool, void* pointer) {
  if (refuse_null(pool, "vmm_pmr_pool_free")) return -1;
  const auto call = [&] { return fmt::format("vmm_pmr_pool_free({})", pointer); };
  return guarded(
      call,
      [&] {
        if (auto refused = pool->free(pointer)) {
          set_refused_free(call(), *refused);
          return -1;
        }
        return 0;
      },
      -1);
}

int64_t vmm_pmr_pool_trim(vmm_pmr_pool* pool, size_t bytes_to_keep) {
  if (refuse_null(pool, "vmm_pmr_pool_trim")) return -1;
  const auto call = [&] {
    return fmt::format("vmm_pmr_pool_trim({} bytes to keep)", bytes_to_keep);
  };
  return guarded(
      call,
      [&] {
        const std::size_t released = pool->resource().trim(bytes_to_keep);
        return static_cast<int64_t>(
            std::min<std::size_t>(released, std::numeric_limits<int64_t>::max()));
      },
      int64_t{-1});
}

int vmm_pmr_pool_settle(vmm_pmr_pool* pool, void* stream) {
  if (refuse_null(pool, "vmm_pmr_pool_settle")) return -1;
  const auto call = [&] { return fmt::format("vmm_pmr_pool_settle(stream {})", stream); };
  return guarded(
      call,
      [&] {
        pool->resource().settle(stream_of(stream));
        return 0;
      },
      -1);
}

int vmm_pmr_pool_stats(const vmm_pmr_pool* pool, vmm_pmr_stats* out) {
  if (refuse_null(pool, "vmm_pmr_pool_stats")) return -1;
  if (out == nullptr) {
    set_last_error("vmm_pmr_pool_stats: out is NULL; pass the address of a vmm_pmr_stats");
    return -1;
  }
  const auto call = [] { return std::string("vmm_pmr_pool_stats"); };
  return guarded(
      call,
      [&] {
        const vmm_pmr::stream_ordered_stats stats = pool->resource().stats();
        *out = vmm_pmr_stats{
            stats.live_count,          stats.live_bytes,
            stats.cached_bytes,        stats.mapped_bytes,
            stats.reserved_bytes,      stats.peak_live_bytes,
            stats.peak_mapped_bytes,   stats.chunk_count,
            stats.alias_ranges,        stats.alias_bytes,
            stats.allocations,         stats.deallocations,
            stats.chunks_mapped,       stats.chunks_released,
            stats.bytes_released,      stats.trims,
            stats.deallocation_errors, stats.sleeping_bytes,
        };
        return 0;
      },
      -1);
}

int64_t vmm_pmr_pool_sleep(vmm_pmr_pool* pool, int keep_contents) {
  if (refuse_null(pool, "vmm_pmr_pool_sleep")) return -1;
  const auto call = [&] { return fmt::format("vmm_pmr_pool_sleep({})", keep_contents); };
  return guarded(
      call,
      [&] {
        const std::size_t released = pool->resource().sleep(
            keep_contents != 0 ? vmm_pmr::sleep_contents::keep : vmm_pmr::sleep_contents::discard);
        return static_cast<int64_t>(
            std::min<std::size_t>(released, std::numeric_limits<int64_t>::max()));
      },
      int64_t{-1});
}

int vmm_pmr_pool_wake(vmm_pmr_pool* pool) {
  if (refuse_null(pool, "vmm_pmr_pool_wake")) return -1;
  const auto call = [] { return std::string("vmm_pmr_pool_wake"); };
  return guarded(
      call,
      [&] {
        pool->resource().wake();
        return 0;
      },
      -1);
}

int vmm_pmr_pool_set_sleep_hooks(vmm_pmr_pool* pool, vmm_pmr_sleep_hook before_sleep,
                                 vmm_pmr_sleep_hook after_wake, void* user) {
  if (refuse_null(pool, "vmm_pmr_pool_set_sleep_hooks")) return -1;
  const auto call = [] { return std::string("vmm_pmr_pool_set_sleep_hooks"); };
  const auto bound = [pool, user](vmm_pmr_sleep_hook hook) -> std::function<void()> {
    if (hook == nullptr) return {};
    return [hook, pool, user] { hook(pool, user); };
  };
  return guarded(
      call,
      [&] {
        pool->resource().set_sleep_hooks(bound(before_sleep), bound(after_wake));
        return 0;
      },
      -1);
}

int vmm_pmr_pool_asleep(const vmm_pmr_pool* pool) {
  if (refuse_null(pool, "vmm_pmr_pool_asleep")) return -1;
  const auto call = [] { return std::string("vmm_pmr_pool_asleep"); };
  return guarded(
      call, [&] { return pool->resource().asleep() ? 1 : 0; }, -1);
}

}  // extern "C"
