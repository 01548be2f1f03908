// Every backend call of every multi-step operation fails in turn; nothing may be lost.
//
// One row per operation (support/fault_sweep.hpp explains the sweep and what it checks).
// Operations that can throw must throw the right exception, naming the operation, and
// leave the backend, the registry and the resources exactly as they were; operations that
// cannot throw (deallocate, trim, destruction) must report each failure and carry on.
// Rows for growth in place, growth by remapping and shrinking join when those operations
// do: one row each.
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/backends_under_test.hpp"
#include "support/fault_sweep.hpp"
#include "support/resource_fixtures.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

using vmm_pmr::access_mode;
using vmm_pmr::vmm_options;
using vmm_pmr::vmm_resource;
using vmm_pmr::test::decorated_backend;
using vmm_pmr::test::sweep_expectation;
using vmm_pmr::test::sweep_outcome;
using vmm_pmr::test::sweep_row;
using vmm_pmr::test::sweep_scene;
using vmm_pmr::test::two_mib;
using vmm_pmr::testing::backend_call;

namespace {

const vmm_pmr::stream_view stream_a = vmm_pmr::test::test_stream(0xa0);

vmm_pmr::address at(const void* pointer) { return reinterpret_cast<vmm_pmr::address>(pointer); }

// A recognisable pattern in the first and last bytes of [pointer, pointer + bytes).
void write_pattern(vmm_pmr::backend& driver, const void* pointer, std::size_t bytes,
                   std::uint8_t seed) {
  driver.fill(at(pointer), seed, 64);
  driver.fill(at(pointer) + bytes - 64, static_cast<std::uint8_t>(seed + 1), 64);
}

bool has_pattern(vmm_pmr::backend& driver, const void* pointer, std::size_t bytes,
                 std::uint8_t seed) {
  std::array<std::uint8_t, 64> head{};
  std::array<std::uint8_t, 64> tail{};
  driver.copy_to_host(head.data(), at(pointer), head.size());
  driver.copy_to_host(tail.data(), at(pointer) + bytes - 64, tail.size());
  for (std::size_t i = 0; i < head.size(); ++i) {
    if (head[i] != seed || tail[i] != static_cast<std::uint8_t>(seed + 1)) return false;
  }
  return true;
}

// Statistics and live allocations of a resource: what a failed operation must not move.
std::string state_of(const vmm_resource& resource) {
  std::string text = vmm_pmr::to_string(resource.stats());
  for (const vmm_pmr::allocation_info& info : resource.live_allocations()) {
    text += fmt::format("; {:#x} {} B in {} chunk(s)", info.base, info.requested_bytes,
                        info.chunks.size());
  }
  return text;
}

std::string state_of(const vmm_pmr::stream_ordered_resource& resource) {
  const vmm_pmr::stream_ordered_stats stats = resource.stats();
  return fmt::format("{}; {} deallocations, {} chunks mapped, {} trims", vmm_pmr::to_string(stats),
                     stats.deallocations, stats.chunks_mapped, stats.trims);
}

// The registry's entries of `resource` agree with its statistics, and each is found by
// its last byte.
bool registry_agrees(const vmm_resource& resource) {
  const vmm_pmr::allocation_stats stats = resource.stats();
  std::size_t requested = 0;
  std::size_t mapped = 0;
  bool found = true;
  const auto live = resource.live_allocations();
  for (const vmm_pmr::allocation_info& info : live) {
    requested += info.requested_bytes;
    mapped += info.mapped_bytes;
    const auto holder =
        resource.find(reinterpret_cast<const void*>(info.base + info.mapped_bytes - 1));
    found = found && holder && holder->base == info.base;
  }
  UNSCOPED_INFO("registry: " << live.size() << " live, " << requested << " B requested, " << mapped
                             << " B mapped; stats: " << vmm_pmr::to_string(stats));
  return found && live.size() == stats.live_count && requested == stats.live_bytes &&
         mapped == stats.live_mapped_bytes;
}

// The backend maps what the resources say they map (or more, after a failed undo that the
// fault injector did not forward).
bool backend_agrees(const decorated_backend& stack,
                    std::initializer_list<const vmm_resource*> resources, bool exact) {
  std::size_t mapped = 0;
  for (const vmm_resource* resource : resources) mapped += resource->stats().live_mapped_bytes;
  const std::size_t backend_mapped = stack.counting->live().mapped_bytes;
  UNSCOPED_INFO("resources map " << mapped << " B, the backend " << backend_mapped << " B");
  return exact ? backend_mapped == mapped : backend_mapped >= mapped;
}

// ---- vmm_resource: allocate, deallocate, destruction ----

// One resource with an allocation that must survive everything; run() allocates another.
class allocate_scene final : public sweep_scene {
 public:
  allocate_scene(const decorated_backend& stack, vmm_options options, std::size_t bytes,
                 std::size_t alignment)
      : stack_(stack),
        resource_(std::make_unique<vmm_resource>(stack.faults, std::move(options))),
        bytes_(bytes),
        alignment_(alignment) {
    kept_ = resource_->allocate(kept_bytes);
    write_pattern(resource_->driver(), kept_, kept_bytes, 0x5a);
  }
  ~allocate_scene() override {
    if (!resource_) return;
    if (allocated_ != nullptr) resource_->deallocate(allocated_, bytes_, alignment_);
    resource_->deallocate(kept_, kept_bytes);
  }

