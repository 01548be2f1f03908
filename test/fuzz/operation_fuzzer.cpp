// The fuzz program (operation_fuzzer.hpp). The input is read as a stream of operations,
// each an opcode byte followed by the bytes its arguments need; a short input simply
// ends the program. Nothing here may crash, hang or allocate unboundedly for any input:
// sizes are drawn from a few scales (absurd ones included) and the backend's capacity
// bounds what can really be made.
#include "fuzz/operation_fuzzer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "fuzz/input_reader.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/buffer/device_vector.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/cleanup_errors.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"
#include "vmm_pmr/testing/counting_backend.hpp"
#include "vmm_pmr/testing/exact_alignment_backend.hpp"
#include "vmm_pmr/testing/failing_upstream_resource.hpp"
#include "vmm_pmr/testing/fault_injecting_backend.hpp"
#include "vmm_pmr/testing/manual_event_backend.hpp"

namespace vmm_pmr::fuzz {
namespace {

constexpr std::size_t granularity = std::size_t{64} << 10;
constexpr std::size_t capacity = std::size_t{64} << 20;
constexpr std::size_t max_operations = 512;
constexpr std::size_t max_live = 64;
constexpr int stream_count = 3;
constexpr std::size_t max_buffers = 8;
constexpr std::size_t max_stamps = 16;

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
  // A shrink's unmap failed: the tail stays mapped in the allocation's own address space,
  // where growing in place then fails (a driver error nobody injected).
  bool tail_left_mapped = false;
};

// The resources a device_buffer can be made on.
enum class buffer_home : std::uint8_t { shareable_vmm, plain_vmm, pool, pool_view, plain };
constexpr int buffer_home_count = 5;

// A device_buffer and the model it must match: what it reports, and bytes written at
// known offsets (the rest of its contents is uninitialised).
struct live_buffer {
  device_buffer buffer;
  buffer_home home = buffer_home::plain;
  std::size_t size = 0;
  std::size_t capacity = 0;
  std::size_t address_space = 0;
  void* data = nullptr;
  std::map<std::size_t, std::uint8_t> stamps;
  bool tail_left_mapped = false;  // as live_allocation's
};

class program {
 public:
  program()
      : counting_(std::make_shared<testing::counting_backend>(
            std::make_shared<testing::exact_alignment_backend>(
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
        check_buffers();
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
    pool_view_.emplace(*pool_, stream_number(2));
    // A plain std::pmr resource, with no more memory than the backend.
    plain_ = std::make_unique<testing::failing_upstream_resource>(std::pmr::new_delete_resource(),
                                                                  capacity);
  }

  vmm_options count_reports(vmm_options options) {
    options.on_bad_deallocation = [this](const deallocation_error&) { ++bad_deallocations_; };
    options.on_leak = [this](const leak_report& report) { leaked_ += report.leaked.size(); };
    return options;
  }

  void tear_down() {
    operation_ = "teardown";
    faults_->disarm();
    plain_->disarm();
    buffers_.clear();
    expect(plain_->live_count() == 0,
           fmt::format("{} allocations of the plain resource outlive their buffers",
                       plain_->live_count()));
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
    switch (opcode % 16) {
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
      case 11:
        return arm_failure(in.byte());
      case 12:
        return make_buffer(in);
      case 13:
        return change_buffer(in);
      case 14:
        return copy_move_or_write_buffer(in);
      default:
        return grow_or_shrink_allocation(in);
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
        if (live.count(pointer) != 0 || buffer_memory(vmm_[which].get()).count(pointer) != 0) {
          return;
        }
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
        if (live_in_pool_.count(pointer) != 0 || buffer_memory(pool_.get()).count(pointer) != 0) {
          return;
        }
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

  // ---- device buffers ----

  std::pmr::memory_resource* resource_of(buffer_home home) {
    switch (home) {
      case buffer_home::shareable_vmm:
        return vmm_[0].get();
      case buffer_home::plain_vmm:
        return vmm_[1].get();
      case buffer_home::pool:
        return pool_.get();
      case buffer_home::pool_view:
        return &*pool_view_;
      case buffer_home::plain:
        break;
    }
    return plain_.get();
  }
  static bool is_vmm(buffer_home home) {
    return home == buffer_home::shareable_vmm || home == buffer_home::plain_vmm;
  }
  // The resource that holds a buffer's memory: a view's memory is its pool's.
  const void* underlying(buffer_home home) {
    return home == buffer_home::pool_view ? pool_.get() : resource_of(home);
  }
  // The capacity a buffer of `bytes` has at `home`, or nullopt when that overflows.
  std::optional<std::size_t> rounded(buffer_home home, std::size_t bytes) {
    return is_vmm(home) ? round_up(bytes, granularity) : std::optional(bytes);
  }
  // A buffer's stream: any of the three, except on the plain resource, whose copies may
  // go to the CUDA driver (where there is one), which knows only real streams.
  static stream_view buffer_stream(buffer_home home, std::uint8_t n) {
    return home == buffer_home::plain ? stream_view{} : stream_number(n);
  }

  // A failure for a buffer operation to meet, when `how` asks for one: the n-th backend
  // call, or the n-th allocate of the plain resource.
  void arm_buffer_failure(buffer_home home, std::uint8_t how) {
    if ((how & 0x80) == 0) return;
    if (home == buffer_home::plain) {
      plain_->fail_nth_allocate(1 + how % 2);
    } else {
      arm_nth_call(how);
    }
  }

  // Fails the (1 + how % 8)-th backend call from now: as out of memory when bit 6 is set.
  void arm_nth_call(std::uint8_t how) {
    faults_->fail_nth_call(1 + how % 8, how & 0x40 ? testing::injected_failure::out_of_memory
                                                   : testing::injected_failure::driver_error);
    armed_ = true;
  }

  // Runs a buffer operation that may fail for want of memory (or an injected failure,
  // or, growing over a tail left mapped, a driver error); returns whether it succeeded.
  // Anything else it throws is a finding.
  template <typename Operation>
  bool attempt(buffer_home home, Operation&& operation, bool tail_left_mapped = false) {
    bool succeeded = false;
    try {
      operation();
      succeeded = true;
    } catch (const out_of_memory&) {
    } catch (const std::bad_alloc&) {
      expect(home == buffer_home::plain,
             "std::bad_alloc (not out_of_memory) from a buffer on a vmm_pmr resource");
    } catch (const driver_error& failure) {
      expect_driver_error(failure, tail_left_mapped);
    }
    plain_->disarm();
    return succeeded;
  }

  void stamp(live_buffer& entry, std::size_t offset, std::uint8_t value) {
    if (entry.stamps.size() >= max_stamps && entry.stamps.count(offset) == 0) {
      entry.stamps.erase(entry.stamps.begin());
    }
    entry.buffer.copy_from_host(offset, &value, 1, entry.buffer.stream());
    entry.stamps[offset] = value;
  }
  static void forget_stamps_from(live_buffer& entry, std::size_t size) {
    entry.stamps.erase(entry.stamps.lower_bound(size), entry.stamps.end());
  }

  void make_buffer(input_reader& in) {
    const auto home = static_cast<buffer_home>(in.byte() % buffer_home_count);
    const stream_view stream = buffer_stream(home, in.byte());
    const std::size_t bytes = decode_size(in);
    const std::uint8_t failure = in.byte();
    if (buffers_.size() >= max_buffers) return;
    live_buffer entry;
    entry.home = home;
    arm_buffer_failure(home, failure);
    if (!attempt(home, [&] { entry.buffer = device_buffer(bytes, stream, resource_of(home)); })) {
      return;
    }
    entry.size = bytes;
    entry.capacity = rounded(home, bytes).value_or(0);
    entry.data = entry.buffer.data();
    if (bytes != 0) {
      stamp(entry, 0, next_tag_);
      stamp(entry, bytes - 1, static_cast<std::uint8_t>(~next_tag_++));
    }
    buffers_.push_back(std::move(entry));
  }

  // Grows or shrinks a buffer (resize, reserve, shrink_to_fit, reserve_address_space,
  // device_vector's append), perhaps meeting an injected failure: when it throws, the
  // buffer must be as it was (check_buffers); otherwise as the model predicts.
  void change_buffer(input_reader& in) {
    const std::uint8_t index = in.byte();
    const std::uint8_t what = in.byte();
    const std::size_t bytes = decode_size(in);
    const std::uint8_t failure = in.byte();
    if (buffers_.empty()) return;
    live_buffer& entry = buffers_[index % buffers_.size()];
    device_buffer& buffer = entry.buffer;
    const stream_view stream = buffer_stream(entry.home, what >> 3);
    // What a successful operation leaves; whether it may move the memory.
    std::size_t size_after = entry.size;
    std::size_t capacity_after = entry.capacity;
    std::size_t address_space_after = entry.address_space;
    bool may_move = false;
    const auto grow_to = [&](std::size_t capacity) {
      if (capacity <= entry.capacity) return;
      capacity_after = rounded(entry.home, capacity).value_or(0);
      // Address space reserved ahead keeps a VMM buffer where it is.
      may_move =
          !(is_vmm(entry.home) && entry.data != nullptr && entry.address_space >= capacity_after);
    };
    std::vector<std::uint8_t> appended;
    std::function<void()> operation;
    switch (what % 6) {
      case 0:
        grow_to(bytes);
        size_after = bytes;
        operation = [&] { buffer.resize(bytes, stream); };
        break;
      case 1:
        grow_to(bytes);
        operation = [&] { buffer.reserve(bytes, stream); };
        break;
      case 2: {
        const std::size_t fitted = rounded(entry.home, entry.size).value_or(0);
        if (fitted != entry.capacity) {
          capacity_after = entry.size == 0 ? 0 : fitted;
          may_move = !is_vmm(entry.home) || entry.size == 0;
        }
        operation = [&] { buffer.shrink_to_fit(stream); };
        break;
      }
      case 3:
        if (is_vmm(entry.home) && bytes > entry.address_space) {
          address_space_after = rounded(entry.home, bytes).value_or(0);
          may_move = true;
        }
        operation = [&] { buffer.reserve_address_space(bytes); };
        break;
      case 4: {
        appended.resize(bytes % 4096);
        for (std::size_t i = 0; i < appended.size(); ++i) {
          appended[i] = static_cast<std::uint8_t>(what + i);
        }
        const std::size_t new_size = entry.size + appended.size();
        if (new_size > entry.capacity) {
          const std::size_t max = std::numeric_limits<std::size_t>::max();
          grow_to(std::max(new_size, entry.capacity <= max / 2 ? 2 * entry.capacity : max));
        }
        size_after = new_size;
        operation = [&] {
          device_vector<std::uint8_t> vector(std::move(buffer));
          try {
            vector.append(appended, stream);
          } catch (...) {
            buffer = vector.release_buffer();
            throw;
          }
          buffer = vector.release_buffer();
        };
        break;
      }
      default:
        size_after = entry.size == 0 ? 0 : bytes % entry.size;
        operation = [&] { buffer.resize(size_after, stream); };
        break;
    }
    arm_buffer_failure(entry.home, failure);
    const bool armed = armed_;
    if (!attempt(entry.home, operation, entry.tail_left_mapped)) return;

    if (!may_move) {
      expect(buffer.data() == entry.data,
             fmt::format("a buffer moved from {} to {} where it must stay", entry.data,
                         buffer.data()));
    }
    entry.size = size_after;
    entry.capacity = capacity_after;
    entry.address_space = address_space_after;
    entry.data = buffer.data();
    if (is_vmm(entry.home) && what % 6 == 2) {
      entry.tail_left_mapped = entry.tail_left_mapped || unmap_failed(armed);
    }
    if (entry.data == nullptr) entry.tail_left_mapped = false;  // freed with its address space
    forget_stamps_from(entry, entry.size);
    if (!appended.empty()) {
      const std::size_t first = entry.size - appended.size();
      entry.stamps[first] = appended.front();
      entry.stamps[entry.size - 1] = appended.back();
      while (entry.stamps.size() > max_stamps) entry.stamps.erase(entry.stamps.begin());
    }
  }

  // Copies a buffer onto any resource, moves one over another, destroys or releases
  // one, or writes a byte into one (within it, or past its end: out_of_range).
  void copy_move_or_write_buffer(input_reader& in) {
    const std::uint8_t what = in.byte();
    const std::uint8_t index = in.byte();
    const std::uint16_t where = in.u16();
    if (buffers_.empty()) return;
    const std::size_t source = index % buffers_.size();
    live_buffer& entry = buffers_[source];
    switch (what % 6) {
      case 0: {
        if (buffers_.size() >= max_buffers) return;
        const auto home = static_cast<buffer_home>((what >> 3) % buffer_home_count);
        const stream_view stream = entry.home == buffer_home::plain
                                       ? stream_view{}
                                       : buffer_stream(home, static_cast<std::uint8_t>(where));
        live_buffer copy;
        copy.home = home;
        arm_buffer_failure(home, static_cast<std::uint8_t>(where >> 8));
        if (!attempt(home, [&] {
              copy.buffer = device_buffer(entry.buffer, stream, resource_of(home));
            })) {
          return;
        }
        copy.size = entry.size;
        copy.capacity = rounded(home, entry.size).value_or(0);
        copy.data = copy.buffer.data();
        copy.stamps = entry.stamps;
        buffers_.push_back(std::move(copy));
        return;
      }
      case 1: {
        const std::size_t target = where % buffers_.size();
        if (target == source) return;
        buffers_[target] = std::move(entry);  // frees what the target held
        buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(source));
        return;
      }
      case 2:
        entry.buffer.release();
        expect(entry.buffer.data() == nullptr && entry.buffer.memory_resource() == nullptr,
               "a released buffer still holds memory or a resource");
        buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(source));
        return;
      case 3:
        buffers_.erase(buffers_.begin() + static_cast<std::ptrdiff_t>(source));
        return;
      case 4: {
        const std::uint8_t value = what;
        try {
          entry.buffer.copy_from_host(entry.size + where % 4, &value, 1, entry.buffer.stream());
          fail("a write past the end of a buffer was accepted");
        } catch (const out_of_range&) {
        }
        return;
      }
      default: {
        if (entry.size == 0) return;
        // Near either end, where growth and shrinking cut.
        const std::size_t offset =
            where % 2 == 0 ? (where >> 1) % entry.size : entry.size - 1 - (where >> 1) % entry.size;
        stamp(entry, offset, static_cast<std::uint8_t>(what ^ (where >> 8)));
        return;
      }
    }
  }

  // ---- growing and shrinking allocations of a vmm_resource ----

  // grow() and shrink() of an allocation, right (perhaps meeting an injected failure) and
  // wrong: the wrong size, a smaller or larger size than the call allows, an interior
  // pointer, another resource's pointer.
  void grow_or_shrink_allocation(input_reader& in) {
    const std::uint8_t what = in.byte();
    const std::uint8_t index = in.byte();
    const std::size_t amount = decode_size(in);
    const std::uint8_t extra = in.byte();
    const int which = what % 2;
    auto& live = live_in_vmm_[which];
    if (live.empty()) return;
    const auto it = std::next(live.begin(), index % live.size());
    void* const pointer = it->first;
    const live_allocation allocation = it->second;
    const std::size_t bytes = allocation.bytes;
    const stream_view stream = stream_number(extra);
    const std::optional<allocation_info> info = vmm_[which]->find(pointer);
    const bool imported = info && info->imported;
    // A one-byte allocation's mark is its last byte alone (has_mark): the mark of a larger
    // one would overwrite it, in memory another resource may share.
    if (bytes == 1) return;
    const std::size_t max = std::numeric_limits<std::size_t>::max();
    // Wrong calls ask for little more, so that the size cannot overflow first.
    const std::size_t more = amount % (4 * granularity);

    const auto expect_refused = [&](auto&& call, const char* what_was_wrong) {
      try {
        call();
        fail(fmt::format("{} was accepted", what_was_wrong));
      } catch (const invalid_argument&) {
      } catch (const unsupported_error&) {
        expect(imported,
               fmt::format("unsupported_error for {} of an allocation made here", what_was_wrong));
      }
    };
    switch ((what >> 1) % 6) {
      case 0: {
        const std::size_t new_bytes = amount > max - bytes ? max : bytes + amount;
        const std::size_t address_space = extra & 1 ? new_bytes + amount : 0;
        if (extra & 0x80)
          arm_nth_call(static_cast<std::uint8_t>((extra >> 3) % 8 | (extra & 0x40)));
        void* grown = nullptr;
        try {
          grown = vmm_[which]->grow(pointer, bytes, new_bytes, stream,
                                    address_space < new_bytes ? 0 : address_space);
        } catch (const unsupported_error&) {
          expect(imported, "grow of an allocation made here was unsupported");
          return;
        } catch (const out_of_memory&) {
          return;
        } catch (const driver_error& failure) {
          expect_driver_error(failure, allocation.tail_left_mapped);
          return;
        }
        expect(!imported, "an imported allocation grew");
        expect(grown != nullptr && at(grown) % allocation.alignment == 0,
               fmt::format("grow moved an allocation aligned to {} to {}", allocation.alignment,
                           grown));
        expect(has_mark(grown, bytes, allocation.tag),
               fmt::format("grow from {} to {} B lost the contents", bytes, new_bytes));
        live.erase(it);
        live[grown] = {new_bytes,
                       allocation.alignment,
                       allocation.tag,
                       {},
                       allocation.tail_left_mapped && grown == pointer};
        mark_end(grown, new_bytes, allocation.tag);
        return;
      }
      case 1: {
        const std::size_t new_bytes = 2 + amount % (bytes - 1);
        const bool armed = armed_;
        try {
          vmm_[which]->shrink(pointer, bytes, new_bytes, stream);
        } catch (const unsupported_error&) {
          expect(imported, "shrink of an allocation made here was unsupported");
          return;
        }
        std::uint8_t first = 0;
        events_->copy_to_host(&first, at(pointer), 1);
        expect(first == allocation.tag,
               fmt::format("shrink from {} to {} B lost the first byte", bytes, new_bytes));
        it->second.bytes = new_bytes;
        it->second.tail_left_mapped = allocation.tail_left_mapped || unmap_failed(armed);
        mark_end(pointer, new_bytes, allocation.tag);
        return;
      }
      case 2:
        return expect_refused([&] { vmm_[which]->grow(pointer, bytes + 1, bytes + more + 1); },
                              "grow with the wrong size");
      case 3:
        expect_refused([&] { vmm_[which]->grow(pointer, bytes, bytes - 1); },
                       "grow to a smaller size");
        return expect_refused([&] { vmm_[which]->shrink(pointer, bytes, bytes + 1 + more); },
                              "shrink to a larger size");
      case 4:
        return expect_refused([&] { vmm_[which]->shrink(pointer, bytes, 0); }, "shrink to 0 bytes");
      default: {
        void* const interior = static_cast<char*>(pointer) + 1 + amount % (bytes - 1);
        expect_refused([&] { vmm_[which]->grow(interior, bytes, bytes + more); },
                       "grow of an interior pointer");
        return expect_refused([&] { vmm_[1 - which]->grow(pointer, bytes, bytes + more); },
                              "grow of another resource's allocation");
      }
    }
  }

  // ---- checks ----

  void expect_injected(const driver_error& failure) {
    expect(armed_ && faults_->fired() && failure.result_name() == "INJECTED_FAILURE",
           fmt::format("driver_error without an injected failure: {}", failure.what()));
    armed_ = false;
    faults_->disarm();
  }

  // A driver error must be one injected, or (`tail_left_mapped`) the driver refusing to
  // map over a tail it failed to unmap before.
  void expect_driver_error(const driver_error& failure, bool tail_left_mapped) {
    if (failure.result_name() != "INJECTED_FAILURE" && tail_left_mapped) return;
    expect_injected(failure);
  }
  // Whether the failure armed before an operation (`armed`) fired at an unmap.
  bool unmap_failed(bool armed) const {
    return armed && faults_->fired_call() == testing::backend_call::unmap;
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
      const std::map<const void*, std::size_t> buffers = buffer_memory(vmm_[which].get());
      const std::size_t expected_live = model.size() + buffers.size();
      expect(live.size() == expected_live && stats.live_count == expected_live,
             fmt::format("resource {}: {} live in the registry, {} in the stats, {} expected",
                         which, live.size(), stats.live_count, expected_live));
      expect(stats.deallocation_errors == expected_vmm_errors_[which],
             fmt::format("resource {}: {} deallocation errors counted, {} made", which,
                         stats.deallocation_errors, expected_vmm_errors_[which]));
      std::size_t requested = 0;
      for (const allocation_info& info : live) {
        const auto found = model.find(reinterpret_cast<void*>(info.base));
        const auto buffer = buffers.find(reinterpret_cast<const void*>(info.base));
        expect((found != model.end() && found->second.bytes == info.requested_bytes) ||
                   (buffer != buffers.end() && buffer->second == info.requested_bytes),
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
    const std::map<const void*, std::size_t> pool_buffers = buffer_memory(pool_.get());
    for (const auto& [pointer, bytes] : pool_buffers) live_bytes += bytes;
    const std::size_t live_count = live_in_pool_.size() + pool_buffers.size();
    expect(stats.live_count == live_count && stats.live_bytes == live_bytes,
           fmt::format("stream-ordered: {} live ({} B), {} expected ({} B)", stats.live_count,
                       stats.live_bytes, live_count, live_bytes));
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

  // Every buffer reports what the model says, holds the bytes written into it, and
  // belongs to its resource.
  void check_buffers() {
    for (live_buffer& entry : buffers_) {
      const device_buffer& buffer = entry.buffer;
      expect(buffer.size() == entry.size && buffer.capacity() == entry.capacity &&
                 buffer.data() == entry.data && buffer.address_space() == entry.address_space,
             fmt::format("a buffer holds {} B of {} at {} with {} B of address space; the "
                         "model: {} B of {} at {} with {} B",
                         buffer.size(), buffer.capacity(), buffer.data(), buffer.address_space(),
                         entry.size, entry.capacity, entry.data, entry.address_space));
      expect((buffer.data() == nullptr) == (buffer.capacity() == 0),
             "a buffer's data is null with capacity, or not null without");
      expect(buffer.memory_resource() == resource_of(entry.home), "a buffer changed its resource");
      for (const auto& [offset, value] : entry.stamps) {
        if (offset >= buffer.size()) break;
        std::uint8_t held = 0;
        buffer.copy_to_host(&held, offset, 1, buffer.stream());
        expect(held == value, fmt::format("a buffer of {} B holds {:#x} at offset {}, not {:#x}",
                                          buffer.size(), held, offset, value));
      }
    }
  }

  // The memory of the live buffers held by `resource` (a view's by its pool): where it
  // starts, and its size.
  std::map<const void*, std::size_t> buffer_memory(const void* resource) {
    std::map<const void*, std::size_t> memory;
    for (const live_buffer& entry : buffers_) {
      if (entry.buffer.data() != nullptr && underlying(entry.home) == resource) {
        memory[entry.buffer.data()] = entry.buffer.capacity();
      }
    }
    return memory;
  }

  void mark(void* pointer, std::size_t bytes, std::uint8_t tag) {
    events_->fill(at(pointer), tag, 1);
    events_->fill(at(pointer) + bytes - 1, static_cast<std::uint8_t>(~tag), 1);
  }

  // The last byte's mark only: after growing or shrinking an allocation that may share
  // its memory, whose first byte holds the mark already.
  void mark_end(void* pointer, std::size_t bytes, std::uint8_t tag) {
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
  std::optional<stream_bound_resource> pool_view_;
  std::unique_ptr<testing::failing_upstream_resource> plain_;
  // Declared after the resources: destroyed first.
  std::vector<live_buffer> buffers_;

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
