// Every call a buffer's growth makes fails in turn, on every kind of resource a
// device_buffer supports: a vmm_resource (growth behind via a hint, into address space
// reserved ahead, by moving), a stream_ordered_resource (unbounded; bounded to its peak,
// where growth maps an alias range; a view of one bound to another stream) and a plain
// std::pmr resource. The growths: resize, reserve on an empty buffer, device_vector's
// append (its own doubling), shrink_to_fit, and reserve_address_space on a vmm_resource.
//
// Each growth first runs once on a fresh scene, counting the calls it makes of each kind:
// backend calls (fault_injecting_backend), or a plain resource's allocate calls
// (failing_upstream_resource). Then, on a fresh scene each time, the n-th call of each
// kind fails, as out of memory and as a driver error (a plain resource only runs out).
// What must happen follows from the call, never from its number:
//   - a call that makes something (reserve, create, map, set access, allocate) makes the
//     growth throw that failure, naming the resource's operation, and the buffer is
//     exactly as it was (size, capacity, pointer, address space, contents), as are the
//     resource's statistics and live allocations and the backend's live objects
//     (counting_backend); nothing is reported. A stream_ordered_resource answers out of
//     memory by trimming and trying once more: there the growth succeeds;
//   - a call that undoes something once the growth is made (giving back a reservation
//     placed elsewhere, unmapping the old addresses, releasing a tail) cannot throw: the
//     growth stands and the failure goes to the cleanup-error handler.
// Either way the registry agrees with the statistics and the backend, and the buffer then
// grows once more (except over a VMM tail whose unmap failed: that growth fails cleanly)
// and a new buffer works. Paths that depend on where the driver places a
// reservation run under no_room_behind_backend (every hint refused) or on the host
// backend only (growth_fixtures.hpp), so a run's counts hold for the next.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/fault_fixtures.hpp"
#include "support/growth_fixtures.hpp"
#include "support/printers.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/failing_upstream_resource.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

using Catch::Matchers::ContainsSubstring;
using vmm_pmr::device_buffer;
using vmm_pmr::test::cleanup_report_counter;
using vmm_pmr::test::decorated_backend;
using vmm_pmr::test::two_mib;
using vmm_pmr::testing::backend_call;
using vmm_pmr::testing::injected_failure;

namespace {

enum class resource_kind {
  vmm_behind_via_hint,  // the host backend only: the driver may refuse the hint
  vmm_reserved_ahead,
  vmm_moving,
  stream_ordered,
  stream_ordered_bounded,
  stream_ordered_view,
  plain,
};

const char* to_string(resource_kind kind) {
  switch (kind) {
    case resource_kind::vmm_behind_via_hint:
      return "vmm_resource, growing behind via a hint";
    case resource_kind::vmm_reserved_ahead:
      return "vmm_resource, growing into address space reserved ahead";
    case resource_kind::vmm_moving:
      return "vmm_resource, moving (every hint refused)";
    case resource_kind::stream_ordered:
      return "stream_ordered_resource";
    case resource_kind::stream_ordered_bounded:
      return "stream_ordered_resource bounded to its peak (alias ranges)";
    case resource_kind::stream_ordered_view:
      return "a view of a stream_ordered_resource on another stream";
    case resource_kind::plain:
      return "a plain std::pmr resource";
  }
  return "?";
}

bool is_vmm(resource_kind kind) {
  return kind == resource_kind::vmm_behind_via_hint || kind == resource_kind::vmm_reserved_ahead ||
         kind == resource_kind::vmm_moving;
}
bool is_stream_ordered(resource_kind kind) {
  return kind == resource_kind::stream_ordered || kind == resource_kind::stream_ordered_bounded ||
         kind == resource_kind::stream_ordered_view;
}

// A kind of call that can be made to fail: a backend primitive, or (nullopt) the
// allocate of a plain resource.
using call_kind = std::optional<backend_call>;

std::string to_string(const call_kind& call) {
  return call ? vmm_pmr::testing::to_string(*call) : "allocate of the plain resource";
}

// Calls that undo something after the change was made: their failures are reported.
bool is_undo(const call_kind& call) {
  return call && (*call == backend_call::release || *call == backend_call::unmap ||
                  *call == backend_call::free_address_range);
}

std::vector<std::uint8_t> pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> host(bytes);
  for (std::size_t i = 0; i < bytes; ++i) host[i] = vmm_pmr::test::pattern_byte(i, seed);
  return host;
}

