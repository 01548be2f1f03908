// The catalog of suites; see suite.hpp. The descriptions are --help's suite section.
#include "suites/suite.hpp"

#include <algorithm>
#include <array>

namespace vmm_pmr::bench {
namespace {

const std::array<suite_entry, 6> catalog = {{
    {"latency", "allocate+deallocate pairs, 256 B to 1 GiB, against the raw driver sequence",
     "allocate+deallocate pairs of one size, back to back, for each size (--sizes; default "
     "256 B, 1 MiB, then 2 MiB to 1 GiB by doubling). Rows: vmm_resource; "
     "stream_ordered_resource on one stream (the hot pair, from its cache; target: ≤ 0.1 × "
     "cudaMallocAsync's sync-per-batch pair at 256 B, 1 MiB and 64 MiB); the raw backend "
     "sequence (create, reserve, map, set access, then unmap, release, free, called directly "
     "on the same backend: the floor, and the baseline of every ratio); on the GPU "
     "cudaMalloc/cudaFree "
     "and cudaMallocAsync/cudaFreeAsync from the device's default pool, kept warm (release "
     "threshold UINT64_MAX), synchronised once per batch of pairs and, in another row, once "
     "per pair; on the host mmap/munmap (nothing touched) and malloc/free. Unit: µs per pair. "
     "Target (H100): vmm_resource within 5% of the raw sequence.",
     run_latency_suite},
    {"churn", "a seeded random allocation trace: time per op and fragmentation",
     "a random allocation trace in the style of RMM's random_allocations benchmark: a fixed "
     "seed (--seed), sizes from 256 B to 64 MiB spread evenly over the powers of two "
     "(log-uniform), at most --slots allocations live (64). Each operation picks a slot at "
     "random: frees it when it holds an allocation, else allocates into it; after --ops "
     "operations the rest is freed. Every method replays the same trace. Reports µs per "
     "operation and fragmentation = peak memory mapped / peak bytes live (requested). Rows: "
     "vmm_resource and the raw backend sequence (the baseline); stream_ordered_resource on "
     "one stream, its cache kept across replays, in two rows: unbounded, and with "
     "footprint_limit 1.09, each with the chunks it maps per replay (targets of both: per "
     "operation ≤ 0.2 × cudaMallocAsync's, fragmentation ≤ 1.10, and after trim() at the "
     "end of the trace's random part mapped ≤ the live blocks each rounded up to the "
     "smallest chunk); on the GPU cudaMallocAsync "
     "(fragmentation from the pool's reserved-memory high watermark) and cudaMalloc; on the "
     "host malloc/free. The JSON also holds the memory each method holds over one replay "
     "of the trace on a fresh resource (the series), for the chart.",
     run_churn_suite},
    {"growth", "grow one buffer from 2 MiB to up to 8 GiB (GPU) or 1 GiB (host), doubling",
     "grow one buffer from 2 MiB to each final size of --grow-to (default: F/16, F/4 and F, "
     "F = 8 GiB on the GPU, 1 GiB on the host), its size doubling at each step. Rows: the "
     "raw-driver floor (the baseline): one reservation "
     "of the final size, physical chunks of doubling size mapped into it, access set per "
     "chunk; the same with granularity-sized chunks, to show why chunks must grow; "
     "vmm_resource allocate + backend copy + deallocate at every doubling; on the GPU "
     "cudaMalloc + cudaMemcpy (device to device) + cudaFree. Reports ms per whole growth, "
     "bytes copied and the peak memory held. Growth in place: device_buffer on a "
     "vmm_resource resized doubling, with the final size's address space reserved ahead "
     "(target, H100: <= 1.5 x the floor, >= 5 x faster than cudaMalloc + copy, 0 copied, "
     "pointer unchanged, peak = final) and without (moves counted; a move remaps, never "
     "copies). device_vector<u64>::append of final/8 elements in 1 Mi batches from the host "
     "against std::vector<u64> insert on the host, in ns per element.",
     run_growth_sizes},
    {"streams", "threads allocating on streams with kernels in flight, against cudaMallocAsync",
     "several host threads (4), each allocating and freeing on CUDA streams, sizes cycled "
     "through 4 KiB, 1 MiB and 16 MiB, with a 2 µs spin kernel launched between allocate and "
     "free on the GPU (when nvcc built it). Rows: stream_ordered_resource with one stream per "
     "thread, and with every thread moving to the next stream at each pair (blocks then change "
     "streams through events); on the GPU the same two patterns with cudaMallocAsync/"
     "cudaFreeAsync (the baseline, own streams); on the host malloc/free (the baseline, no "
     "streams). Unit: µs of wall time per pair in each thread, so serialization shows as "
     "growth. Target (H100): no serialization that cudaMallocAsync does not have.",
     run_streams_suite},
    {"threads", "allocate+free pairs from 1 to 16 threads at once, against cudaMallocAsync",
     "for each size (256 B, 1 MiB) and each number of host threads (1, 2, 4, 8, 16; --quick: "
     "1, 2, 4 at 256 B), every thread allocates and frees pairs back to back, no kernels. "
     "Rows: stream_ordered_resource with each thread on its own stream, and with all threads "
     "on one stream; on the GPU the same with cudaMallocAsync/cudaFreeAsync (the baseline, "
     "own streams, each on a non-blocking stream); on the host malloc/free (the baseline, no "
     "streams). Unit: µs of wall time per pair in each thread; each row also gives the pairs "
     "per second of all threads and the scaling, that over N × the one-thread figure. "
     "Targets (GPU): stream_ordered_resource on own streams ≥ 0.75 scaling up to 16 threads, "
     "one thread's pair ≤ 25 ns; on a shared stream, throughput never below one thread's.",
     run_threads_suite},
    {"replay", "recorded allocation traces (--trace, RMM's log CSV) replayed by every allocator",
     "replays each allocation trace given with --trace=FILE (RMM's logging_resource_adaptor "
     "CSV, plain or gzip; traces/ holds recorded ones) in file order, never sleeping: one host "
     "thread per recorded thread, one stream per recorded stream (0: the legacy stream). Rows, "
     "per trace: stream_ordered_resource unbounded and with footprint_limit 1.09; vmm_resource "
     "(the baseline on the host); on the GPU cudaMallocAsync (the baseline) and cudaMalloc. Each "
     "allocator alone, on a fresh instance: µs per event of the first (cold) replay and of the "
     "later ones on the same instance (the steady state), peak memory held over peak live, "
     "held after trim() with the trace's last allocations live, and the driver calls per replay "
     "and per GiB mapped. The JSON also holds the memory each allocator holds over one replay "
     "(the series), for the chart. Runs only with --trace.",
     run_replay_suite, true},
}};

}  // namespace

std::span<const suite_entry> suite_catalog() { return catalog; }

const suite_entry* find_suite(std::string_view name) {
  const auto found = std::find_if(catalog.begin(), catalog.end(),
                                  [&](const suite_entry& entry) { return entry.name == name; });
  return found == catalog.end() ? nullptr : &*found;
}

}  // namespace vmm_pmr::bench
