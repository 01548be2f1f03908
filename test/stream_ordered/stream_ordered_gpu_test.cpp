// stream_ordered_resource with real streams and kernels in flight: what only a GPU can
// show. SKIPs without a VMM-capable GPU, and without the test kernels (built only where
// nvcc is: VMM_PMR_TEST_KERNELS).
//
// Where a test needs work still in flight while it calls the resource, that work waits
// behind a kernel that holds its stream until the test raises a host flag
// (kernels::host_flag), after the call returned. Ordering then shows in the data, in the
// stream still being busy when the call returned, and in the kernel having been released
// by the flag rather than by its timeout: never in how long a call took, which a shared
// GPU or a loaded host can stretch.
#include <catch2/catch_test_macros.hpp>

#include <array>
#include <cstdint>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/stream_ordered/stream_ordered_resource.hpp"

#if VMM_PMR_TEST_KERNELS
#include "support/test_kernels.hpp"
#endif

namespace {

#if VMM_PMR_TEST_KERNELS
namespace kernels = vmm_pmr::test::kernels;

constexpr std::size_t block_bytes = std::size_t{64} << 20;
constexpr std::size_t block_count = block_bytes / sizeof(std::uint32_t);
constexpr std::uint64_t long_kernel_us = 200'000;
// How long a held stream waits for its flag at most: only a failing test waits that long.
constexpr std::uint64_t flag_timeout_us = 10'000'000;

// One 64 MiB chunk at a time, so that a request of that size can only be served by the
// block another stream just freed, or by growing.
vmm_pmr::stream_ordered_options one_block_chunks() {
  vmm_pmr::stream_ordered_options options;
  options.min_chunk_size = block_bytes;
  options.max_chunk_size = block_bytes;
  return options;
}

std::uint32_t* as_words(void* pointer) { return static_cast<std::uint32_t*>(pointer); }
#endif

}  // namespace

#if VMM_PMR_TEST_KERNELS

// Each test declares its streams before the resource, so they outlive it: the resource
// waits for the streams that freed into it when it is destroyed (stream_ordered_resource.hpp).
// Each test declares its flag after the resource: destroyed first, it releases a stream
// still held (a failed REQUIRE) before the resource waits for that stream.

TEST_CASE("a kernel still writing a freed block never corrupts its next owner on another stream",
          "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  kernels::host_flag go;

  void* freed = resource.allocate(block_bytes, a);
  kernels::wait_for(go, flag_timeout_us, a);
  kernels::fill(as_words(freed), 0xdeadbeef, block_count, a);  // runs only once `go` is raised
  resource.deallocate(freed, block_bytes, a);

  void* reused = resource.allocate(block_bytes, b);
  kernels::fill(as_words(reused), 0x12345678, block_count, b);
  go.raise();
  a.synchronize();
  // Unordered, b's fill would have run first and a's would have overwritten it.
  CHECK(kernels::count_mismatches(as_words(reused), 0x12345678, block_count, b) == 0);
  // The handoff, not growth, served it: b was ordered after a's kernel.
  CHECK(reused == freed);
  CHECK(resource.stats().stream_waits == 1);
  CHECK(go.waiter_was_released());
  resource.deallocate(reused, block_bytes, b);
}

TEST_CASE("handing a block to another stream does not wait for the kernel still using it",
          "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  kernels::host_flag go;
  void* freed = resource.allocate(block_bytes, a);
  kernels::wait_for(go, flag_timeout_us, a);
  kernels::fill(as_words(freed), 1, block_count, a);
  resource.deallocate(freed, block_bytes, a);

  void* reused = resource.allocate(block_bytes, b);
  CHECK_FALSE(a.idle());  // a's kernel still waits for `go`: the host did not wait for a
  CHECK(reused == freed);
  CHECK(resource.stats().stream_waits == 1);  // b waits for a on the device instead
  go.raise();
  a.synchronize();
  // Released by the flag, raised after allocate returned: had allocate waited for a, the
  // kernel could only have ended by its timeout.
  CHECK(go.waiter_was_released());
  resource.deallocate(reused, block_bytes, b);
  b.synchronize();
}