// A resource of one kind over its decorated backend, a buffer on it, and what the
// buffer's first bytes must hold. The buffer is declared last: it goes first.
class buffer_scene {
 public:
  // The bounded pool's memory before the buffer: eight 2 MiB blocks, every other one
  // freed, so the chunks free for an alias range lie apart and the peak is well above
  // what is live.
  static constexpr std::size_t churn_blocks = 8;

  buffer_scene(resource_kind kind, std::shared_ptr<vmm_pmr::backend> base) : kind_(kind) {
    switch (kind) {
      case resource_kind::vmm_behind_via_hint:
      case resource_kind::vmm_reserved_ahead:
        stack_ = vmm_pmr::test::decorate_for_growth(std::move(base));
        vmm_ = std::make_unique<vmm_pmr::vmm_resource>(stack_.faults);
        resource_ = vmm_.get();
        break;
      case resource_kind::vmm_moving:
        stack_ = vmm_pmr::test::decorate_for_relocation(std::move(base));
        vmm_ = std::make_unique<vmm_pmr::vmm_resource>(stack_.faults);
        resource_ = vmm_.get();
        break;
      case resource_kind::stream_ordered:
      case resource_kind::stream_ordered_bounded:
      case resource_kind::stream_ordered_view:
        make_pool(std::move(base));
        break;
      case resource_kind::plain:
        plain_ = std::make_unique<vmm_pmr::testing::failing_upstream_resource>();
        resource_ = plain_.get();
        break;
    }
  }
  buffer_scene(const buffer_scene&) = delete;
  buffer_scene& operator=(const buffer_scene&) = delete;
  ~buffer_scene() {
    buffer.release();
    for (void* block : kept_blocks_) pool_->deallocate(block, two_mib, stream);
  }

  // The buffer's stream: the default one, which every backend knows.
  static constexpr vmm_pmr::stream_view stream{};

  resource_kind kind() const { return kind_; }
  std::pmr::memory_resource* resource() const { return resource_; }
  const decorated_backend& stack() const { return stack_; }

  // `size` bytes of a pattern, in a new buffer.
  void make_buffer(std::size_t size, std::uint8_t seed) {
    buffer = device_buffer(0, stream, resource_);
    if (kind_ == resource_kind::vmm_reserved_ahead) buffer.reserve_address_space(16 * two_mib);
    buffer.resize(size, stream);
    expected = pattern(size, seed);
    buffer.copy_from_host(0, expected.data(), expected.size(), stream);
  }

  // The capacity a buffer holding `bytes` has here.
  std::size_t rounded(std::size_t bytes) const {
    return vmm_ ? *vmm_pmr::round_up(bytes, vmm_->granularity()) : bytes;
  }

  bool holds_expected() const {
    if (buffer.size() < expected.size()) return false;
    std::vector<std::uint8_t> host(expected.size());
    buffer.copy_to_host(host.data(), 0, host.size(), stream);
    return host == expected;
  }

  // ---- failing calls ----

  std::vector<call_kind> call_kinds() const {
    if (plain_) return {std::nullopt};
    std::vector<call_kind> kinds;
    for (std::size_t i = 0; i < vmm_pmr::testing::backend_call_count; ++i) {
      kinds.emplace_back(static_cast<backend_call>(i));
    }
    return kinds;
  }
  std::size_t calls(const call_kind& call) const {
    return call ? stack_.faults->calls(*call) : plain_->allocate_calls();
  }
  void fail_nth(const call_kind& call, std::size_t n, injected_failure failure) {
    if (call) {
      stack_.faults->fail_nth(*call, n, failure);
    } else {
      plain_->fail_nth_allocate(n);
    }
  }
  bool fired() const { return plain_ ? plain_->fired() : stack_.faults->fired(); }
  void disarm() {
    if (plain_) {
      plain_->disarm();
    } else {
      stack_.faults->disarm();
    }
  }
  vmm_pmr::testing::live_objects live() const {
    return plain_ ? vmm_pmr::testing::live_objects{} : stack_.counting->live();
  }

