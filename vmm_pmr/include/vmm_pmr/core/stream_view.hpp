// A non-owning view of a CUDA stream: what the library's stream-ordered calls take.
//
// It wraps a CUstream (= cudaStream_t, both pointers to the opaque `struct CUstream_st`),
// forward-declared here so that code including only vmm_pmr's headers (a .cu file, or a
// build without the CUDA toolkit) can pass its streams without cuda.h. Nothing is ever
// created or destroyed through a stream_view; the stream must outlive its use.
//
// Invariant: the stored handle is canonical. CU_STREAM_LEGACY (0x1) and 0 name the same
// stream (the legacy default stream; the driver API gives 0 legacy semantics) and are
// both stored as 0, so equality and hashing say "same stream" exactly when the driver
// does. The per-thread default stream (CU_STREAM_PER_THREAD, 0x2) is a stream of its own
// per host thread, but one handle value: pass it explicitly rather than relying on
// nvcc's --default-stream per-thread, which changes what 0 means to the runtime only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

struct CUstream_st;

namespace vmm_pmr {

class stream_view {
 public:
  // The legacy default stream.
  constexpr stream_view() noexcept = default;
  // Implicit, like rmm::cuda_stream_view: a CUstream or cudaStream_t is a stream_view.
  stream_view(CUstream_st* stream) noexcept
      : stream_(reinterpret_cast<std::uintptr_t>(stream) == legacy_handle ? nullptr : stream) {}

  static constexpr stream_view legacy_default() noexcept { return {}; }
  static stream_view per_thread_default() noexcept {
    return stream_view(reinterpret_cast<CUstream_st*>(per_thread_handle));
  }

  constexpr CUstream_st* get() const noexcept { return stream_; }
  // A number naming the stream: for hashing, ordering and messages.
  std::uintptr_t id() const noexcept { return reinterpret_cast<std::uintptr_t>(stream_); }

  constexpr bool is_legacy_default() const noexcept { return stream_ == nullptr; }
  bool is_per_thread_default() const noexcept { return id() == per_thread_handle; }

  friend bool operator==(stream_view a, stream_view b) noexcept { return a.stream_ == b.stream_; }

 private:
  static constexpr std::uintptr_t legacy_handle = 0x1;      // CU_STREAM_LEGACY
  static constexpr std::uintptr_t per_thread_handle = 0x2;  // CU_STREAM_PER_THREAD

  CUstream_st* stream_ = nullptr;
};

// "legacy default stream", "per-thread default stream", "stream 0x55d0c3a1b2c0".
std::string to_string(stream_view stream);

}  // namespace vmm_pmr

template <>
struct std::hash<vmm_pmr::stream_view> {
  std::size_t operator()(vmm_pmr::stream_view stream) const noexcept {
    return std::hash<std::uintptr_t>{}(stream.id());
  }
};
