// trace_writer: the queue the allocating threads append to, and the background thread
// that formats and writes it. Both the background thread and flush() write through
// write_pending(), one at a time (write_lock_), each taking the whole queue: rows reach
// the file in the order they were queued.
#include "vmm_pmr/recording/trace_writer.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <iterator>
#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {
namespace {

using namespace std::chrono_literals;

// How long queued events wait at most, and how many wake the writer early.
constexpr auto write_interval = 20ms;
constexpr std::size_t wake_threshold = 8192;

const char* action_name(trace_action action) noexcept {
  switch (action) {
    case trace_action::allocate:
      return "allocate";
    case trace_action::free:
      return "free";
    case trace_action::allocate_failure:
      return "allocate failure";
  }
  return "unknown";
}

// "HH:MM:SS" of a second since the epoch, local time; localtime_r is called once per
// distinct second.
class clock_text {
 public:
  const char* of(std::time_t second) {
    if (second != second_ || text_[0] == '\0') {
      std::tm local{};
      localtime_r(&second, &local);
      std::strftime(text_, sizeof text_, "%H:%M:%S", &local);
      second_ = second;
    }
    return text_;
  }

 private:
  std::time_t second_ = 0;
  char text_[16] = {};
};

// Rows are written with std::to_chars rather than fmt: faster on the writer's thread, and
// fmt 9's headers draw a false -Warray-bounds from g++ 13 at -O2 here.
void append_number(std::string& text, std::uint64_t value, int base = 10) {
  char digits[24];
  const auto end = std::to_chars(std::begin(digits), std::end(digits), value, base).ptr;
  text.append(digits, end);
}

void append_hex(std::string& text, std::uint64_t value) {
  text += "0x";
  append_number(text, value, 16);
}

void append_row(std::string& text, const trace_event& event, clock_text& clock) {
  const auto since_epoch =
      std::chrono::duration_cast<std::chrono::microseconds>(event.time.time_since_epoch());
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto microseconds = static_cast<std::uint64_t>((since_epoch - seconds).count());
  append_number(text, event.thread);
  text += ',';
  text += clock.of(static_cast<std::time_t>(seconds.count()));
  text += '.';
  for (std::uint64_t digit = 100000; digit > 1 && microseconds < digit; digit /= 10) text += '0';
  append_number(text, microseconds);
  text += ',';
  text += action_name(event.action);
  text += ',';
  append_hex(text, event.pointer);
  text += ',';
  append_number(text, event.bytes);
  text += ',';
  append_hex(text, event.stream);
  text += '\n';
}

}  // namespace

trace_writer::trace_writer(std::filesystem::path path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "w");
  if (file_ == nullptr) {
    const int cause = errno;
    throw error(
        fmt::format("trace_writer: cannot open '{}' for writing: {}; pass a file in an existing, "
                    "writable directory",
                    path_.string(), std::strerror(cause)));
  }
  // Buffered by stdio: a file that cannot take it (a full disk) fails at the first write,
  // reported like any later one.
  std::fputs("Thread,Time,Action,Pointer,Size,Stream\n", file_);
  queue_.reserve(wake_threshold);
  writing_.reserve(wake_threshold);
  background_ = std::thread([this] { write_in_background(); });
}

trace_writer::~trace_writer() { close(); }

void trace_writer::record(const trace_event& event) noexcept {
  bool wake = false;
  {
    std::lock_guard lock(queue_lock_);
    if (closed_ || failed_) {
      ++dropped_;
      return;
    }
    try {
      queue_.push_back(event);
    } catch (...) {
      ++dropped_;
      return;
    }
    wake = queue_.size() == wake_threshold;
  }
  if (wake) wake_.notify_one();
}

bool trace_writer::flush() noexcept {
  std::lock_guard writing(write_lock_);
  return write_pending();
}

void trace_writer::close() noexcept {
  {
    std::lock_guard lock(queue_lock_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_one();
  background_.join();
  {
    std::lock_guard lock(queue_lock_);
    closed_ = true;
  }
  std::lock_guard writing(write_lock_);
  write_pending();
  if (std::fclose(file_) != 0) fail(fmt::format("closing it failed: {}", std::strerror(errno)));
  file_ = nullptr;
}

std::string trace_writer::status() const {
  std::lock_guard lock(queue_lock_);
  return status_;
}

std::uint64_t trace_writer::dropped_events() const {
  std::lock_guard lock(queue_lock_);
  return dropped_;
}

void trace_writer::write_in_background() {
  std::unique_lock lock(queue_lock_);
  while (!stopping_) {
    wake_.wait_for(lock, write_interval,
                   [this] { return stopping_ || queue_.size() >= wake_threshold; });
    lock.unlock();
    {
      std::lock_guard writing(write_lock_);
      write_pending();
    }
    lock.lock();
  }
}

bool trace_writer::write_pending() {
  {
    std::lock_guard lock(queue_lock_);
    writing_.swap(queue_);
    if (failed_) {
      dropped_ += writing_.size();
      writing_.clear();
      return false;
    }
  }
  if (file_ == nullptr) return false;
  try {
    text_.clear();
    clock_text clock;
    for (const trace_event& event : writing_) append_row(text_, event, clock);
  } catch (const std::exception& failure) {
    fail(fmt::format("formatting {} rows failed: {}", writing_.size(), failure.what()));
    writing_.clear();
    return false;
  }
  writing_.clear();
  if (std::fwrite(text_.data(), 1, text_.size(), file_) != text_.size() ||
      std::fflush(file_) != 0) {
    fail(std::strerror(errno));
    return false;
  }
  return true;
}

void trace_writer::fail(const std::string& reason) noexcept {
  try {
    std::lock_guard lock(queue_lock_);
    if (failed_) return;
    failed_ = true;
    status_ = fmt::format(
        "trace_writer: writing '{}' failed: {}; recording stopped and later events are "
        "dropped (the program goes on)",
        path_.string(), reason);
    std::fprintf(stderr, "vmm_pmr: %s\n", status_.c_str());
  } catch (...) {
    // Nothing more can be said without memory; failed_ is set, so events are dropped.
  }
}

}  // namespace vmm_pmr