  void run() override {
    allocated_ = resource_->allocate(bytes_, alignment_);
    if (at(allocated_) % alignment_ != 0) FAIL_CHECK("allocate ignored the alignment");
  }
  std::string state() const override { return state_of(*resource_); }
  bool consistent() const override {
    return registry_agrees(*resource_) && backend_agrees(stack_, {resource_.get()}, true);
  }
  void exercise() override {
    void* fresh = resource_->allocate(bytes_, alignment_);
    write_pattern(resource_->driver(), fresh, bytes_, 0x33);
    CHECK(has_pattern(resource_->driver(), fresh, bytes_, 0x33));
    resource_->deallocate(fresh, bytes_, alignment_);
    CHECK(has_pattern(resource_->driver(), kept_, kept_bytes, 0x5a));
  }

 private:
  static constexpr std::size_t kept_bytes = 1000;
  decorated_backend stack_;
  std::unique_ptr<vmm_resource> resource_;
  std::size_t bytes_;
  std::size_t alignment_;
  void* kept_ = nullptr;
  void* allocated_ = nullptr;
};

// run() deallocates (or, with `destroy`, destroys the resource holding) one allocation.
class deallocate_scene final : public sweep_scene {
 public:
  deallocate_scene(const decorated_backend& stack, bool destroy)
      : stack_(stack), destroy_(destroy) {
    resource_ = std::make_unique<vmm_resource>(stack.faults, reports_.attach({}));
    doomed_ = resource_->allocate(bytes);
  }
  ~deallocate_scene() override {
    if (resource_ && doomed_ != nullptr) resource_->deallocate(doomed_, bytes);
  }

  void run() override {
    if (destroy_) {
      resource_.reset();
    } else {
      resource_->deallocate(std::exchange(doomed_, nullptr), bytes);
    }
  }
  std::string state() const override { return resource_ ? state_of(*resource_) : "destroyed"; }
  bool consistent() const override {
    if (!resource_) return reports_.leaks.size() == 1 && reports_.leaks.front().leaked.size() == 1;
    return registry_agrees(*resource_) && resource_->stats().live_count == 0 &&
           resource_->stats().deallocation_errors == 0 &&
           backend_agrees(stack_, {resource_.get()}, false);
  }
  void exercise() override {
    if (!resource_) resource_ = std::make_unique<vmm_resource>(stack_.faults);
    void* fresh = resource_->allocate(bytes);
    write_pattern(resource_->driver(), fresh, bytes, 0x11);
    CHECK(has_pattern(resource_->driver(), fresh, bytes, 0x11));
    resource_->deallocate(fresh, bytes);
  }

 private:
  static constexpr std::size_t bytes = 3 * two_mib;
  decorated_backend stack_;
  bool destroy_;
  mutable vmm_pmr::test::report_recorder reports_;
  std::unique_ptr<vmm_resource> resource_;
  void* doomed_ = nullptr;
};

// ---- vmm_resource: export, import, set_access ----

// An exporter with two shareable allocations and an importer; run() imports both
// allocations' chunks as one allocation of two chunks, or exports one, or changes access.
class sharing_scene final : public sweep_scene {
 public:
  enum class operation { import_two_chunks, export_allocation, set_access };

