// Every public entry point given bad arguments, and the error each must give.
//
// One row per call: what is called (as docs/errors.md shows it), the outcome (an exception
// type, "reported" for a deallocation that cannot throw and is reported through
// vmm_options::on_bad_deallocation and counted in stats().deallocation_errors, or
// "no error" for a documented quiet answer), and a part of the message. A throwing call
// must leave the backend holding exactly what it held before. docs/errors.md holds this
// same table: the last test case checks that it does, row for row
// (`vmm_pmr_tests "[.bad_input_table]"` prints the rows to paste).
#include <catch2/catch_test_macros.hpp>
#include <catch2/generators/catch_generators.hpp>
#include <catch2/generators/catch_generators_range.hpp>

#include <fmt/format.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "support/printers.hpp"
#include "support/resource_fixtures.hpp"
#include "support/stream_ordered_harness.hpp"
#include "vmm_pmr/core/byte_size.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"
#include "vmm_pmr/ipc/exported_allocation.hpp"
#include "vmm_pmr/registry/mapping_registry.hpp"
#include "vmm_pmr/resource/current_resource.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

using vmm_pmr::access_grant;
using vmm_pmr::access_mode;
using vmm_pmr::handle_types;
using vmm_pmr::vmm_options;
using vmm_pmr::vmm_resource;
using vmm_pmr::test::two_mib;

namespace {

constexpr std::size_t size_max = std::numeric_limits<std::size_t>::max();
const vmm_pmr::stream_view stream_a = vmm_pmr::test::test_stream(0xa0);

// What every row works on: two vmm_resources (the first shareable) and a
// stream_ordered_resource over the host backend (2 MiB granularity) and the test doubles,
// each with a live allocation; bad deallocations are recorded, not printed.
struct scene {
  vmm_pmr::test::stream_ordered_harness harness;
  vmm_pmr::test::report_recorder reports;
  std::unique_ptr<vmm_resource> shareable;
  std::unique_ptr<vmm_resource> plain;
  std::unique_ptr<vmm_pmr::stream_ordered_resource> pool;
  void* p = nullptr;      // shareable's, 1 MiB
  void* other = nullptr;  // plain's, 1 MiB
  void* block = nullptr;  // pool's, 1000 B on stream_a
  int not_allocated = 0;  // its address is nobody's allocation

  scene() {
    vmm_options options;
    options.shareable = handle_types::posix_fd;
    shareable = std::make_unique<vmm_resource>(harness.events, reports.attach(options));
    plain = std::make_unique<vmm_resource>(harness.events, reports.attach({}));
    pool = harness.make();
    p = shareable->allocate(bytes);
    other = plain->allocate(bytes);
    block = pool->allocate(1000, stream_a);
  }
  ~scene() {
    pool->deallocate(block, 1000, stream_a);
    plain->deallocate(other, bytes);
    shareable->deallocate(p, bytes);
  }
  scene(const scene&) = delete;
  scene& operator=(const scene&) = delete;

  std::vector<std::string> bad_deallocations() {
    std::vector<std::string> messages;
    for (const auto& e : reports.bad_deallocations) messages.push_back(e.message);
    for (const auto& e : harness.reports.bad_deallocations) messages.push_back(e.message);
    return messages;
  }
  std::uint64_t deallocation_errors() const {
    return shareable->stats().deallocation_errors + plain->stats().deallocation_errors +
           pool->stats().deallocation_errors;
  }
  vmm_pmr::exported_allocation exported() { return shareable->export_allocation(p); }
  vmm_resource on_host_backend(vmm_options options) {
    return vmm_resource(harness.events, std::move(options));
  }