  // ---- what a failed growth must leave as it was ----

  std::string state() const {
    std::string text = fmt::format("size {}, capacity {}, data {}, address space {}, contents {}",
                                   buffer.size(), buffer.capacity(), buffer.data(),
                                   buffer.address_space(), holds_expected() ? "kept" : "changed");
    if (vmm_) {
      text += "; " + vmm_pmr::to_string(vmm_->stats());
      for (const vmm_pmr::allocation_info& info : vmm_->live_allocations()) {
        text += fmt::format("; {:#x}: {} B requested, {} B mapped, chunks", info.base,
                            info.requested_bytes, info.mapped_bytes);
        for (const vmm_pmr::chunk_info& chunk : info.chunks) {
          text += fmt::format(" {:#x}+{}", chunk.base, chunk.size);
        }
      }
    } else if (pool_) {
      const vmm_pmr::stream_ordered_stats stats = pool_->stats();
      text += fmt::format("; {}; {} deallocations, {} chunks mapped, {} alias ranges made",
                          vmm_pmr::to_string(stats), stats.deallocations, stats.chunks_mapped,
                          stats.alias_ranges_made);
    } else {
      text += fmt::format("; {} live ({} B)", plain_->live_count(), plain_->live_bytes());
    }
    return text;
  }

  // The resource's registry and statistics agree with each other, with the backend (which
  // may hold more after a failed undo: `exact` false) and with the buffer.
  bool consistent(bool exact) const {
    const std::size_t buffers = buffer.data() != nullptr ? 1 : 0;
    if (vmm_) {
      const vmm_pmr::allocation_stats stats = vmm_->stats();
      const auto live = vmm_->live_allocations();
      std::size_t requested = 0;
      std::size_t mapped = 0;
      for (const vmm_pmr::allocation_info& info : live) {
        requested += info.requested_bytes;
        mapped += info.mapped_bytes;
      }
      const std::size_t backend_mapped = stack_.counting->live().mapped_bytes;
      bool buffer_found = true;
      if (buffers != 0) {
        const auto* last = static_cast<const std::byte*>(buffer.data()) + buffer.capacity() - 1;
        const auto holder = vmm_->find(last);
        buffer_found = holder && holder->base == at(buffer.data()) &&
                       holder->requested_bytes == buffer.capacity() &&
                       holder->mapped_bytes >= buffer.capacity();
      }
      UNSCOPED_INFO("registry: " << live.size() << " live, " << requested << " B requested, "
                                 << mapped << " B mapped; stats: " << vmm_pmr::to_string(stats)
                                 << "; the backend maps " << backend_mapped
                                 << " B; the buffer's allocation found: " << buffer_found);
      return buffer_found && live.size() == buffers && stats.live_count == buffers &&
             requested == stats.live_bytes && mapped == stats.live_mapped_bytes &&
             (exact ? backend_mapped == mapped : backend_mapped >= mapped);
    }
    if (pool_) {
      const vmm_pmr::stream_ordered_stats stats = pool_->stats();
      std::size_t registered = 0;
      std::size_t aliased = 0;
      for (const auto& entry : vmm_pmr::mapping_registry::global().live(pool_.get())) {
        (entry.aliased ? aliased : registered) += entry.mapped_bytes;
      }
      const std::size_t backend_mapped = stack_.counting->live().mapped_bytes;
      const std::size_t kept = kept_blocks_.size();
      UNSCOPED_INFO(vmm_pmr::to_string(stats)
                    << "; registered " << registered << " B of chunks, " << aliased
                    << " B of alias ranges; the backend maps " << backend_mapped << " B");
      return stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes &&
             registered == stats.mapped_bytes && aliased == stats.alias_bytes &&
             (exact ? backend_mapped == stats.mapped_bytes + stats.alias_bytes
                    : backend_mapped >= stats.mapped_bytes + stats.alias_bytes) &&
             stats.live_count == kept + buffers &&
             stats.live_bytes == kept * two_mib + buffer.capacity() &&
             stats.deallocation_errors == 0;
    }
    UNSCOPED_INFO("the plain resource holds " << plain_->live_count() << " allocations ("
                                              << plain_->live_bytes() << " B)");
    return plain_->live_count() == buffers && plain_->live_bytes() == buffer.capacity();
  }