  sharing_scene(const decorated_backend& stack, operation op) : stack_(stack), operation_(op) {
    vmm_options shareable;
    shareable.shareable = vmm_pmr::handle_types::posix_fd;
    exporter_ = std::make_unique<vmm_resource>(stack.faults, shareable);
    importer_ = std::make_unique<vmm_resource>(stack.faults);
    first_ = exporter_->allocate(bytes);
    second_ = exporter_->allocate(bytes);
    write_pattern(exporter_->driver(), first_, bytes, 0x21);
    write_pattern(exporter_->driver(), second_, bytes, 0x43);
    if (operation_ != operation::import_two_chunks) return;
    // Two exports glued into one two-chunk allocation, as a grown allocation exports.
    vmm_pmr::exported_allocation a = exporter_->export_allocation(first_);
    vmm_pmr::exported_allocation b = exporter_->export_allocation(second_);
    shared_.descriptor = a.descriptor;
    shared_.descriptor.chunk_sizes.push_back(b.descriptor.chunk_sizes.front());
    shared_.descriptor.requested_bytes = a.descriptor.mapped_bytes() + bytes;
    shared_.fds.push_back(std::move(a.fds.front()));
    shared_.fds.push_back(std::move(b.fds.front()));
  }
  ~sharing_scene() override {
    if (imported_ != nullptr) {
      importer_->deallocate(imported_, shared_.descriptor.requested_bytes);
    }
    exporter_->deallocate(first_, bytes);
    exporter_->deallocate(second_, bytes);
  }

  void run() override {
    switch (operation_) {
      case operation::import_two_chunks:
        imported_ = importer_->import_allocation(shared_);
        break;
      case operation::export_allocation:
        exported_ = exporter_->export_allocation(first_);
        break;
      case operation::set_access: {
        const vmm_pmr::access_grant read_only{0, access_mode::read};
        exporter_->set_access(first_, {&read_only, 1});
        break;
      }
    }
  }
  std::string state() const override {
    return "exporter: " + state_of(*exporter_) + "; importer: " + state_of(*importer_) +
           "; access " + vmm_pmr::to_string(exporter_->access(first_, 0)) +
           (has_pattern(exporter_->driver(), first_, bytes, 0x21) ? "; contents kept"
                                                                  : "; contents changed");
  }
  bool consistent() const override {
    return registry_agrees(*exporter_) && registry_agrees(*importer_) &&
           backend_agrees(stack_, {exporter_.get(), importer_.get()}, true);
  }
  void exercise() override {
    const vmm_pmr::access_grant read_write{0, access_mode::read_write};
    exporter_->set_access(first_, {&read_write, 1});
    CHECK(exporter_->access(first_, 0) == access_mode::read_write);
    vmm_pmr::exported_allocation again = exporter_->export_allocation(second_);
    void* view = importer_->import_allocation(again);
    CHECK(has_pattern(importer_->driver(), view, bytes, 0x43));
    importer_->deallocate(view, bytes);
    CHECK(has_pattern(exporter_->driver(), first_, bytes, 0x21));
  }

 private:
  static constexpr std::size_t bytes = two_mib;
  decorated_backend stack_;
  operation operation_;
  std::unique_ptr<vmm_resource> exporter_;
  std::unique_ptr<vmm_resource> importer_;
  void* first_ = nullptr;
  void* second_ = nullptr;
  vmm_pmr::exported_allocation shared_;
  vmm_pmr::exported_allocation exported_;
  void* imported_ = nullptr;
};

// ---- stream_ordered_resource: growth, trim, destruction ----

// A resource whose events complete when the test says so, with a live block, a cached
// one, and a free tail that growth extends (and must give back when growth fails).
class stream_ordered_scene final : public sweep_scene {
 public:
  enum class operation { grow, trim, destroy };