TEST_CASE("a stream reuses its own block at once while a kernel still uses it",
          "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  kernels::host_flag go;
  void* block = resource.allocate(block_bytes, a);
  kernels::wait_for(go, flag_timeout_us, a);
  kernels::fill(as_words(block), 1, block_count, a);
  resource.deallocate(block, block_bytes, a);

  void* again = resource.allocate(block_bytes, a);
  CHECK_FALSE(a.idle());  // the first kernel still waits for `go`: allocate did not
  CHECK(again == block);
  CHECK(resource.stats().same_stream_reuses == 1);
  kernels::fill(as_words(again), 2, block_count, a);  // ordered after the first kernel
  go.raise();
  CHECK(kernels::count_mismatches(as_words(again), 2, block_count, a) == 0);
  CHECK(go.waiter_was_released());
  resource.deallocate(again, block_bytes, a);
}

TEST_CASE("a block whose stream has finished goes to another stream without a wait",
          "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* block = resource.allocate(block_bytes, a);
  kernels::fill(as_words(block), 3, block_count, a);
  resource.deallocate(block, block_bytes, a);
  a.synchronize();

  void* reused = resource.allocate(block_bytes, b);
  CHECK(reused == block);
  CHECK(resource.stats().stream_waits == 0);
  CHECK(resource.stats().completed_stream_reuses == 1);
  resource.deallocate(reused, block_bytes, b);
}

TEST_CASE("trim waits for a kernel still using the memory it unmaps", "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* block = resource.allocate(block_bytes, a);
  kernels::fill_for(as_words(block), 4, block_count, long_kernel_us, a);
  resource.deallocate(block, block_bytes, a);

  CHECK(resource.trim() == block_bytes);
  CHECK(a.idle());                 // trim returned only once the kernel was done
  CHECK_NOTHROW(a.synchronize());  // and it never touched unmapped memory
  CHECK(resource.stats().mapped_bytes == 0);
}

TEST_CASE("during a graph capture the stream reuses its blocks and trim refuses",
          "[stream_ordered][gpu][capture]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream c;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* warm = resource.allocate(block_bytes, c);
  resource.deallocate(warm, block_bytes, c);
  c.synchronize();

  kernels::begin_capture(c);
  void* captured = resource.allocate(block_bytes, c);  // its own cache: no driver call
  kernels::fill(as_words(captured), 5, block_count, c);
  CHECK_THROWS_AS(resource.trim(), vmm_pmr::error);
  resource.deallocate(captured, block_bytes, c);
  kernels::end_capture_and_launch(c);

  CHECK(captured == warm);
  void* after = resource.allocate(block_bytes, c);
  CHECK(kernels::count_mismatches(as_words(after), 5, block_count, c) == 0);
  resource.deallocate(after, block_bytes, c);
  CHECK(resource.trim() == block_bytes);
}

// Sixteen 2 MiB blocks, every other one freed: the free chunks lie between live ones,
// where no larger request fits. With footprint_limit 1.0 a 16 MiB request must be served
// by mapping those chunks again, back to back (an alias range: the footprint is at its
// peak already) -- when they are free for the requesting stream.
namespace {
constexpr std::size_t chunk_bytes = std::size_t{2} << 20;
constexpr std::size_t chunk_words = chunk_bytes / sizeof(std::uint32_t);
constexpr int interleaved_blocks = 16;
constexpr std::size_t range_bytes = std::size_t{16} << 20;
constexpr std::size_t range_words = range_bytes / sizeof(std::uint32_t);

std::array<void*, interleaved_blocks> allocate_chunks(vmm_pmr::stream_ordered_resource& resource,
                                                      vmm_pmr::stream_view stream) {
  std::array<void*, interleaved_blocks> blocks{};
  for (void*& block : blocks) block = resource.allocate(chunk_bytes, stream);
  return blocks;
}

vmm_pmr::stream_ordered_options bounded_to_peak() {
  vmm_pmr::stream_ordered_options options;
  options.footprint_limit = 1.0;
  options.min_chunk_size = chunk_bytes;
  return options;
}
}  // namespace