  // Alias ranges made so far (bounded pool only).
  std::uint64_t alias_ranges_made() const { return pool_ ? pool_->stats().alias_ranges_made : 0; }

  device_buffer buffer;
  std::vector<std::uint8_t> expected;  // what the buffer's first bytes hold

 private:
  static vmm_pmr::address at(const void* pointer) {
    return reinterpret_cast<vmm_pmr::address>(pointer);
  }

  void make_pool(std::shared_ptr<vmm_pmr::backend> base) {
    stack_ = vmm_pmr::test::decorate(std::move(base));
    // Events complete at once: which free blocks a request may take never depends on
    // timing.
    events_ = std::make_shared<vmm_pmr::testing::manual_event_backend>(stack_.faults);
    events_->mark_idle(stream);
    vmm_pmr::stream_ordered_options options;
    options.min_chunk_size = two_mib;
    options.max_chunk_size = two_mib;
    if (kind_ == resource_kind::stream_ordered_bounded) options.footprint_limit = 1.0;
    pool_ = std::make_unique<vmm_pmr::stream_ordered_resource>(events_, options);
    if (kind_ == resource_kind::stream_ordered_view) {
      view_.emplace(*pool_, vmm_pmr::test::test_stream(0xb0));
      resource_ = &*view_;
    } else {
      resource_ = pool_.get();
    }
    if (kind_ != resource_kind::stream_ordered_bounded) return;
    std::vector<void*> blocks;
    for (std::size_t i = 0; i < churn_blocks; ++i) {
      blocks.push_back(pool_->allocate(two_mib, stream));
    }
    for (std::size_t i = 0; i < churn_blocks; ++i) {
      if (i % 2 == 0) {
        pool_->deallocate(blocks[i], two_mib, stream);
      } else {
        kept_blocks_.push_back(blocks[i]);
      }
    }
  }

  resource_kind kind_;
  decorated_backend stack_;
  std::shared_ptr<vmm_pmr::testing::manual_event_backend> events_;
  std::unique_ptr<vmm_pmr::vmm_resource> vmm_;
  std::unique_ptr<vmm_pmr::stream_ordered_resource> pool_;
  std::optional<vmm_pmr::stream_bound_resource> view_;
  std::unique_ptr<vmm_pmr::testing::failing_upstream_resource> plain_;
  std::pmr::memory_resource* resource_ = nullptr;
  std::vector<void*> kept_blocks_;  // live blocks of the bounded pool
};

// What a buffer looks like after a growth succeeded.
struct buffer_shape {
  std::size_t size = 0;
  std::size_t capacity = 0;
  std::size_t address_space = 0;
  std::vector<std::uint8_t> contents;  // its first bytes
};

// One growth: how its scene is prepared, the growth itself, and what it leaves when it
// succeeds (worked out from the prepared scene).
struct growth {
  const char* name;
  bool shrinks;
  bool (*applies_to)(resource_kind);
  void (*prepare)(buffer_scene&);
  void (*run)(buffer_scene&);
  buffer_shape (*after)(const buffer_scene&);
};

constexpr std::size_t grown_size = 7 * two_mib;
const std::vector<std::uint8_t> appended = pattern(2 * two_mib, 0x42);

bool always(resource_kind) { return true; }

