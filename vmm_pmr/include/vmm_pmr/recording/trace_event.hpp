// One allocate or free as a trace records it: a row of RMM's log format
// (Thread,Time,Action,Pointer,Size,Stream). Small and trivially copyable: the thread that
// allocates only copies one into the writer's buffer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace vmm_pmr {

enum class trace_action : std::uint8_t {
  allocate,          // "allocate"
  free,              // "free"
  allocate_failure,  // "allocate failure": the request threw; pointer 0
};

struct trace_event {
  std::uint64_t thread = 0;  // the kernel's id of the calling thread
  std::chrono::system_clock::time_point time;
  trace_action action = trace_action::allocate;
  std::uintptr_t pointer = 0;
  std::size_t bytes = 0;
  std::uintptr_t stream = 0;  // 0: the legacy default stream
};

// An event of the calling thread, now.
trace_event make_trace_event(trace_action action, const void* pointer, std::size_t bytes,
                             std::uintptr_t stream) noexcept;

}  // namespace vmm_pmr