TEST_CASE("a bounded pool maps free chunks again for a request, under blocks a kernel is writing",
          "[stream_ordered][gpu][footprint]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, bounded_to_peak());
  std::array<void*, interleaved_blocks> blocks = allocate_chunks(resource, a);
  for (int i = 0; i < interleaved_blocks; i += 2) {
    kernels::fill(as_words(blocks[i]), 0x1111, chunk_words, a);
    resource.deallocate(blocks[i], chunk_bytes, a);
  }
  resource.settle(a);  // the frees are done on a: b may use the chunks
  // Meanwhile the live blocks are being written, for longer than making the range takes.
  for (int i = 1; i < interleaved_blocks; i += 2) {
    kernels::fill_for(as_words(blocks[i]), 0xabc00000 + i, chunk_words, long_kernel_us, a);
  }

  void* range = resource.allocate(range_bytes, b);
  vmm_pmr::stream_ordered_stats stats = resource.stats();
  CHECK(stats.alias_ranges_made == 1);
  CHECK(stats.alias_chunks_mapped == interleaved_blocks / 2);
  CHECK(stats.mapped_bytes == interleaved_blocks * chunk_bytes);  // no new memory
  CHECK(stats.peak_mapped_bytes == interleaved_blocks * chunk_bytes);
  // The range shows what the freed chunks held, takes new data, and the live blocks keep
  // theirs.
  CHECK(kernels::count_mismatches(as_words(range), 0x1111, range_words, b) == 0);
  kernels::fill(as_words(range), 0x600d, range_words, b);
  CHECK(kernels::count_mismatches(as_words(range), 0x600d, range_words, b) == 0);
  CHECK_NOTHROW(a.synchronize());
  for (int i = 1; i < interleaved_blocks; i += 2) {
    CHECK(kernels::count_mismatches(as_words(blocks[i]), 0xabc00000 + i, chunk_words, a) == 0);
  }

  // The chunks at home hold what the range wrote: one memory at two addresses.
  resource.deallocate(range, range_bytes, b);
  resource.settle(b);
  std::array<void*, interleaved_blocks / 2> homes{};
  for (void*& home : homes) {
    home = resource.allocate(chunk_bytes, a);
    CHECK(kernels::count_mismatches(as_words(home), 0x600d, chunk_words, a) == 0);
  }
  // Free again, they serve the same request through the same range, with no driver call.
  for (void* home : homes) resource.deallocate(home, chunk_bytes, a);
  resource.settle(a);
  void* again = resource.allocate(range_bytes, b);
  stats = resource.stats();
  CHECK(again == range);
  CHECK(stats.alias_reuses == 1);
  CHECK(stats.alias_chunks_mapped == interleaved_blocks / 2);
  CHECK(kernels::count_mismatches(as_words(again), 0x600d, range_words, b) == 0);
  resource.deallocate(again, range_bytes, b);
  for (int i = 1; i < interleaved_blocks; i += 2) resource.deallocate(blocks[i], chunk_bytes, a);
}

