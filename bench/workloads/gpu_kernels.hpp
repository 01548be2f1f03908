// The one kernel the benchmarks launch: a spin that keeps a stream busy, so allocators
// are measured with work in flight, as in real programs.
//
// Built from spin_kernel.cu only where nvcc is (VMM_PMR_BENCH_WITH_KERNELS=1); without
// it the suites that want kernels run without them and say so. Launched through the
// static CUDA runtime, in the primary context the rest of the benchmark uses.
#pragma once

#include <cstdint>

struct CUstream_st;

namespace vmm_pmr::bench::kernels {

#if VMM_PMR_BENCH_WITH_KERNELS
inline constexpr bool built_in = true;
#else
inline constexpr bool built_in = false;
#endif

// Launches a one-thread kernel that returns after about `nanoseconds` on `stream`;
// throws std::runtime_error when the launch fails.
void spin(CUstream_st* stream, std::uint64_t nanoseconds);

}  // namespace vmm_pmr::bench::kernels
