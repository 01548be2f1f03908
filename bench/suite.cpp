// The catalog of suites; see suite.hpp. The descriptions are --help's suite section.
#include "suite.hpp"

#include <algorithm>
#include <array>

namespace vmm_pmr::bench {
namespace {

const std::array<suite_entry, 4> catalog = {{
    {"latency", "allocate+deallocate pairs, 2 MiB to 1 GiB, against the raw driver sequence",
     "allocate+deallocate pairs of one size, back to back, for each size (--sizes; default "
     "2 MiB to 1 GiB by doubling). Rows: vmm_resource; the raw backend sequence (create, "
     "reserve, map, set access, then unmap, release, free, called directly on the same "
     "backend: the floor, and the baseline of every ratio); on the GPU cudaMalloc/cudaFree "
     "and cudaMallocAsync/cudaFreeAsync from the device's default pool, kept warm (release "
     "threshold UINT64_MAX), synchronised once per batch of pairs and, in another row, once "
     "per pair; on the host mmap/munmap (nothing touched) and malloc/free. Unit: µs per pair. "
     "Target (issue 3, H100): vmm_resource within 5% of the raw sequence.",
     run_latency_suite},
    {"churn", "a seeded random allocation trace: time per op and fragmentation",
     "a random allocation trace in the style of RMM's random_allocations benchmark: a fixed "
     "seed (--seed), sizes from 256 B to 64 MiB spread evenly over the powers of two "
     "(log-uniform), at most --slots allocations live (64). Each operation picks a slot at "
     "random: frees it when it holds an allocation, else allocates into it; after --ops "
     "operations the rest is freed. Every method replays the same trace. Reports µs per "
     "operation and fragmentation = peak memory mapped / peak bytes live (requested). Rows: "
     "vmm_resource and the raw backend sequence (the baseline); on the GPU cudaMallocAsync "
     "(fragmentation from the pool's reserved-memory high watermark) and cudaMalloc; on the "
     "host malloc/free.",
     run_churn_suite},
    {"growth", "grow one buffer from 2 MiB to 8 GiB (GPU) or 1 GiB (host)",
     "grow one buffer from 2 MiB to --grow-to (8 GiB on the GPU, 1 GiB on the host), its "
     "size doubling at each step. Rows: the raw-driver floor (the baseline): one reservation "
     "of the final size, physical chunks of doubling size mapped into it, access set per "
     "chunk; the same with granularity-sized chunks, to show why chunks must grow; "
     "vmm_resource allocate + backend copy + deallocate at every doubling; on the GPU "
     "cudaMalloc + cudaMemcpy (device to device) + cudaFree. Reports ms per whole growth, "
     "bytes copied and the peak memory held. Growth in place (device_buffer) joins when "
     "issue 5 lands.",
     run_growth_suite},
    {"streams", "not yet available: arrives with stream_ordered_resource (issue 4)",
     "several streams allocating and freeing with kernels in flight, against "
     "cudaMallocAsync. Not yet available: it measures stream_ordered_resource, which "
     "issue 4 adds.",
     nullptr},
}};

}  // namespace

std::span<const suite_entry> suite_catalog() { return catalog; }

const suite_entry* find_suite(std::string_view name) {
  const auto found = std::find_if(catalog.begin(), catalog.end(),
                                  [&](const suite_entry& entry) { return entry.name == name; });
  return found == catalog.end() ? nullptr : &*found;
}

}  // namespace vmm_pmr::bench