TEST_CASE("a bounded pool never maps chunks a kernel may still be writing into another range",
          "[stream_ordered][gpu][footprint]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, bounded_to_peak());
  kernels::host_flag go;
  std::array<void*, interleaved_blocks> blocks = allocate_chunks(resource, a);
  // Freed on a before a's kernels write them (once `go` is raised): b must not get them.
  kernels::wait_for(go, flag_timeout_us, a);
  for (int i = 0; i < interleaved_blocks; i += 2) {
    kernels::fill(as_words(blocks[i]), 7, chunk_words, a);
    resource.deallocate(blocks[i], chunk_bytes, a);
  }

  void* range = resource.allocate(range_bytes, b);
  CHECK_FALSE(a.idle());  // a's kernels had not even started when b's request came
  const vmm_pmr::stream_ordered_stats stats = resource.stats();
  CHECK(stats.alias_ranges_made == 0);
  // The limit bends instead: new chunks for the whole request.
  CHECK(stats.mapped_bytes == interleaved_blocks * chunk_bytes + range_bytes);
  kernels::fill(as_words(range), 9, range_words, b);
  go.raise();
  CHECK_NOTHROW(a.synchronize());
  // Had the range mapped a's chunks, a's writes (after b's) would show in it.
  CHECK(kernels::count_mismatches(as_words(range), 9, range_words, b) == 0);
  for (int i = 0; i < interleaved_blocks; i += 2) {
    // What a's kernel wrote is where it wrote it: b's block is other memory.
    CHECK(kernels::count_mismatches(as_words(blocks[i]), 7, chunk_words, a) == 0);
  }
  CHECK(go.waiter_was_released());
  for (int i = 1; i < interleaved_blocks; i += 2) resource.deallocate(blocks[i], chunk_bytes, a);
  resource.deallocate(range, range_bytes, b);
}

TEST_CASE("many streams with kernels in flight each get exclusive memory",
          "[stream_ordered][gpu]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  vmm_pmr::stream_ordered_options options;
  options.max_chunk_size = std::size_t{256} << 20;
  constexpr int stream_count = 4;
  constexpr int rounds = 50;
  kernels::cuda_stream streams[stream_count];  // declared first: they outlive the resource
  vmm_pmr::stream_ordered_resource resource(gpu, options);
  std::size_t mismatches = 0;
  for (int round = 0; round < rounds; ++round) {
    for (int s = 0; s < stream_count; ++s) {
      const std::size_t bytes = (std::size_t{1} << (16 + (round + s) % 8)) + 4096 * s;
      const std::size_t count = bytes / sizeof(std::uint32_t);
      const auto value = static_cast<std::uint32_t>(round * stream_count + s + 1);
      void* block = resource.allocate(bytes, streams[s]);
      kernels::fill_for(as_words(block), value, count, 200, streams[s]);
      kernels::fill(as_words(block), value, count, streams[s]);
      // Another stream's kernel writing into this block meanwhile would leave its value.
      if (round % 5 == 0) {
        mismatches += kernels::count_mismatches(as_words(block), value, count, streams[s]);
      }
      resource.deallocate(block, bytes, streams[s]);
    }
  }
  for (auto& stream : streams) CHECK_NOTHROW(stream.synchronize());
  CHECK(mismatches == 0);
  CHECK(resource.stats().live_count == 0);
}

// ---- sleep and wake (sleep_and_wake.cpp) ----

TEST_CASE(
    "asleep, the device has the memory back for cudaMalloc; awake, kernels read what was kept",
    "[stream_ordered][gpu][sleep]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  constexpr int block_total = 4;
  constexpr std::size_t held = block_total * block_bytes;
  std::array<void*, block_total> blocks{};
  for (int i = 0; i < block_total; ++i) {
    blocks[i] = resource.allocate(block_bytes, a);
    kernels::fill(as_words(blocks[i]), 100 + i, block_count, a);
  }
  a.synchronize();
  const std::size_t free_awake = kernels::device_free_bytes();

  CHECK(resource.sleep(vmm_pmr::sleep_contents::keep) == held);
  const std::size_t free_asleep = kernels::device_free_bytes();
  CHECK(free_asleep >= free_awake + held / 100 * 99);
  CHECK(kernels::cuda_malloc_fits(held));  // another allocator gets it meanwhile

  resource.wake();
  CHECK(kernels::device_free_bytes() <= free_asleep - held / 100 * 99);
  for (int i = 0; i < block_total; ++i) {
    CHECK(kernels::count_mismatches(as_words(blocks[i]), 100 + i, block_count, a) == 0);
  }
  for (void* block : blocks) resource.deallocate(block, block_bytes, a);
}