const std::vector<growth>& growths() {
  static const std::vector<growth> all = {
      {"resize", false, always, [](buffer_scene& s) { s.make_buffer(3 * two_mib, 0x11); },
       [](buffer_scene& s) { s.buffer.resize(grown_size, buffer_scene::stream); },
       [](const buffer_scene& s) {
         return buffer_shape{grown_size, s.rounded(grown_size), s.buffer.address_space(),
                             s.expected};
       }},
      {"reserve on a buffer without memory", false, always,
       [](buffer_scene& s) { s.make_buffer(0, 0); },
       [](buffer_scene& s) { s.buffer.reserve(grown_size, buffer_scene::stream); },
       [](const buffer_scene& s) {
         return buffer_shape{0, s.rounded(grown_size), s.buffer.address_space(), {}};
       }},
      {"device_vector::append", false, always,
       [](buffer_scene& s) { s.make_buffer(3 * two_mib, 0x22); },
       [](buffer_scene& s) {
         vmm_pmr::device_vector<std::uint8_t> vector(std::move(s.buffer));
         try {
           vector.append(appended, buffer_scene::stream);
         } catch (...) {
           s.buffer = vector.release_buffer();
           throw;
         }
         s.buffer = vector.release_buffer();
       },
       [](const buffer_scene& s) {
         buffer_shape shape{
             3 * two_mib + appended.size(),
             s.rounded(std::max(3 * two_mib + appended.size(), 2 * s.buffer.capacity())),
             s.buffer.address_space(), s.expected};
         shape.contents.insert(shape.contents.end(), appended.begin(), appended.end());
         return shape;
       }},
      {"shrink_to_fit", true, always,
       // A VMM buffer grown in a step, so that a chunk lies wholly past its size; any other
       // made at its full size, so that no block of its own is free for the smaller copy.
       [](buffer_scene& s) {
         if (is_vmm(s.kind())) {
           s.make_buffer(3 * two_mib, 0x33);
           s.buffer.resize(grown_size, buffer_scene::stream);
         } else {
           s.make_buffer(grown_size, 0x33);
         }
         s.buffer.resize(3 * two_mib, buffer_scene::stream);
         s.expected.resize(3 * two_mib);
       },
       [](buffer_scene& s) { s.buffer.shrink_to_fit(buffer_scene::stream); },
       [](const buffer_scene& s) {
         return buffer_shape{3 * two_mib, s.rounded(3 * two_mib), s.buffer.address_space(),
                             s.expected};
       }},
      // Into address space of its own choosing: only where that does not depend on the
      // driver (via a hint on the host backend, or moving).
      {"reserve_address_space", false,
       [](resource_kind kind) {
         return kind == resource_kind::vmm_behind_via_hint || kind == resource_kind::vmm_moving;
       },
       [](buffer_scene& s) { s.make_buffer(3 * two_mib, 0x44); },
       [](buffer_scene& s) { s.buffer.reserve_address_space(32 * two_mib); },
       [](const buffer_scene& s) {
         return buffer_shape{s.buffer.size(), s.buffer.capacity(), 32 * two_mib, s.expected};
       }},
  };
  return all;
}

bool has_shape(const buffer_scene& scene, const buffer_shape& shape) {
  std::vector<std::uint8_t> host(shape.contents.size());
  scene.buffer.copy_to_host(host.data(), 0, host.size(), buffer_scene::stream);
  UNSCOPED_INFO("size " << scene.buffer.size() << " (" << shape.size << " expected), capacity "
                        << scene.buffer.capacity() << " (" << shape.capacity << "), address space "
                        << scene.buffer.address_space() << " (" << shape.address_space << ")");
  return scene.buffer.size() == shape.size && scene.buffer.capacity() == shape.capacity &&
         scene.buffer.address_space() == shape.address_space && host == shape.contents;
}

enum class outcome { throws, recovers, reported };

outcome expected_outcome(resource_kind kind, const call_kind& call, injected_failure failure) {
  if (is_undo(call)) return outcome::reported;
  if (is_stream_ordered(kind) && failure == injected_failure::out_of_memory) {
    return outcome::recovers;  // trimmed and tried again
  }
  return outcome::throws;
}

// What a growth threw, by type, with its message (and a driver error's detail).
enum class thrown { nothing, out_of_memory, driver_error, bad_alloc, other };
struct growth_result {
  thrown type = thrown::nothing;
  std::string message;
};

growth_result run_growth(const growth& op, buffer_scene& scene) {
  try {
    op.run(scene);
    return {};
  } catch (const vmm_pmr::out_of_memory& failure) {
    return {thrown::out_of_memory, failure.what()};
  } catch (const vmm_pmr::driver_error& failure) {
    return {thrown::driver_error, std::string(failure.what()) + " / " + failure.detail()};
  } catch (const std::bad_alloc& failure) {
    return {thrown::bad_alloc, failure.what()};
  } catch (const std::exception& failure) {
    return {thrown::other, failure.what()};
  }
}