  stream_ordered_scene(const decorated_backend& stack, operation op)
      : stack_(stack),
        events_(std::make_shared<vmm_pmr::testing::manual_event_backend>(stack.faults)),
        operation_(op) {
    vmm_pmr::stream_ordered_options options;
    if (op != operation::grow) {
      options.min_chunk_size = two_mib;  // one chunk per block: trim has two to release
      options.max_chunk_size = two_mib;
    }
    options.memory = reports_.attach({});
    resource_ = std::make_unique<vmm_pmr::stream_ordered_resource>(events_, options);
    kept_ = resource_->allocate(kept_bytes, stream_a);
    write_pattern(*events_, kept_, kept_bytes, 0x77);
    if (op == operation::grow) {
      resource_->deallocate(resource_->allocate(4096, stream_a), 4096, stream_a);
    } else {
      void* a = resource_->allocate(two_mib, stream_a);
      void* b = resource_->allocate(two_mib, stream_a);
      resource_->deallocate(a, two_mib, stream_a);
      resource_->deallocate(b, two_mib, stream_a);
    }
  }
  ~stream_ordered_scene() override {
    if (!resource_) return;
    if (grown_ != nullptr) resource_->deallocate(grown_, grown_bytes, stream_a);
    resource_->deallocate(kept_, kept_bytes, stream_a);
  }

  void run() override {
    switch (operation_) {
      case operation::grow:
        grown_ = resource_->allocate(grown_bytes, stream_a);
        break;
      case operation::trim:
        CHECK(resource_->trim() > 0);
        break;
      case operation::destroy:
        resource_.reset();
        break;
    }
  }
  std::string state() const override { return resource_ ? state_of(*resource_) : "destroyed"; }
  bool consistent() const override {
    if (!resource_) {
      return reports_.leaks.size() == 1 && reports_.leaks.front().leaked.size() == 1 &&
             reports_.bad_deallocations.empty();
    }
    const vmm_pmr::stream_ordered_stats stats = resource_->stats();
    std::size_t registered = 0;
    for (const auto& chunk : vmm_pmr::mapping_registry::global().live(resource_.get())) {
      registered += chunk.mapped_bytes;
    }
    const std::size_t backend_mapped = stack_.counting->live().mapped_bytes;
    UNSCOPED_INFO(state_of(*resource_) << "; registered " << registered << " B, backend maps "
                                       << backend_mapped << " B");
    return stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes &&
           registered == stats.mapped_bytes && backend_mapped >= stats.mapped_bytes &&
           (operation_ != operation::grow || backend_mapped == stats.mapped_bytes) &&
           reports_.bad_deallocations.empty();
  }
  void exercise() override {
    if (!resource_) {
      resource_ = std::make_unique<vmm_pmr::stream_ordered_resource>(events_);
      kept_ = resource_->allocate(kept_bytes, stream_a);
      write_pattern(*events_, kept_, kept_bytes, 0x77);
    }
    void* fresh = resource_->allocate(grown_bytes, stream_a);
    write_pattern(*events_, fresh, grown_bytes, 0x66);
    CHECK(has_pattern(*events_, fresh, grown_bytes, 0x66));
    resource_->deallocate(fresh, grown_bytes, stream_a);
    CHECK(has_pattern(*events_, kept_, kept_bytes, 0x77));
  }