TEST_CASE("50 sleep and wake cycles on the GPU leave no more held than after the first",
          "[stream_ordered][gpu][sleep]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* weights = resource.allocate(block_bytes, a);
  kernels::fill(as_words(weights), 42, block_count, a);
  std::size_t free_after_first = 0;
  for (int cycle = 0; cycle < 50; ++cycle) {
    resource.sleep(vmm_pmr::sleep_contents::keep);
    resource.wake();
    void* activations = resource.allocate(block_bytes, a);  // used between cycles
    kernels::fill(as_words(activations), cycle, block_count, a);
    resource.deallocate(activations, block_bytes, a);
    a.synchronize();
    if (cycle == 0) free_after_first = kernels::device_free_bytes();
  }
  // The driver may round what it keeps for itself: one granule of slack.
  CHECK(kernels::device_free_bytes() + resource.granularity() >= free_after_first);
  CHECK(kernels::count_mismatches(as_words(weights), 42, block_count, a) == 0);
  resource.deallocate(weights, block_bytes, a);
}

// ---- streams the user destroys (destroyed_streams.cpp) ----

TEST_CASE("a stream synchronized and destroyed without settle leaves its blocks to other streams",
          "[stream_ordered][gpu][destroyed_stream]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* freed = resource.allocate(block_bytes, a);
  kernels::fill(as_words(freed), 5, block_count, a);
  resource.deallocate(freed, block_bytes, a);
  a.synchronize();
  a.destroy_now();

  void* reused = resource.allocate(block_bytes, b);
  CHECK(reused == freed);
  CHECK(resource.stats().streams_gone == 1);
  CHECK(resource.stats().chunks_mapped == 1);
  kernels::fill(as_words(reused), 6, block_count, b);
  CHECK(kernels::count_mismatches(as_words(reused), 6, block_count, b) == 0);
  resource.deallocate(reused, block_bytes, b);
  CHECK(resource.trim() == block_bytes);
}

TEST_CASE("a stream destroyed with a kernel still writing its freed block: the next owner waits",
          "[stream_ordered][gpu][destroyed_stream]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  void* freed = resource.allocate(block_bytes, a);
  kernels::fill_for(as_words(freed), 7, block_count, long_kernel_us, a);
  resource.deallocate(freed, block_bytes, a);
  a.destroy_now();  // the kernel runs on

  void* reused = resource.allocate(block_bytes, b);
  CHECK(reused == freed);
  CHECK(resource.stats().device_synchronizations == 1);
  kernels::fill(as_words(reused), 8, block_count, b);
  // Had the block been handed over before a's kernel ended, it would have written 7 over 8.
  CHECK(kernels::count_mismatches(as_words(reused), 8, block_count, b) == 0);
  resource.deallocate(reused, block_bytes, b);
}

TEST_CASE("allocate on a destroyed stream is invalid_argument naming it",
          "[stream_ordered][gpu][destroyed_stream][bad_input]") {
  auto gpu = vmm_pmr::test::require_gpu_with_kernels();
  kernels::cuda_stream a;
  kernels::cuda_stream b;
  vmm_pmr::stream_ordered_resource resource(gpu, one_block_chunks());
  a.destroy_now();
  CHECK_THROWS_AS(resource.allocate(block_bytes, a), vmm_pmr::invalid_argument);
  void* fine = resource.allocate(block_bytes, b);
  CHECK(fine != nullptr);
  resource.deallocate(fine, block_bytes, b);
}

#else

TEST_CASE("stream-ordered GPU tests", "[stream_ordered][gpu]") {
  vmm_pmr::test::require_gpu_with_kernels();
}

#endif
