// GPU work for the stream-ordered resource's GPU tests, as plain C++ functions.
//
// Implemented in test_kernels.cu with the CUDA runtime and built only where nvcc is;
// the test binary then defines VMM_PMR_TEST_KERNELS. The runtime works in device 0's
// primary context, the one the library's CUDA backend uses too, so streams made here
// are streams the resource can record events on. Every function throws
// std::runtime_error naming the runtime's error.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr::test::kernels {

// A non-blocking stream of the runtime, destroyed (after its work) with the object.
class cuda_stream {
 public:
  cuda_stream();
  cuda_stream(const cuda_stream&) = delete;
  cuda_stream& operator=(const cuda_stream&) = delete;
  ~cuda_stream();

  stream_view view() const noexcept { return stream_; }
  operator stream_view() const noexcept { return stream_; }
  // Waits for the stream's work; throws if it failed (an illegal address, say).
  void synchronize() const;
  // Whether all its work has completed (cudaStreamQuery), without waiting.
  bool idle() const;
  // cudaStreamDestroy now, without waiting: work still queued runs on. view() keeps the
  // handle, which names no stream from then on.
  void destroy_now();

 private:
  CUstream_st* stream_ = nullptr;
  bool destroyed_ = false;
};

// A flag in pinned host memory that a kernel reads while it runs (wait_for): work queued
// behind that kernel stays in flight until the host raises the flag, however long the host
// takes, so a test can show a call did not wait for a stream without timing it.
class host_flag {
 public:
  host_flag();
  host_flag(const host_flag&) = delete;
  host_flag& operator=(const host_flag&) = delete;
  ~host_flag();

  void raise();
  // Whether the last wait_for kernel on this flag ended because the flag was raised (not
  // by its timeout). Read it once its stream has been synchronised.
  bool waiter_was_released() const;

 private:
  friend void wait_for(const host_flag& flag, std::uint64_t timeout_us, stream_view stream);
  // [0]: raised by the host; [1]: how the waiter ended (1: released, 2: timed out).
  volatile std::uint32_t* words_ = nullptr;
  std::uint32_t* device_words_ = nullptr;
};

// A kernel that waits until `flag` is raised, or `timeout_us` passed: a test whose host
// side wrongly waits for the stream then fails instead of hanging.
void wait_for(const host_flag& flag, std::uint64_t timeout_us, stream_view stream);

// A kernel that only waits, for about `microseconds`.
void spin(stream_view stream, std::uint64_t microseconds);
// data[0, count) = value.
void fill(std::uint32_t* data, std::uint32_t value, std::size_t count, stream_view stream);
// Keeps writing `value` over data[0, count) for about `microseconds`: a kernel still
// using memory long after it was freed on its stream.
void fill_for(std::uint32_t* data, std::uint32_t value, std::size_t count,
              std::uint64_t microseconds, stream_view stream);
// The number of data[0, count) that differ from `expected`, counted by a kernel on
// `stream`; waits for the answer.
std::size_t count_mismatches(const std::uint32_t* data, std::uint32_t expected, std::size_t count,
                             stream_view stream);

// The device's free memory (cudaMemGetInfo).
std::size_t device_free_bytes();
// Whether cudaMalloc(bytes) succeeds; the memory is freed again.
bool cuda_malloc_fits(std::size_t bytes);

// Graph capture (global mode) on `stream`; end_capture_and_launch instantiates the graph,
// launches it once on the same stream and waits for it.
void begin_capture(stream_view stream);
void end_capture_and_launch(stream_view stream);

}  // namespace vmm_pmr::test::kernels
