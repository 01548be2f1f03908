// The calling thread's id (the kernel's, as RMM's log prints it) and the time of an event.
#include "vmm_pmr/recording/trace_event.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace vmm_pmr {
namespace {

std::uint64_t this_thread_id() noexcept {
  // One system call per thread, not per event.
  thread_local const auto id = static_cast<std::uint64_t>(::syscall(SYS_gettid));
  return id;
}

}  // namespace

trace_event make_trace_event(trace_action action, const void* pointer, std::size_t bytes,
                             std::uintptr_t stream) noexcept {
  trace_event event;
  event.thread = this_thread_id();
  event.time = std::chrono::system_clock::now();
  event.action = action;
  event.pointer = reinterpret_cast<std::uintptr_t>(pointer);
  event.bytes = bytes;
  event.stream = stream;
  return event;
}

}  // namespace vmm_pmr
