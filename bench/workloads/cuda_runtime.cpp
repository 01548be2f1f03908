// CUDA runtime helpers for the baselines; see cuda_runtime.hpp.
#include "workloads/cuda_runtime.hpp"

#include <fmt/format.h>

#include <limits>
#include <stdexcept>

namespace vmm_pmr::bench::cudart {

void check(cudaError_t result, std::string_view call) {
  if (result == cudaSuccess) return;
  throw std::runtime_error(
      fmt::format("{}: {} ({})", call, cudaGetErrorName(result), cudaGetErrorString(result)));
}

std::string runtime_version() {
  int version = 0;
  check(cudaRuntimeGetVersion(&version), "cudaRuntimeGetVersion");
  return fmt::format("{}.{} (static)", version / 1000, version % 1000 / 10);
}

void use_device(int ordinal) {
  check(cudaSetDevice(ordinal), fmt::format("cudaSetDevice({})", ordinal));
  // cudaFree(nullptr) is the documented idiom that forces context creation.
  check(cudaFree(nullptr), "cudaFree(nullptr)");
}

stream::stream() {
  check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
}

stream::~stream() {
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
}

void stream::synchronize() const { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

warm_default_pool::warm_default_pool(int ordinal) {
  check(cudaDeviceGetDefaultMemPool(&pool_, ordinal),
        fmt::format("cudaDeviceGetDefaultMemPool({})", ordinal));
  check(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &previous_threshold_),
        "cudaMemPoolGetAttribute(release threshold)");
  std::uint64_t keep_everything = std::numeric_limits<std::uint64_t>::max();
  check(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &keep_everything),
        "cudaMemPoolSetAttribute(release threshold, UINT64_MAX)");
}

warm_default_pool::~warm_default_pool() {
  // Best effort: a destructor cannot report, and the process is a benchmark.
  cudaDeviceSynchronize();
  cudaMemPoolTrimTo(pool_, 0);
  cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReleaseThreshold, &previous_threshold_);
}

void warm_default_pool::trim() const {
  // Frees observed only after a synchronisation still count as outstanding.
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  check(cudaMemPoolTrimTo(pool_, 0), "cudaMemPoolTrimTo(0)");
}

void warm_default_pool::reset_high_watermarks() const {
  std::uint64_t zero = 0;
  check(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &zero),
        "cudaMemPoolSetAttribute(reserved high watermark, 0)");
  check(cudaMemPoolSetAttribute(pool_, cudaMemPoolAttrUsedMemHigh, &zero),
        "cudaMemPoolSetAttribute(used high watermark, 0)");
}

std::uint64_t warm_default_pool::reserved_high_watermark() const {
  std::uint64_t bytes = 0;
  check(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemHigh, &bytes),
        "cudaMemPoolGetAttribute(reserved high watermark)");
  return bytes;
}

std::uint64_t warm_default_pool::reserved_now() const {
  std::uint64_t bytes = 0;
  check(cudaMemPoolGetAttribute(pool_, cudaMemPoolAttrReservedMemCurrent, &bytes),
        "cudaMemPoolGetAttribute(reserved memory)");
  return bytes;
}

}  // namespace vmm_pmr::bench::cudart