 private:
  static constexpr std::size_t kept_bytes = 1000;
  static constexpr std::size_t grown_bytes = 3 * two_mib;
  decorated_backend stack_;
  std::shared_ptr<vmm_pmr::testing::manual_event_backend> events_;
  operation operation_;
  mutable vmm_pmr::test::report_recorder reports_;
  std::unique_ptr<vmm_pmr::stream_ordered_resource> resource_;
  void* kept_ = nullptr;
  void* grown_ = nullptr;
};

// ---- the table ----

sweep_expectation throws_out_of_memory(std::vector<std::string> parts) {
  return {sweep_outcome::throws_out_of_memory, std::move(parts), {}};
}
sweep_expectation throws_driver_error(std::vector<std::string> parts) {
  parts.insert(parts.begin(), "INJECTED_FAILURE");
  return {sweep_outcome::throws_driver_error, std::move(parts), {}};
}
// A failed unmap leaves the range mapped, so freeing the reservation fails as well.
sweep_expectation reported_once_per_failed_call(bool reservation_freed_after_unmap) {
  return {sweep_outcome::reported,
          {},
          [reservation_freed_after_unmap](backend_call failed) -> std::size_t {
            return failed == backend_call::unmap && reservation_freed_after_unmap ? 2 : 1;
          }};
}

vmm_options on_host_location() {
  vmm_options options;
  options.location = vmm_pmr::memory_location::on_host();
  return options;
}
vmm_options shareable_posix_fd() {
  vmm_options options;
  options.shareable = vmm_pmr::handle_types::posix_fd;
  return options;
}

sweep_row allocate_row(std::string name, vmm_options options, std::size_t bytes,
                       std::size_t alignment) {
  const std::string size = vmm_pmr::format_bytes(bytes);
  return {std::move(name),
          [=](const decorated_backend& stack) -> std::unique_ptr<sweep_scene> {
            return std::make_unique<allocate_scene>(stack, options, bytes, alignment);
          },
          throws_out_of_memory({"vmm_resource::allocate(" + size, "device 0", "out of memory"}),
          throws_driver_error({"vmm_resource::allocate(" + size, "device 0"})};
}

template <typename Scene, typename Operation>
std::function<std::unique_ptr<sweep_scene>(const decorated_backend&)> scene(Operation op) {
  return [op](const decorated_backend& stack) -> std::unique_ptr<sweep_scene> {
    return std::make_unique<Scene>(stack, op);
  };
}

const std::vector<sweep_row>& sweep_table() {
  using sharing = sharing_scene::operation;
  using pool = stream_ordered_scene::operation;
  static const std::vector<sweep_row> rows = {
      allocate_row("allocate, device memory", {}, 3 * two_mib + 5, 256),
      allocate_row("allocate, host memory", on_host_location(), 3 * two_mib + 5, 256),
      allocate_row("allocate, shareable as posix fds", shareable_posix_fd(), two_mib, 256),
      allocate_row("allocate, aligned beyond the granularity", {}, two_mib, 8 * two_mib),
      {"import of two chunks", scene<sharing_scene>(sharing::import_two_chunks),
       throws_out_of_memory({"vmm_resource::import_allocation(2 posix_fd chunks, 4 MiB)"}),
       throws_driver_error({"vmm_resource::import_allocation(2 posix_fd chunks", "chunk"})},
      {"export", scene<sharing_scene>(sharing::export_allocation),
       throws_out_of_memory({"vmm_resource::export_allocation("}),
       throws_driver_error({"vmm_resource::export_allocation("})},
      {"set_access", scene<sharing_scene>(sharing::set_access),
       throws_out_of_memory({"vmm_resource::set_access("}),
       throws_driver_error({"vmm_resource::set_access("})},
      // Out of memory while growing is answered by trimming and trying again.
      {"stream-ordered growth",
       scene<stream_ordered_scene>(pool::grow),
       {sweep_outcome::recovers, {}, {}},
       throws_driver_error({"stream_ordered_resource::allocate(6 MiB"})},
      {"vmm_resource deallocate", scene<deallocate_scene>(false),
       reported_once_per_failed_call(true), reported_once_per_failed_call(true)},
      {"vmm_resource destroyed with a live allocation", scene<deallocate_scene>(true),
       reported_once_per_failed_call(true), reported_once_per_failed_call(true)},
      {"stream-ordered trim", scene<stream_ordered_scene>(pool::trim),
       reported_once_per_failed_call(false), reported_once_per_failed_call(false)},
      {"stream_ordered_resource destroyed with a live block",
       scene<stream_ordered_scene>(pool::destroy), reported_once_per_failed_call(true),
       reported_once_per_failed_call(true)},
  };
  return rows;
}

}  // namespace

BACKEND_TEST_CASE("every backend call of every multi-step operation may fail, and nothing is lost",
                  "[fault_injection][sweep]") {
  const auto& rows = sweep_table();
  const std::size_t index = GENERATE_COPY(Catch::Generators::range(std::size_t{0}, rows.size()));
  const sweep_row& row = rows[index];
  DYNAMIC_SECTION(row.operation) {
    vmm_pmr::test::run_fault_sweep(
        row, [] { return TestType::make(); }, TestType::is_gpu);
  }
}
