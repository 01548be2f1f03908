// The CUDA runtime, for the GPU baselines only: cudaMalloc, cudaMallocAsync, cudaMemcpy.
//
// Compiled only when meson found the static runtime (VMM_PMR_BENCH_WITH_CUDART=1).
// cudart_static loads libcuda itself at its first call, so the binary still starts on a
// machine without a driver; and nothing here runs unless the cuda backend was chosen.
// The library itself never uses the runtime: this is the yardstick, not the tool.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#if VMM_PMR_BENCH_WITH_CUDART
#include <cuda_runtime_api.h>
#endif

namespace vmm_pmr::bench {

#if VMM_PMR_BENCH_WITH_CUDART
inline constexpr bool cuda_runtime_built_in = true;
#else
inline constexpr bool cuda_runtime_built_in = false;
#endif

#if VMM_PMR_BENCH_WITH_CUDART
namespace cudart {

// Throws std::runtime_error("cudaMalloc(1 GiB): cudaErrorMemoryAllocation (out of memory)").
void check(cudaError_t result, std::string_view call);

// "13.0 (static)"
std::string runtime_version();

// Makes `ordinal` current and creates its context now, so no measurement pays for it.
void use_device(int ordinal);

class stream {
 public:
  stream();  // non-blocking: no implicit synchronisation with the legacy default stream
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;
  ~stream();

  cudaStream_t get() const noexcept { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

// The device's default memory pool, kept warm for the life of this object: its release
// threshold is UINT64_MAX, so freed memory stays in the pool and cudaMallocAsync is
// measured as its users see it in steady state. The destructor trims the pool to zero and
// restores the threshold, so the next measurement starts with the memory given back.
class warm_default_pool {
 public:
  explicit warm_default_pool(int ordinal);
  warm_default_pool(const warm_default_pool&) = delete;
  warm_default_pool& operator=(const warm_default_pool&) = delete;
  ~warm_default_pool();

  cudaMemPool_t get() const noexcept { return pool_; }
  // Gives back everything not in use (after synchronising the device).
  void trim() const;
  // Zeroes the reserved and used high watermarks (the only value they accept).
  void reset_high_watermarks() const;
  // Backing memory the pool held at most since the last reset.
  std::uint64_t reserved_high_watermark() const;
  // Backing memory the pool holds now.
  std::uint64_t reserved_now() const;

 private:
  cudaMemPool_t pool_ = nullptr;
  std::uint64_t previous_threshold_ = 0;
};

}  // namespace cudart
#endif

}  // namespace vmm_pmr::bench