thrown expected_exception(resource_kind kind, injected_failure failure) {
  if (kind == resource_kind::plain) return thrown::bad_alloc;  // the upstream's own
  return failure == injected_failure::out_of_memory ? thrown::out_of_memory : thrown::driver_error;
}

// Where the message says what failed.
std::string operation_named(resource_kind kind) {
  if (is_vmm(kind)) return "vmm_resource::";
  if (is_stream_ordered(kind)) return "stream_ordered_resource::allocate(";
  return "";
}

// The buffer grows once more, keeping its contents, and a new buffer on the resource works.
// After a shrink whose unmap failed, the tail is still mapped in the buffer's own
// address space (the driver kept it): growing there then fails like any failed growth,
// leaving the buffer as it was.
void exercise(buffer_scene& scene, bool tail_still_mapped) {
  const std::size_t size = scene.buffer.size() + 5 * two_mib;
  if (tail_still_mapped) {
    const std::string before = scene.state();
    CHECK_THROWS_AS(scene.buffer.resize(size, buffer_scene::stream), vmm_pmr::driver_error);
    CHECK(scene.state() == before);
  } else {
    scene.buffer.resize(size, buffer_scene::stream);
    CHECK(scene.buffer.size() == size);
    CHECK(scene.holds_expected());
  }
  const auto bytes = pattern(two_mib + 10, 0x5c);
  device_buffer fresh(bytes.size(), buffer_scene::stream, scene.resource());
  fresh.copy_from_host(0, bytes.data(), bytes.size(), buffer_scene::stream);
  std::vector<std::uint8_t> back(bytes.size());
  fresh.copy_to_host(back.data(), 0, back.size(), buffer_scene::stream);
  CHECK(back == bytes);
}

using backend_maker = std::shared_ptr<vmm_pmr::backend> (*)();

struct counted_call {
  call_kind call;
  std::size_t count = 0;
};

// Runs the growth once, successfully, and counts its calls of each kind.
std::vector<counted_call> count_calls(resource_kind kind, const growth& op,
                                      backend_maker make_base) {
  cleanup_report_counter reports;
  buffer_scene scene(kind, make_base());
  op.prepare(scene);
  REQUIRE(scene.holds_expected());
  const buffer_shape after = op.after(scene);
  const std::uint64_t aliases_before = scene.alias_ranges_made();
  std::vector<counted_call> counts;
  for (const call_kind& call : scene.call_kinds()) counts.push_back({call, scene.calls(call)});
  op.run(scene);
  for (counted_call& counted : counts) counted.count = scene.calls(counted.call) - counted.count;
  CHECK(has_shape(scene, after));
  CHECK(scene.consistent(true));
  CHECK(reports.reports == 0);
  // The bounded pool's growths (all but shrinking) go past its peak: an alias range.
  if (kind == resource_kind::stream_ordered_bounded && !op.shrinks) {
    CHECK(scene.alias_ranges_made() > aliases_before);
  }
  return counts;
}

