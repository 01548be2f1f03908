// The GPU tests' kernels and runtime calls; see test_kernels.hpp.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "support/test_kernels.hpp"

namespace vmm_pmr::test::kernels {
namespace {

constexpr int blocks = 132;  // one per SM of an H100: every block runs at once
constexpr int threads_per_block = 256;

void check(cudaError_t result, const char* call) {
  if (result != cudaSuccess) {
    throw std::runtime_error(std::string(call) + ": " + cudaGetErrorName(result) + " (" +
                             cudaGetErrorString(result) + ")");
  }
}

cudaStream_t native(stream_view stream) { return stream.get(); }

__device__ std::uint64_t nanoseconds_now() {
  std::uint64_t now;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  return now;
}

__global__ void spin_kernel(std::uint64_t nanoseconds) {
  const std::uint64_t start = nanoseconds_now();
  while (nanoseconds_now() - start < nanoseconds) {
  }
}

__global__ void wait_for_kernel(volatile std::uint32_t* words, std::uint64_t nanoseconds) {
  const std::uint64_t start = nanoseconds_now();
  while (words[0] == 0) {
    if (nanoseconds_now() - start >= nanoseconds) {
      words[1] = 2;
      return;
    }
  }
  words[1] = 1;
}

__global__ void fill_kernel(std::uint32_t* data, std::uint32_t value, std::size_t count) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    data[i] = value;
  }
}

__global__ void fill_for_kernel(std::uint32_t* data, std::uint32_t value, std::size_t count,
                                std::uint64_t nanoseconds) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::uint64_t start = nanoseconds_now();
  do {
    for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
         i += stride) {
      // volatile: every pass really stores, so the memory stays under fire until the end.
      static_cast<volatile std::uint32_t*>(data)[i] = value;
    }
  } while (nanoseconds_now() - start < nanoseconds);
}

__global__ void count_kernel(const std::uint32_t* data, std::uint32_t expected, std::size_t count,
                             unsigned long long* mismatches) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  unsigned long long mine = 0;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    if (data[i] != expected) ++mine;
  }
  if (mine != 0) atomicAdd(mismatches, mine);
}

void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

}  // namespace

cuda_stream::cuda_stream() {
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  stream_ = stream;
}

cuda_stream::~cuda_stream() {
  if (destroyed_) return;
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
}

void cuda_stream::destroy_now() {
  check(cudaStreamDestroy(stream_), "cudaStreamDestroy");
  destroyed_ = true;
}

void cuda_stream::synchronize() const {
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
}

bool cuda_stream::idle() const {
  const cudaError_t result = cudaStreamQuery(stream_);
  if (result == cudaErrorNotReady) return false;
  check(result, "cudaStreamQuery");
  return true;
}

host_flag::host_flag() {
  check(cudaSetDevice(0), "cudaSetDevice(0)");
  void* words = nullptr;
  check(cudaHostAlloc(&words, 2 * sizeof(std::uint32_t), cudaHostAllocMapped), "cudaHostAlloc");
  words_ = static_cast<volatile std::uint32_t*>(words);
  words_[0] = 0;
  words_[1] = 0;
  void* device_words = nullptr;
  const cudaError_t mapped = cudaHostGetDevicePointer(&device_words, words, 0);
  if (mapped != cudaSuccess) cudaFreeHost(words);
  check(mapped, "cudaHostGetDevicePointer");
  device_words_ = static_cast<std::uint32_t*>(device_words);
}

host_flag::~host_flag() {
  raise();  // a waiter still queued must not outlive the memory it reads
  cudaDeviceSynchronize();
  cudaFreeHost(const_cast<std::uint32_t*>(words_));
}

void host_flag::raise() { words_[0] = 1; }

bool host_flag::waiter_was_released() const { return words_[1] == 1; }

void wait_for(const host_flag& flag, std::uint64_t timeout_us, stream_view stream) {
  wait_for_kernel<<<1, 1, 0, native(stream)>>>(flag.device_words_, timeout_us * 1000);
  check_launch("wait_for_kernel");
}

void spin(stream_view stream, std::uint64_t microseconds) {
  spin_kernel<<<1, 1, 0, native(stream)>>>(microseconds * 1000);
  check_launch("spin_kernel");
}

void fill(std::uint32_t* data, std::uint32_t value, std::size_t count, stream_view stream) {
  fill_kernel<<<blocks, threads_per_block, 0, native(stream)>>>(data, value, count);
  check_launch("fill_kernel");
}

void fill_for(std::uint32_t* data, std::uint32_t value, std::size_t count,
              std::uint64_t microseconds, stream_view stream) {
  fill_for_kernel<<<blocks, threads_per_block, 0, native(stream)>>>(data, value, count,
                                                                    microseconds * 1000);
  check_launch("fill_for_kernel");
}

std::size_t count_mismatches(const std::uint32_t* data, std::uint32_t expected, std::size_t count,
                             stream_view stream) {
  unsigned long long* counter = nullptr;
  check(cudaMallocAsync(&counter, sizeof *counter, native(stream)), "cudaMallocAsync");
  check(cudaMemsetAsync(counter, 0, sizeof *counter, native(stream)), "cudaMemsetAsync");
  count_kernel<<<blocks, threads_per_block, 0, native(stream)>>>(data, expected, count, counter);
  check_launch("count_kernel");
  unsigned long long mismatches = 0;
  check(cudaMemcpyAsync(&mismatches, counter, sizeof mismatches, cudaMemcpyDeviceToHost,
                        native(stream)),
        "cudaMemcpyAsync");
  check(cudaFreeAsync(counter, native(stream)), "cudaFreeAsync");
  check(cudaStreamSynchronize(native(stream)), "cudaStreamSynchronize");
  return static_cast<std::size_t>(mismatches);
}

std::size_t device_free_bytes() {
  std::size_t free = 0;
  std::size_t total = 0;
  check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
  return free;
}

bool cuda_malloc_fits(std::size_t bytes) {
  void* memory = nullptr;
  const cudaError_t result = cudaMalloc(&memory, bytes);
  if (result == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clears the runtime's last error
    return false;
  }
  check(result, "cudaMalloc");
  check(cudaFree(memory), "cudaFree");
  return true;
}

void begin_capture(stream_view stream) {
  check(cudaStreamBeginCapture(native(stream), cudaStreamCaptureModeGlobal),
        "cudaStreamBeginCapture");
}

void end_capture_and_launch(stream_view stream) {
  cudaGraph_t graph = nullptr;
  check(cudaStreamEndCapture(native(stream), &graph), "cudaStreamEndCapture");
  cudaGraphExec_t executable = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&executable, graph, 0);
  if (instantiated != cudaSuccess) cudaGraphDestroy(graph);
  check(instantiated, "cudaGraphInstantiate");
  const cudaError_t launched = cudaGraphLaunch(executable, native(stream));
  const cudaError_t finished =
      launched == cudaSuccess ? cudaStreamSynchronize(native(stream)) : launched;
  cudaGraphExecDestroy(executable);
  cudaGraphDestroy(graph);
  check(finished, "cudaGraphLaunch");
}

}  // namespace vmm_pmr::test::kernels
