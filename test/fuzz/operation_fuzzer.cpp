// The fuzz program (operation_fuzzer.hpp). The input is read as a stream of operations,
// each an opcode byte followed by the bytes its arguments need; a short input simply
// ends the program. Nothing here may crash, hang or allocate unboundedly for any input:
// sizes are drawn from a few scales (absurd ones included) and the backend's capacity
// bounds what can really be made.
#include "fuzz/operation_fuzzer.hpp"

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "support/exact_alignment_backend.hpp"
#include "vmm_pmr/cleanup_errors.hpp"
#include "vmm_pmr/error.hpp"
#include "vmm_pmr/host_backend.hpp"
#include "vmm_pmr/mapping_registry.hpp"
#include "vmm_pmr/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"
#include "vmm_pmr/vmm_resource.hpp"

namespace vmm_pmr::fuzz {
namespace {

constexpr std::size_t granularity = std::size_t{64} << 10;
constexpr std::size_t capacity = std::size_t{64} << 20;
constexpr std::size_t max_operations = 512;
constexpr std::size_t max_live = 64;
constexpr int stream_count = 3;

// The bytes of the input, read front to back; reading past the end gives zeros and
// marks the input exhausted.
class input_reader {
 public:
  explicit input_reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  bool exhausted() const noexcept { return position_ >= bytes_.size(); }
  std::uint8_t byte() { return position_ < bytes_.size() ? bytes_[position_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 0;
};

// Sizes on every scale that matters: tiny, around the granularity, several granules,
// beyond the capacity, and near SIZE_MAX (which must overflow cleanly when rounded).
std::size_t decode_size(input_reader& in) {
  const std::uint8_t scale = in.byte();
  const std::size_t value = in.u16();
  switch (scale % 8) {
    case 0:
      return value % 512;  // 0 included
    case 1:
      return value;
    case 2:
      return granularity - 8 + value % 16;
    case 3:
      return value * 64 + 1;  // up to 4 MiB
    case 4:
      return (value % 48 + 1) * (granularity * 4);  // up to 12 MiB
    case 5:
      return capacity + value;  // more than there is
    case 6:
      return SIZE_MAX - value;  // overflows when rounded
    default:
      return std::size_t{1} << (value % 64);
  }
}

// Mostly small powers of two; some huge ones; some that are not powers of two.
std::size_t decode_alignment(input_reader& in) {
  const std::uint8_t code = in.byte();
  if (code < 160) return std::size_t{1} << (code % 13);       // 1 B .. 4 KiB
  if (code < 230) return std::size_t{1} << (13 + code % 35);  // 8 KiB .. 128 TiB
  if (code < 250) return std::size_t{3} << (code % 20);       // not a power of two
  return code == 250 ? 0 : std::size_t{1} << 63;
}

stream_view stream_number(std::uint8_t n) {
  // Stream 0 is the default stream; the others are names, as on the host backend.
  return n % stream_count == 0 ? stream_view{}
                               : stream_view(reinterpret_cast<CUstream_st*>(
                                     static_cast<std::uintptr_t>(0x1000 * (n % stream_count))));
}

address at(const void* pointer) { return reinterpret_cast<address>(pointer); }

struct live_allocation {
  std::size_t bytes = 0;
  std::size_t alignment = 0;
  std::uint8_t tag = 0;
  stream_view stream;  // stream-ordered blocks: the stream they were allocated on
};

class program {
 public:
  program()
      : counting_(std::make_shared<testing::counting_backend>(
            std::make_shared<test::exact_alignment_backend>(
                make_host_backend({.granularity = granularity, .capacity = capacity}),
                granularity))),
        faults_(std::make_shared<testing::fault_injecting_backend>(counting_)),
        events_(std::make_shared<testing::manual_event_backend>(faults_)) {}

  std::string run(std::span<const std::uint8_t> bytes) {
    input_reader in(bytes);
    try {
      build(in);
      for (std::size_t step = 0; step < max_operations && !in.exhausted() && failure_.empty();
           ++step) {
        const std::uint8_t opcode = in.byte();
        operation_ = fmt::format("operation {} (opcode {})", step, opcode);
        execute(opcode, in);
        check_invariants();
      }
      if (failure_.empty()) tear_down();
    } catch (const std::exception& unexpected) {
      fail(fmt::format("unexpected exception: {}", unexpected.what()));
    }
    return failure_;
  }

 private:
  // ---- setup and teardown ----

  void build(input_reader& in) {
    const std::uint8_t flags = in.byte();
    vmm_options shareable;
    shareable.shareable = handle_types::posix_fd;
    vmm_options plain;
    if (flags & 1) plain.location = memory_location::on_host();
    vmm_[0] = std::make_unique<vmm_resource>(faults_, count_reports(shareable));
    vmm_[1] = std::make_unique<vmm_resource>(faults_, count_reports(plain));
    stream_ordered_options options;
    options.memory = count_reports({});
    options.reservation_size = std::size_t{256} << 20;
    options.min_chunk_size = granularity * (1 + (flags >> 1) % 4);
    options.max_chunk_size = std::size_t{4} << 20;
    if (flags & 0x40) options.release_threshold = granularity * ((flags >> 3) % 8);
    // Bounded to its peak: past it, requests get alias ranges of free chunks.
    if (flags & 0x80) options.footprint_limit = 1.0;
    pool_ = std::make_unique<stream_ordered_resource>(events_, options);
  }

  vmm_options count_reports(vmm_options options) {
    options.on_bad_deallocation = [this](const deallocation_error&) { ++bad_deallocations_; };
    options.on_leak = [this](const leak_report& report) { leaked_ += report.leaked.size(); };
    return options;
  }

  void tear_down() {
    operation_ = "teardown";
    faults_->disarm();
    std::size_t expected_leaks = live_in_pool_.size();
    for (const auto& allocations : live_in_vmm_) expected_leaks += allocations.size();
    pool_.reset();
    vmm_[0].reset();
    vmm_[1].reset();
    expect(leaked_ == expected_leaks,
           fmt::format("{} leaks reported for {} live allocations", leaked_, expected_leaks));
    expect(events_->live_events() == 0, "events left alive");
    if (cleanup_reports() == 0) {
      expect(counting_->live() == testing::live_objects{},
             fmt::format("the backend still holds {} physical allocations, {} reservations, "
                         "{} mappings",
                         counting_->live().physical_allocations, counting_->live().reservations,
                         counting_->live().mappings));
    }
  }

  // ---- operations ----

  void execute(std::uint8_t opcode, input_reader& in) {
    switch (opcode % 12) {
      case 0:
      case 1:
        return allocate(in.byte() % 2, in);
      case 2:
        return deallocate(in.byte() % 2, in.byte());
      case 3:
        return bad_deallocate(in.byte() % 2, in.byte(), in.byte());
      case 4:
      case 5:
        return allocate_on_stream(in);
      case 6:
        return deallocate_on_stream(in.byte(), in.byte());
      case 7:
        return bad_deallocate_on_stream(in.byte(), in.byte());
      case 8:
        return complete_events(in.byte());
      case 9:
        return trim(in.byte());
      case 10:
        return share_or_set_access(in.byte(), in.byte());
      default:
        return arm_failure(in.byte());
    }
  }

  void allocate(int which, input_reader& in) {
    const std::size_t bytes = decode_size(in);
    const std::size_t alignment = decode_alignment(in);
    if (live_in_vmm_[which].size() >= max_live) return;
    void* pointer = nullptr;
    try {
      pointer = vmm_[which]->allocate(bytes, alignment);
    } catch (const invalid_argument&) {
      expect(!is_power_of_two(alignment), "invalid_argument for a power-of-two alignment");
      return;
    } catch (const out_of_memory&) {
      return;  // any size may find the memory (or the address space) exhausted
    } catch (const driver_error& failure) {
      expect_injected(failure);
      return;
    }
    expect(is_power_of_two(alignment), "allocate accepted an alignment that is no power of two");
    expect(pointer != nullptr && at(pointer) % alignment == 0,
           fmt::format("allocate({}, {}) returned {}", bytes, alignment, pointer));
    if (bytes == 0) {
      // A pointer that maps nothing; freeing it is a no-op.
      vmm_[which]->deallocate(pointer, 0, alignment);
      return;
    }
    const std::uint8_t tag = next_tag_++;
    mark(pointer, bytes, tag);
    live_in_vmm_[which][pointer] = {bytes, alignment, tag, {}};
  }

  void deallocate(int which, std::uint8_t index) {
    auto& live = live_in_vmm_[which];
    if (live.empty()) return;
    auto it = std::next(live.begin(), index % live.size());
    vmm_[which]->deallocate(it->first, it->second.bytes, it->second.alignment);
    freed_.push_back(it->first);
    live.erase(it);
  }

  // Every kind of bad deallocation: reported, counted, and nothing freed.
  void bad_deallocate(int which, std::uint8_t kind, std::uint8_t index) {
    auto& live = live_in_vmm_[which];
    int on_stack = 0;
    void* pointer = &on_stack;
    std::size_t bytes = 8;
    switch (kind % 5) {
      case 0:
        break;   // a foreign pointer
      case 1: {  // a pointer freed before, unless its address is live here again
        if (freed_.empty()) return;
        pointer = freed_[index % freed_.size()];
        if (live.count(pointer) != 0) return;
        bytes = granularity;
        break;
      }
      default: {  // wrong size, interior pointer, another resource's pointer
        auto& source = kind % 5 == 4 ? live_in_vmm_[1 - which] : live;
        if (source.empty()) return;
        const auto it = std::next(source.begin(), index % source.size());
        pointer = it->first;
        bytes = it->second.bytes;
        if (kind % 5 == 2) bytes += 1;
        if (kind % 5 == 3) pointer = static_cast<char*>(pointer) + 1;
        break;
      }
    }
    const std::size_t reported = bad_deallocations_;
    vmm_[which]->deallocate(pointer, bytes);
    ++expected_vmm_errors_[which];
    expect(bad_deallocations_ == reported + 1, "a bad deallocation was not reported once");
  }

  void allocate_on_stream(input_reader& in) {
    const stream_view stream = stream_number(in.byte());
    const std::size_t bytes = decode_size(in);
    const std::size_t alignment = decode_alignment(in);
    if (live_in_pool_.size() >= max_live) return;
    void* pointer = nullptr;
    try {
      pointer = pool_->allocate(bytes, stream, alignment);
    } catch (const invalid_argument&) {
      expect(!is_power_of_two(alignment), "invalid_argument for a power-of-two alignment");
      return;
    } catch (const out_of_memory&) {
      return;
    } catch (const driver_error& failure) {
      expect_injected(failure);
      return;
    }
    expect(is_power_of_two(alignment), "allocate accepted an alignment that is no power of two");
    expect(pointer != nullptr && at(pointer) % alignment == 0,
           fmt::format("allocate({}, {}) on a stream returned {}", bytes, alignment, pointer));
    if (bytes == 0) {
      pool_->deallocate(pointer, 0, stream, alignment);
      return;
    }
    expect(live_in_pool_.count(pointer) == 0, "a live block was handed out twice");
    const std::uint8_t tag = next_tag_++;
    mark(pointer, bytes, tag);
    live_in_pool_[pointer] = {bytes, alignment, tag, stream};
  }

  void deallocate_on_stream(std::uint8_t index, std::uint8_t stream) {
    if (live_in_pool_.empty()) return;
    auto it = std::next(live_in_pool_.begin(), index % live_in_pool_.size());
    // Mostly on the allocating stream, sometimes on another one.
    const stream_view on = stream < 192 ? it->second.stream : stream_number(stream);
    pool_->deallocate(it->first, it->second.bytes, on, it->second.alignment);
    freed_blocks_.push_back(it->first);
    live_in_pool_.erase(it);
  }

  void bad_deallocate_on_stream(std::uint8_t kind, std::uint8_t index) {
    int on_stack = 0;
    void* pointer = &on_stack;
    std::size_t bytes = 8;
    switch (kind % 4) {
      case 0:
        break;
      case 1:
        if (freed_blocks_.empty()) return;
        pointer = freed_blocks_[index % freed_blocks_.size()];
        // Its address may start a live block again (then this would be a good free), or
        // lie inside one (an interior pointer: still bad).
        if (live_in_pool_.count(pointer) != 0) return;
        break;
      default: {
        if (live_in_pool_.empty()) return;
        const auto it = std::next(live_in_pool_.begin(), index % live_in_pool_.size());
        pointer = it->first;
        bytes = it->second.bytes;
        if (kind % 4 == 2) bytes += 1;
        if (kind % 4 == 3) pointer = static_cast<char*>(pointer) + 1;
        break;
      }
    }
    const std::size_t reported = bad_deallocations_;
    pool_->deallocate(pointer, bytes, stream_number(kind));
    ++expected_pool_errors_;
    expect(bad_deallocations_ == reported + 1, "a bad stream-ordered free was not reported once");
  }

  void complete_events(std::uint8_t how) {
    switch (how % 4) {
      case 0:
        return events_->complete_all(stream_number(how >> 2));
      case 1:
        return events_->complete_everything();
      case 2:
        return events_->mark_idle(stream_number(how >> 2));
      default:
        return events_->mark_busy(stream_number(how >> 2));
    }
  }

  void trim(std::uint8_t keep) {
    try {
      pool_->trim(granularity * (keep % 64));
    } catch (const error& failure) {
      fail(fmt::format("trim threw: {}", failure.what()));
    }
  }

  // Export an allocation of the shareable resource and import it into the other one, or
  // change its access and change it back, or ask with bad grants.
  void share_or_set_access(std::uint8_t what, std::uint8_t index) {
    auto& exported_from = live_in_vmm_[0];
    if (exported_from.empty()) return;
    const auto it = std::next(exported_from.begin(), index % exported_from.size());
    void* pointer = it->first;
    try {
      switch (what % 4) {
        case 0: {
          if (live_in_vmm_[1].size() >= max_live) return;
          const exported_allocation shared = vmm_[0]->export_allocation(pointer);
          void* imported = vmm_[1]->import_allocation(shared);
          expect(has_mark(imported, it->second.bytes, it->second.tag),
                 "the imported allocation does not show the exporter's bytes");
          // The importer's own mark would overwrite the exporter's: keep the tag.
          live_in_vmm_[1][imported] = {
              it->second.bytes, alignof(std::max_align_t), it->second.tag, {}};
          shared_with_[imported] = pointer;
          return;
        }
        case 1: {
          const access_grant read_only{0, access_mode::read};
          vmm_[0]->set_access(pointer, {&read_only, 1});
          expect(vmm_[0]->access(pointer, 0) == access_mode::read, "set_access did not apply");
          const access_grant read_write{0, access_mode::read_write};
          vmm_[0]->set_access(pointer, {&read_write, 1});
          return;
        }
        case 2: {
          const access_grant bad{static_cast<int>(what >> 2) + 1, access_mode::read};
          try {
            vmm_[0]->set_access(pointer, {&bad, 1});
            fail("set_access accepted a device that does not exist");
          } catch (const invalid_argument&) {
          }
          return;
        }
        default: {
          try {
            (void)vmm_[1]->export_allocation(static_cast<char*>(pointer) + (what >> 2));
            fail("export_allocation of another resource's pointer succeeded");
          } catch (const invalid_argument&) {
          } catch (const unsupported_error&) {
          }
          return;
        }
      }
    } catch (const out_of_memory&) {
    } catch (const driver_error& failure) {
      expect_injected(failure);
    }
  }

  void arm_failure(std::uint8_t how) {
    faults_->fail_nth_call(1 + how % 6, how & 0x80 ? testing::injected_failure::out_of_memory
                                                   : testing::injected_failure::driver_error);
    armed_ = true;
  }

  // ---- checks ----

  void expect_injected(const driver_error& failure) {
    expect(armed_ && faults_->fired() && failure.result_name() == "INJECTED_FAILURE",
           fmt::format("driver_error without an injected failure: {}", failure.what()));
    armed_ = false;
    faults_->disarm();
  }

  void check_invariants() {
    if (armed_ && faults_->fired()) {
      armed_ = false;
      faults_->disarm();
    }
    std::size_t mapped = 0;
    for (int which = 0; which < 2; ++which) {
      const allocation_stats stats = vmm_[which]->stats();
      const std::vector<allocation_info> live = vmm_[which]->live_allocations();
      const auto& model = live_in_vmm_[which];
      expect(live.size() == model.size() && stats.live_count == model.size(),
             fmt::format("resource {}: {} live in the registry, {} in the stats, {} expected",
                         which, live.size(), stats.live_count, model.size()));
      expect(stats.deallocation_errors == expected_vmm_errors_[which],
             fmt::format("resource {}: {} deallocation errors counted, {} made", which,
                         stats.deallocation_errors, expected_vmm_errors_[which]));
      std::size_t requested = 0;
      for (const allocation_info& info : live) {
        const auto found = model.find(reinterpret_cast<void*>(info.base));
        expect(found != model.end() && found->second.bytes == info.requested_bytes,
               fmt::format("resource {}: the registry holds {:#x} ({} B), not in the model", which,
                           info.base, info.requested_bytes));
        requested += info.requested_bytes;
        mapped += info.mapped_bytes;
      }
      expect(requested == stats.live_bytes, "live bytes differ from the registry's");
      for (const auto& [pointer, allocation] : model) {
        expect(has_mark(pointer, allocation.bytes, allocation.tag),
               fmt::format("resource {}: the contents of {} changed", which, pointer));
      }
    }

    const stream_ordered_stats stats = pool_->stats();
    std::size_t live_bytes = 0;
    for (const auto& [pointer, block] : live_in_pool_) {
      live_bytes += block.bytes;
      expect(has_mark(pointer, block.bytes, block.tag),
             fmt::format("the contents of block {} changed", pointer));
    }
    expect(stats.live_count == live_in_pool_.size() && stats.live_bytes == live_bytes,
           fmt::format("stream-ordered: {} live ({} B), {} expected ({} B)", stats.live_count,
                       stats.live_bytes, live_in_pool_.size(), live_bytes));
    expect(stats.mapped_bytes == stats.live_block_bytes + stats.cached_bytes,
           fmt::format("stream-ordered: mapped {} != live blocks {} + cached {}",
                       stats.mapped_bytes, stats.live_block_bytes, stats.cached_bytes));
    const std::string pool_violation = pool_->check_invariants();
    expect(pool_violation.empty(), "stream-ordered: " + pool_violation);
    expect(stats.deallocation_errors == expected_pool_errors_,
           fmt::format("stream-ordered: {} bad frees counted, {} made", stats.deallocation_errors,
                       expected_pool_errors_));
    std::size_t registered = 0;
    std::size_t aliased = 0;
    for (const allocation_info& entry : mapping_registry::global().live(pool_.get())) {
      (entry.aliased ? aliased : registered) += entry.mapped_bytes;
    }
    expect(registered == stats.mapped_bytes,
           fmt::format("stream-ordered: the registry holds {} B of chunks, the stats say {} B",
                       registered, stats.mapped_bytes));
    expect(
        aliased == stats.alias_bytes,
        fmt::format("stream-ordered: the registry holds {} B of alias ranges, the stats say {} B",
                    aliased, stats.alias_bytes));
    mapped += stats.mapped_bytes + stats.alias_bytes;

    // What the backend maps is what the resources hold; after a failed undo (which the
    // fault injector does not forward) it may hold more.
    const std::size_t backend_mapped = counting_->live().mapped_bytes;
    if (cleanup_reports() == 0) {
      expect(backend_mapped == mapped,
             fmt::format("the backend maps {} B, the resources {} B", backend_mapped, mapped));
    } else {
      expect(backend_mapped >= mapped,
             fmt::format("the backend maps {} B, less than the resources' {} B", backend_mapped,
                         mapped));
    }
  }

  void mark(void* pointer, std::size_t bytes, std::uint8_t tag) {
    events_->fill(at(pointer), tag, 1);
    events_->fill(at(pointer) + bytes - 1, static_cast<std::uint8_t>(~tag), 1);
  }

  bool has_mark(const void* pointer, std::size_t bytes, std::uint8_t tag) {
    std::uint8_t first = 0;
    std::uint8_t last = 0;
    events_->copy_to_host(&first, at(pointer), 1);
    events_->copy_to_host(&last, at(pointer) + bytes - 1, 1);
    // A one-byte allocation holds only the second mark.
    const std::uint8_t expected_first = bytes == 1 ? static_cast<std::uint8_t>(~tag) : tag;
    return first == expected_first && last == static_cast<std::uint8_t>(~tag);
  }

  std::size_t cleanup_reports() const { return cleanup_error_count() - cleanup_errors_at_start_; }

  void expect(bool holds, const std::string& what) {
    if (!holds) fail(what);
  }
  void fail(const std::string& what) {
    if (failure_.empty()) failure_ = operation_ + ": " + what;
  }

  std::shared_ptr<testing::counting_backend> counting_;
  std::shared_ptr<testing::fault_injecting_backend> faults_;
  std::shared_ptr<testing::manual_event_backend> events_;
  // Declared after the backends and the counters their handlers write: destroyed first.
  std::size_t bad_deallocations_ = 0;
  std::size_t leaked_ = 0;
  std::array<std::unique_ptr<vmm_resource>, 2> vmm_;
  std::unique_ptr<stream_ordered_resource> pool_;

  std::array<std::map<void*, live_allocation>, 2> live_in_vmm_;
  std::map<void*, live_allocation> live_in_pool_;
  std::map<void*, void*> shared_with_;  // imported -> exported
  std::vector<void*> freed_;
  std::vector<void*> freed_blocks_;
  std::array<std::size_t, 2> expected_vmm_errors_{};
  std::size_t expected_pool_errors_ = 0;
  std::uint8_t next_tag_ = 1;
  bool armed_ = false;
  std::size_t cleanup_errors_at_start_ = cleanup_error_count();
  std::string operation_ = "setup";
  std::string failure_;
};

}  // namespace

std::string run_operations(std::span<const std::uint8_t> input) {
  // Cleanup failures (injected ones) are expected here: counted, not printed.
  cleanup_error_handler previous = set_cleanup_error_handler([](const std::string&) {});
  std::string failure;
  {
    program fuzzed;
    failure = fuzzed.run(input);
  }
  set_cleanup_error_handler(std::move(previous));
  return failure;
}

}  // namespace vmm_pmr::fuzz