// A fresh scene, the n-th call of `call` failing as `failure`, and every check.
void fail_one(resource_kind kind, const growth& op, backend_maker make_base, const call_kind& call,
              std::size_t n, injected_failure failure) {
  cleanup_report_counter reports;
  const outcome expected = expected_outcome(kind, call, failure);
  bool leaks_allowed = false;
  decorated_backend stack;
  {
    buffer_scene scene(kind, make_base());
    stack = scene.stack();
    op.prepare(scene);
    const std::string state_before = scene.state();
    const vmm_pmr::testing::live_objects live_before = scene.live();
    const buffer_shape after = op.after(scene);

    scene.fail_nth(call, n, failure);
    const growth_result result = run_growth(op, scene);
    REQUIRE(scene.fired());
    scene.disarm();

    switch (expected) {
      case outcome::throws:
        CHECK(result.type == expected_exception(kind, failure));
        CHECK_THAT(result.message, ContainsSubstring(operation_named(kind)));
        if (failure == injected_failure::driver_error) {
          CHECK_THAT(result.message, ContainsSubstring("INJECTED_FAILURE"));
        }
        CHECK(scene.state() == state_before);
        CHECK(scene.live() == live_before);
        CHECK(reports.reports == 0);
        break;
      case outcome::recovers:
        CHECK(result.type == thrown::nothing);
        CHECK(has_shape(scene, after));
        CHECK(reports.reports == 0);
        break;
      case outcome::reported:
        CHECK(result.type == thrown::nothing);
        CHECK(has_shape(scene, after));
        CHECK(reports.reports > 0);
        leaks_allowed = true;  // a failed undo is not forwarded: its object stays
        break;
    }
    CHECK(scene.consistent(!leaks_allowed));
    const std::size_t reports_before_exercise = reports.reports;
    exercise(scene, is_vmm(kind) && op.shrinks && call == backend_call::unmap);
    CHECK(scene.consistent(!leaks_allowed));
    CHECK(reports.reports == reports_before_exercise);
  }
  if (stack.counting && !leaks_allowed) {
    CHECK(stack.counting->live() == vmm_pmr::testing::live_objects{});
  }
}

void sweep(resource_kind kind, const growth& op, backend_maker make_base) {
  const std::vector<counted_call> counts = count_calls(kind, op, make_base);
  std::size_t total = 0;
  for (const counted_call& counted : counts) total += counted.count;
  // Every growth here needs new memory (or, shrinking, gives some back).
  REQUIRE(total > 0);
  const std::vector<injected_failure> failures =
      kind == resource_kind::plain ? std::vector<injected_failure>{injected_failure::out_of_memory}
                                   : std::vector<injected_failure>{injected_failure::out_of_memory,
                                                                   injected_failure::driver_error};
  for (const counted_call& counted : counts) {
    for (std::size_t n = 1; n <= counted.count; ++n) {
      for (const injected_failure failure : failures) {
        INFO("failing " << to_string(counted.call) << " " << n << " of " << counted.count << " as "
                        << (failure == injected_failure::out_of_memory ? "out of memory"
                                                                       : "a driver error"));
        fail_one(kind, op, make_base, counted.call, n, failure);
      }
    }
  }
}

// Every growth that applies to each of `kinds`, as (kind, index into growths()).
std::vector<std::pair<resource_kind, std::size_t>> sweeps_over(
    const std::vector<resource_kind>& kinds) {
  std::vector<std::pair<resource_kind, std::size_t>> sweeps;
  for (const resource_kind kind : kinds) {
    for (std::size_t i = 0; i < growths().size(); ++i) {
      if (growths()[i].applies_to(kind)) sweeps.emplace_back(kind, i);
    }
  }
  return sweeps;
}

std::vector<resource_kind> backed_kinds(bool on_gpu) {
  std::vector<resource_kind> kinds = {
      resource_kind::vmm_reserved_ahead,  resource_kind::vmm_moving,
      resource_kind::stream_ordered,      resource_kind::stream_ordered_bounded,
      resource_kind::stream_ordered_view,
  };
  if (!on_gpu) kinds.insert(kinds.begin(), resource_kind::vmm_behind_via_hint);
  return kinds;
}

std::shared_ptr<vmm_pmr::backend> no_backend() { return nullptr; }

}  // namespace

BACKEND_TEST_CASE(
    "a buffer whose growth fails at any backend call is exactly as it was, on every VMM "
    "resource kind",
    "[device_buffer][growth][fault_injection]") {
  const auto [kind, index] = GENERATE(from_range(sweeps_over(backed_kinds(TestType::is_gpu))));
  const growth& op = growths()[index];
  INFO(op.name << " on " << to_string(kind));
  sweep(kind, op, [] { return TestType::make(); });
}

TEST_CASE(
    "a buffer whose growth fails at any allocation of a plain std::pmr resource is exactly as "
    "it was",
    "[device_buffer][growth][fault_injection]") {
  const auto [kind, index] = GENERATE(from_range(sweeps_over({resource_kind::plain})));
  const growth& op = growths()[index];
  INFO(op.name);
  sweep(kind, op, no_backend);
}
