// trace_writer: writes allocate and free events to a file in RMM's log format, off the
// allocating threads.
//
//   Thread,Time,Action,Pointer,Size,Stream
//   12345,14:03:07.123456,allocate,0x7f3a00000000,1024,0x0
//
// Time is the local wall-clock time of the event; Pointer and Stream are hex (0x0: the
// legacy stream); Action is allocate, free or "allocate failure".
//
// The calling thread only appends the event to a buffer under a short lock; a background
// thread takes the buffer every few milliseconds, formats it and writes it. Rows of one
// thread keep that thread's order. flush() writes everything recorded before it; the
// destructor (or close()) flushes, stops the thread and closes the file.
//
// A file that cannot be opened fails the constructor (error, naming the path). A write
// that fails later (a full disk) never throws into record(): the first failure is kept
// in status() and printed once on stderr, and later events are dropped.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vmm_pmr/recording/trace_event.hpp"

namespace vmm_pmr {

class trace_writer {
 public:
  // Creates (or truncates) `path` and writes the header row. Throws error when it cannot.
  explicit trace_writer(std::filesystem::path path);
  trace_writer(const trace_writer&) = delete;
  trace_writer& operator=(const trace_writer&) = delete;
  trace_writer(trace_writer&&) = delete;
  trace_writer& operator=(trace_writer&&) = delete;
  ~trace_writer();

  // Queues one row. Never throws; after close() or a write failure it drops the event.
  void record(const trace_event& event) noexcept;
  void record(trace_action action, const void* pointer, std::size_t bytes,
              std::uintptr_t stream) noexcept {
    record(make_trace_event(action, pointer, bytes, stream));
  }

  // Writes every event recorded before the call and flushes the file. Returns false when
  // writing has failed (status() says why).
  bool flush() noexcept;
  // flush(), then stops the background thread and closes the file; later events are
  // dropped. Idempotent.
  void close() noexcept;

  // Empty while every write has succeeded; else the first failure, for humans.
  std::string status() const;
  const std::filesystem::path& path() const noexcept { return path_; }
  // Events dropped after a failure or close(), or because host memory ran out.
  std::uint64_t dropped_events() const;

 private:
  void write_in_background();
  // Takes the queued events and writes them (under write_lock_).
  bool write_pending();
  void fail(const std::string& reason) noexcept;

  const std::filesystem::path path_;
  std::FILE* file_ = nullptr;

  mutable std::mutex queue_lock_;  // guards the members up to the thread
  std::vector<trace_event> queue_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool closed_ = false;
  bool failed_ = false;
  std::string status_;
  std::uint64_t dropped_ = 0;

  std::mutex write_lock_;  // one writer of the file at a time, in queue order
  std::vector<trace_event> writing_;
  std::string text_;
  std::thread background_;
};

}  // namespace vmm_pmr