  static constexpr std::size_t bytes = std::size_t{1} << 20;
};

vmm_options device_ordinal(int device) {
  vmm_options options;
  options.device = device;
  return options;
}

enum class outcome {
  invalid_argument,
  out_of_memory,
  unsupported_error,
  driver_error,
  error,
  reported,
  no_error,
};

const char* to_string(outcome o) {
  switch (o) {
    case outcome::invalid_argument:
      return "`invalid_argument`";
    case outcome::out_of_memory:
      return "`out_of_memory`";
    case outcome::unsupported_error:
      return "`unsupported_error`";
    case outcome::driver_error:
      return "`driver_error`";
    case outcome::error:
      return "`error`";
    case outcome::reported:
      return "reported, counted, nothing freed";
    case outcome::no_error:
      return "no error";
  }
  return "?";
}

struct bad_input {
  std::string call;
  outcome expected;
  std::string message;  // a part of what() or of the report; for no_error, what happens
  // Makes the call; for rows that do not throw, returns whether the documented
  // postcondition holds.
  std::function<bool(scene&)> make_call;
};

std::string documented_row(const bad_input& row) {
  return "| `" + row.call + "` | " + to_string(row.expected) + " | " + row.message + " |";
}

template <typename Call>
std::function<bool(scene&)> throwing(Call call) {
  return [call](scene& s) {
    call(s);
    return true;
  };
}

// stream_ordered_options::footprint_limit must be a finite number ≥ 1.0; the message
// names the option and the value as fmt prints it.
bad_input footprint_limit_row(const std::string& shown, double limit) {
  const std::string printed = fmt::format("{}", limit);
  return {"stream_ordered_options{.footprint_limit = " + shown + "}", outcome::invalid_argument,
          "footprint_limit = " + printed + " must be a finite number", throwing([limit](scene& s) {
            vmm_pmr::stream_ordered_options options;
            options.footprint_limit = limit;
            (void)vmm_pmr::stream_ordered_resource(s.harness.events, options);
          })};
}

std::vector<bad_input> bad_input_table() {
  using o = outcome;
  return {
      // ---- vmm_resource::allocate / deallocate ----
      {"vmm_resource::allocate(n, 3)", o::invalid_argument, "alignment 3 is not a power of two",
       throwing([](scene& s) { (void)s.plain->allocate(100, 3); })},
      {"vmm_resource::allocate(n, 0)", o::invalid_argument, "alignment 0 is not a power of two",
       throwing([](scene& s) { (void)s.plain->allocate(100, 0); })},
      {"vmm_resource::allocate(SIZE_MAX)", o::out_of_memory, "overflows when rounded up",
       throwing([](scene& s) { (void)s.plain->allocate(size_max); })},
      {"vmm_resource::allocate(SIZE_MAX / 2)", o::out_of_memory, "8.0 EiB",
       throwing([](scene& s) { (void)s.plain->allocate(size_max / 2); })},
      {"vmm_resource::allocate(n, 1 << 62)", o::out_of_memory, "alignment 4611686018427387904",
       throwing([](scene& s) { (void)s.plain->allocate(100, std::size_t{1} << 62); })},
      {"vmm_resource::allocate(0)", o::no_error, "a non-null pointer; deallocate(it, 0) is a no-op",
       [](scene& s) {
         void* zero = s.plain->allocate(0);
         s.plain->deallocate(zero, 0);
         return zero != nullptr && s.bad_deallocations().empty();
       }},
      {"vmm_resource::deallocate(allocate(0, 64), 0, 16)", o::reported,
       "alignment differs: deallocate was given alignment 16, but 0x40 is the pointer "
       "allocate(0, 64) returns",
       [](scene& s) {
         s.plain->deallocate(s.plain->allocate(0, 64), 0, 16);
         return true;
       }},
      {"vmm_resource::deallocate(foreign, n)", o::reported,
       "pointer was not allocated by this resource",
       [](scene& s) {
         s.plain->deallocate(&s.not_allocated, 8);
         return true;
       }},
      {"vmm_resource::deallocate(p + 1, n)", o::reported, "pointer is inside an allocation",
       [](scene& s) {
         s.plain->deallocate(static_cast<char*>(s.other) + 1, scene::bytes);
         return s.plain->find(s.other).has_value();
       }},
      {"vmm_resource::deallocate(p, n + 1)", o::reported, "size differs",
       [](scene& s) {
         s.plain->deallocate(s.other, scene::bytes + 1);
         return s.plain->find(s.other).has_value();  // stays live
       }},
      {"vmm_resource::deallocate(another resource's p, n)", o::reported,
       "pointer belongs to another resource",
       [](scene& s) {
         s.plain->deallocate(s.p, scene::bytes);
         return s.shareable->find(s.p).has_value();
       }},
      {"vmm_resource::deallocate(p, n) twice", o::reported, "double free",
       [](scene& s) {
         void* twice = s.plain->allocate(100);
         s.plain->deallocate(twice, 100);
         s.plain->deallocate(twice, 100);
         return true;
       }},
      {"vmm_resource::deallocate(p, n) after its resource was destroyed", o::reported,
       "pointer was not allocated by this resource",
       [](scene& s) {
         void* orphan = nullptr;
         {
           vmm_options quiet;
           quiet.on_leak = [](const vmm_pmr::leak_report&) {};
           vmm_resource gone(s.harness.events, quiet);
           orphan = gone.allocate(100);
         }
         s.plain->deallocate(orphan, 100);
         return true;
       }},
      // ---- sharing and access ----
      {"export_allocation(foreign)", o::invalid_argument, "unknown pointer",
       throwing([](scene& s) { (void)s.shareable->export_allocation(&s.not_allocated); })},
      {"export_allocation(p + 1)", o::invalid_argument, "interior pointer", throwing([](scene& s) {
         (void)s.shareable->export_allocation(static_cast<char*>(s.p) + 1);
       })},
      {"export_allocation(another resource's p)", o::invalid_argument,
       "belongs to another resource",
       throwing([](scene& s) { (void)s.shareable->export_allocation(s.other); })},
      {"export_allocation(p, handle_types::none)", o::invalid_argument, "exactly one handle type",
       throwing([](scene& s) { (void)s.shareable->export_allocation(s.p, handle_types::none); })},
      {"export_allocation(p) without vmm_options::shareable", o::unsupported_error,
       "set vmm_options::shareable",
       throwing([](scene& s) { (void)s.plain->export_allocation(s.other); })},
      {"export_allocation(imported)", o::unsupported_error, "not exported again",
       throwing([](scene& s) {
         vmm_options shareable;
         shareable.shareable = handle_types::posix_fd;
         vmm_resource importer(s.harness.events, shareable);
         void* imported = importer.import_allocation(s.exported());
         try {
           (void)importer.export_allocation(imported);
         } catch (...) {
           importer.deallocate(imported, scene::bytes);
           throw;
         }
       })},
      {"import_allocation(a closed fd)", o::invalid_argument, "is not an open file descriptor",
       throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         ::close(shared.fds.front().release());
         shared.fds.front().reset(1 << 20);  // a number no open fd has
         try {
           (void)s.plain->import_allocation(shared);
         } catch (...) {
           (void)shared.fds.front().release();
           throw;
         }
       })},
      {"import_allocation(one fd too many)", o::invalid_argument, "2 fds for 1 posix_fd chunks",
       throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         shared.fds.push_back(std::move(s.exported().fds.front()));
         (void)s.plain->import_allocation(shared);
       })},
      {"import_allocation(moved-from exported_allocation)", o::invalid_argument, "no chunks",
       throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         vmm_pmr::exported_allocation taken = std::move(shared);
         (void)s.plain->import_allocation(shared);  // NOLINT: use after move, on purpose
       })},
      {"import_allocation(requested bytes beyond the chunks)", o::invalid_argument,
       "exceed the 2097152 B the chunks map", throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         shared.descriptor.requested_bytes = 3 * two_mib;
         (void)s.plain->import_allocation(shared);
       })},
      {"import_allocation(a granularity this device cannot map)", o::invalid_argument,
       "is not a multiple of", throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         shared.descriptor.granularity = 4096;
         shared.descriptor.chunk_sizes = {4096};
         shared.descriptor.requested_bytes = 4096;
         (void)s.plain->import_allocation(shared);
       })},
      {"import_allocation(an fd that is no memory)", o::driver_error, "importing chunk 0 of 1",
       throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         int ends[2];
         REQUIRE(::pipe(ends) == 0);
         ::close(ends[1]);
         shared.fds.front().reset(ends[0]);
         (void)s.plain->import_allocation(shared);
       })},
      {"set_access(p, {{7, read}})", o::invalid_argument, "device 7 does not exist",
       throwing([](scene& s) {
         const access_grant grant{7, access_mode::read};
         s.plain->set_access(s.other, {&grant, 1});
       })},
      {"set_access(p, {{0, read}, {0, none}})", o::invalid_argument, "named twice",
       throwing([](scene& s) {
         const access_grant grants[] = {{0, access_mode::read}, {0, access_mode::none}};
         s.plain->set_access(s.other, grants);
       })},
      {"set_access(device memory, {{host_cpu, read}})", o::invalid_argument,
       "the host CPU cannot be granted access", throwing([](scene& s) {
         const access_grant grant{access_grant::host_cpu, access_mode::read};
         s.plain->set_access(s.other, {&grant, 1});
       })},
      {"set_access(foreign, grants)", o::invalid_argument, "unknown pointer",
       throwing([](scene& s) {
         const access_grant grant{0, access_mode::read};
         s.plain->set_access(&s.not_allocated, {&grant, 1});
       })},
      {"access(p, 7)", o::invalid_argument, "device 7 does not exist",
       throwing([](scene& s) { (void)s.plain->access(s.other, 7); })},
      {"access(foreign, 0)", o::invalid_argument, "unknown pointer",
       throwing([](scene& s) { (void)s.plain->access(&s.not_allocated, 0); })},
      {"vmm_resource::find(foreign)", o::no_error, "nullopt",
       [](scene& s) { return !s.plain->find(&s.not_allocated).has_value(); }},
      {"vmm_resource::find(another resource's p)", o::no_error, "nullopt",
       [](scene& s) { return !s.plain->find(s.p).has_value(); }},
      {"mapping_registry::global().find(nullptr)", o::no_error, "nullopt",
       [](scene&) { return !vmm_pmr::mapping_registry::global().find(nullptr).has_value(); }},
      // ---- vmm_options, checked at construction ----
      {"vmm_options{.device = 5}", o::invalid_argument, "device 5 does not exist",
       throwing([](scene& s) { (void)s.on_host_backend(device_ordinal(5)); })},
      {"vmm_options{.device = -1}", o::invalid_argument, "device -1 does not exist",
       throwing([](scene& s) { (void)s.on_host_backend(device_ordinal(-1)); })},
      {"vmm_options{.location = on_device(3)}", o::invalid_argument,
       "location: device 3 does not exist", throwing([](scene& s) {
         vmm_options options;
         options.location = vmm_pmr::memory_location::on_device(3);
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.granularity = multiple_of(3 MiB)}", o::invalid_argument,
       "must be a nonzero multiple of the minimum granularity", throwing([](scene& s) {
         vmm_options options;
         options.granularity = vmm_pmr::granularity_choice::multiple_of(3 << 20);
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.granularity = multiple_of(0)}", o::invalid_argument,
       "must be a nonzero multiple of the minimum granularity", throwing([](scene& s) {
         vmm_options options;
         options.granularity = vmm_pmr::granularity_choice::multiple_of(0);
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.reservation_alignment = 3 MiB}", o::invalid_argument,
       "reservation_alignment 3145728 is not a power of two", throwing([](scene& s) {
         vmm_options options;
         options.reservation_alignment = 3 << 20;
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.access = {{0}, {0}}}", o::invalid_argument, "listed more than once",
       throwing([](scene& s) {
         vmm_options options;
         options.access = {{0, access_mode::read}, {0, access_mode::read_write}};
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.access = {{host_cpu}}} on device memory", o::invalid_argument,
       "the host CPU cannot be granted access", throwing([](scene& s) {
         vmm_options options;
         options.access = {{access_grant::host_cpu, access_mode::read}};
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.location = on_host(), .shareable = posix_fd}", o::unsupported_error,
       "host-location memory cannot carry shareable handle types", throwing([](scene& s) {
         vmm_options options;
         options.location = vmm_pmr::memory_location::on_host();
         options.shareable = handle_types::posix_fd;
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.shareable = fabric} where unsupported", o::unsupported_error,
       "does not export fabric handles", throwing([](scene& s) {
         vmm_options options;
         options.shareable = handle_types::fabric;
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.gpu_direct_rdma = true} where unsupported", o::unsupported_error,
       "does not support GPUDirect RDMA with VMM", throwing([](scene& s) {
         vmm_options options;
         options.gpu_direct_rdma = true;
         (void)s.on_host_backend(options);
       })},
      {"vmm_options{.compression = required} where unsupported", o::unsupported_error,
       "does not support generic compression", throwing([](scene& s) {
         vmm_options options;
         options.compression = vmm_pmr::compression::required;
         (void)s.on_host_backend(options);
       })},
      // ---- stream_ordered_resource ----
      {"stream_ordered_resource::allocate(n, stream, 3)", o::invalid_argument,
       "alignment 3 is not a power of two",
       throwing([](scene& s) { (void)s.pool->allocate(100, stream_a, 3); })},
      {"stream_ordered_resource::allocate(SIZE_MAX, stream)", o::out_of_memory,
       "overflows when rounded up",
       throwing([](scene& s) { (void)s.pool->allocate(size_max, stream_a); })},
      {"stream_ordered_resource::allocate(more than the reservation, stream)", o::out_of_memory,
       "also after trimming",
       throwing([](scene& s) { (void)s.pool->allocate(size_max / 4, stream_a); })},
      {"stream_ordered_resource::allocate(n, stream, 1 << 62)", o::out_of_memory,
       "alignment 4611686018427387904",
       throwing([](scene& s) { (void)s.pool->allocate(100, stream_a, std::size_t{1} << 62); })},
      {"stream_ordered_resource::deallocate(allocate(0, stream, 64), 0, stream, 16)", o::reported,
       "alignment differs: deallocate was given alignment 16, but 0x40 is the pointer "
       "allocate(0, 64) returns",
       [](scene& s) {
         s.pool->deallocate(s.pool->allocate(0, stream_a, 64), 0, stream_a, 16);
         return true;
       }},
      {"stream_ordered_resource::deallocate(foreign, n, stream)", o::reported,
       "pointer was not allocated by this resource",
       [](scene& s) {
         s.pool->deallocate(&s.not_allocated, 8, stream_a);
         return true;
       }},
      {"stream_ordered_resource::deallocate(p + 1, n, stream)", o::reported,
       "pointer is inside an allocation",
       [](scene& s) {
         s.pool->deallocate(static_cast<char*>(s.block) + 1, 1000, stream_a);
         return s.pool->stats().live_count == 1;
       }},
      {"stream_ordered_resource::deallocate(p, n + 1, stream)", o::reported, "size differs",
       [](scene& s) {
         s.pool->deallocate(s.block, 1001, stream_a);
         return s.pool->stats().live_count == 1;  // stays live
       }},
      {"stream_ordered_resource::deallocate(p, n, stream) twice", o::reported, "double free",
       [](scene& s) {
         void* twice = s.pool->allocate(5000, stream_a);
         s.pool->deallocate(twice, 5000, stream_a);
         s.pool->deallocate(twice, 5000, stream_a);
         return true;
       }},
      {"stream_ordered_resource::deallocate(a vmm_resource's p, n, stream)", o::reported,
       "pointer belongs to another resource",
       [](scene& s) {
         s.pool->deallocate(s.other, scene::bytes, stream_a);
         return s.plain->find(s.other).has_value();
       }},
      {"on_stream(stream).allocate(n, 3)", o::invalid_argument, "alignment 3 is not a power of two",
       throwing([](scene& s) { (void)s.pool->on_stream(stream_a).allocate(100, 3); })},
      {"trim() while a stream captures a graph", o::error, "is capturing a CUDA graph",
       throwing([](scene& s) {
         s.harness.events->begin_capture(stream_a);
         try {
           (void)s.pool->trim();
         } catch (...) {
           s.harness.events->end_capture(stream_a);
           throw;
         }
       })},
      {"stream_ordered_options{.min_chunk_size = 8 MiB, .max_chunk_size = 4 MiB}",
       o::invalid_argument, "is larger than max_chunk_size", throwing([](scene& s) {
         vmm_pmr::stream_ordered_options options;
         options.min_chunk_size = 8 << 20;
         options.max_chunk_size = 4 << 20;
         (void)vmm_pmr::stream_ordered_resource(s.harness.events, options);
       })},
      {"stream_ordered_options{.min_chunk_size = 3 MiB}", o::invalid_argument,
       "min_chunk_size = 3145728 (3 MiB) is not a multiple of the 2 MiB granularity (chunks are "
       "whole granules): use 2097152 (2 MiB) or 4194304 (4 MiB)",
       throwing([](scene& s) {
         vmm_pmr::stream_ordered_options options;
         options.min_chunk_size = 3 << 20;
         (void)vmm_pmr::stream_ordered_resource(s.harness.events, options);
       })},
      {"stream_ordered_options{.max_chunk_size = 1}", o::invalid_argument,
       "max_chunk_size = 1 (1 B) is not a multiple of the 2 MiB granularity (chunks are whole "
       "granules): use 2097152 (2 MiB)",
       throwing([](scene& s) {
         vmm_pmr::stream_ordered_options options;
         options.max_chunk_size = 1;
         (void)vmm_pmr::stream_ordered_resource(s.harness.events, options);
       })},
      {"stream_ordered_options{.reservation_size = SIZE_MAX}", o::invalid_argument,
       "reservation_size = 18446744073709551615 overflows", throwing([](scene& s) {
         vmm_pmr::stream_ordered_options options;
         options.reservation_size = size_max;
         (void)vmm_pmr::stream_ordered_resource(s.harness.events, options);
       })},
      footprint_limit_row("0.5", 0.5),
      footprint_limit_row("0.0", 0.0),
      footprint_limit_row("-1", -1.0),
      footprint_limit_row("NaN", std::numeric_limits<double>::quiet_NaN()),
      footprint_limit_row("+inf", std::numeric_limits<double>::infinity()),
      // ---- descriptors, transport, current resource, byte sizes ----
      {"shared_allocation_descriptor::parse(3 bytes)", o::invalid_argument, "truncated",
       throwing([](scene&) {
         const std::byte three[3] = {};
         (void)vmm_pmr::shared_allocation_descriptor::parse(three);
       })},
      {"shared_allocation_descriptor::parse(bad magic)", o::invalid_argument, "bad magic",
       throwing([](scene& s) {
         std::vector<std::byte> bytes = s.exported().descriptor.serialize();
         bytes[0] = std::byte{'X'};
         (void)vmm_pmr::shared_allocation_descriptor::parse(bytes);
       })},
      {"shared_allocation_descriptor::parse(trailing bytes)", o::invalid_argument, "trailing bytes",
       throwing([](scene& s) {
         std::vector<std::byte> bytes = s.exported().descriptor.serialize();
         bytes.push_back(std::byte{0});
         (void)vmm_pmr::shared_allocation_descriptor::parse(bytes);
       })},
      {"shared_allocation_descriptor{.requested_bytes = 0}.serialize()", o::invalid_argument,
       "requested bytes is 0", throwing([](scene& s) {
         vmm_pmr::shared_allocation_descriptor descriptor = s.exported().descriptor;
         descriptor.requested_bytes = 0;
         (void)descriptor.serialize();
       })},
      {"send_allocation(-1, exported)", o::driver_error, "EBADF",
       throwing([](scene& s) { vmm_pmr::send_allocation(-1, s.exported()); })},
      {"send_allocation(socket, moved-from exported_allocation)", o::invalid_argument, "no chunks",
       throwing([](scene& s) {
         vmm_pmr::exported_allocation shared = s.exported();
         vmm_pmr::exported_allocation taken = std::move(shared);
         int ends[2];
         REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends) == 0);
         const vmm_pmr::unique_fd a(ends[0]);
         const vmm_pmr::unique_fd b(ends[1]);
         vmm_pmr::send_allocation(a.get(), shared);  // NOLINT: use after move, on purpose
       })},
      {"receive_allocation(a socket whose peer closed)", o::error, "peer closed the connection",
       throwing([](scene&) {
         int ends[2];
         REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends) == 0);
         const vmm_pmr::unique_fd a(ends[0]);
         ::close(ends[1]);
         (void)vmm_pmr::receive_allocation(a.get());
       })},
      {"current_device_resource(-1)", o::invalid_argument, "device -1 is not a device ordinal",
       throwing([](scene&) { (void)vmm_pmr::current_device_resource(-1); })},
      {"set_current_device_resource(-1, r)", o::invalid_argument,
       "device -1 is not a device ordinal",
       throwing([](scene& s) { (void)vmm_pmr::set_current_device_resource(-1, s.plain.get()); })},
      {"install_vmm_resource({.device = 9}, leave, host backend)", o::invalid_argument,
       "device 9 does not exist", throwing([](scene& s) {
         (void)vmm_pmr::install_vmm_resource(device_ordinal(9), vmm_pmr::pmr_default::leave,
                                             s.harness.events);
       })},
      {"round_up(SIZE_MAX, 2 MiB)", o::no_error, "nullopt (overflow), never a wrapped size",
       [](scene&) { return !vmm_pmr::round_up(size_max, two_mib).has_value(); }},
      {"unique_fd of a moved-from unique_fd", o::no_error, "get() == -1; nothing closed twice",
       [](scene&) {
         int ends[2];
         REQUIRE(::pipe(ends) == 0);
         vmm_pmr::unique_fd first(ends[0]);
         const vmm_pmr::unique_fd second(ends[1]);
         vmm_pmr::unique_fd moved(std::move(first));
         return first.get() == -1 && moved.get() == ends[0];  // NOLINT: use after move
       }},
  };
}

// Runs `row` and checks its outcome; returns the message seen (what() or the report).
void check_row(const bad_input& row) {
  scene s;
  const vmm_pmr::testing::live_objects live_before = s.harness.counting->live();
  const std::uint64_t errors_before = s.deallocation_errors();
  std::string message;
  bool held = false;
  bool threw = false;
  try {
    held = row.make_call(s);
  } catch (const vmm_pmr::out_of_memory& failure) {
    threw = true;
    message = failure.what();
    CHECK(row.expected == outcome::out_of_memory);
  } catch (const vmm_pmr::invalid_argument& failure) {
    threw = true;
    message = failure.what();
    CHECK(row.expected == outcome::invalid_argument);
  } catch (const vmm_pmr::unsupported_error& failure) {
    threw = true;
    message = failure.what();
    CHECK(row.expected == outcome::unsupported_error);
  } catch (const vmm_pmr::driver_error& failure) {
    threw = true;
    message = failure.what();
    CHECK(row.expected == outcome::driver_error);
  } catch (const vmm_pmr::error& failure) {
    threw = true;
    message = failure.what();
    CHECK(row.expected == outcome::error);
  } catch (const std::exception& failure) {
    threw = true;
    FAIL_CHECK("threw something else: " << failure.what());
  }
  CAPTURE(message);
  switch (row.expected) {
    case outcome::reported: {
      CHECK_FALSE(threw);
      CHECK(held);
      const std::vector<std::string> reports = s.bad_deallocations();
      REQUIRE(reports.size() == 1);
      CHECK(reports.front().find(row.message) != std::string::npos);
      CHECK(s.deallocation_errors() == errors_before + 1);
      break;
    }
    case outcome::no_error:
      CHECK_FALSE(threw);
      CHECK(held);
      CHECK(s.bad_deallocations().empty());
      break;
    default:
      CHECK(threw);
      CHECK(message.find(row.message) != std::string::npos);
      CHECK(s.bad_deallocations().empty());
      // Nothing made, nothing lost.
      CHECK(s.harness.counting->live() == live_before);
      break;
  }
}

}  // namespace

TEST_CASE("every public entry point answers bad input with its documented error", "[bad_input]") {
  const std::vector<bad_input> table = bad_input_table();
  const std::size_t index = GENERATE_COPY(Catch::Generators::range(std::size_t{0}, table.size()));
  const bad_input& row = table[index];
  DYNAMIC_SECTION(row.call) { check_row(row); }
}

TEST_CASE("the bad-input table in docs/errors.md is this test's table", "[bad_input]") {
  std::ifstream errors_doc(std::string(VMM_PMR_TEST_SOURCE_DIR) + "/../docs/errors.md");
  REQUIRE(errors_doc);
  std::set<std::string> documented;
  bool inside = false;
  for (std::string line; std::getline(errors_doc, line);) {
    if (line.find("<!-- bad-input table begin") != std::string::npos) inside = true;
    if (line.find("<!-- bad-input table end") != std::string::npos) inside = false;
    if (inside && line.rfind("| `", 0) == 0) documented.insert(line);
  }
  std::set<std::string> tested;
  for (const bad_input& row : bad_input_table()) tested.insert(documented_row(row));
  for (const std::string& row : tested) {
    CAPTURE(row);
    CHECK(documented.count(row) == 1);
  }
  for (const std::string& row : documented) {
    CAPTURE(row);
    CHECK(tested.count(row) == 1);
  }
}

TEST_CASE("print the bad-input table for docs/errors.md", "[.bad_input_table]") {
  for (const bad_input& row : bad_input_table()) std::printf("%s\n", documented_row(row).c_str());
}
