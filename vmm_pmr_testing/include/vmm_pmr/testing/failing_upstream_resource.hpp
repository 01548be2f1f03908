// Test double: a plain std::pmr resource (no VMM, no backend) that fails on request.
//
// It forwards to an upstream resource and throws std::bad_alloc, as a plain resource
// does when it runs out, on its N-th allocate after fail_nth_allocate(N), and whenever an
// allocation would take the bytes it holds past its limit. It counts its allocate calls,
// so a sweep can count a successful run's calls and then fail each one, and what is live,
// so a failed operation can be shown to have leaked nothing. Header-only: the fuzz
// program, built without the test library, uses it too.
#pragma once

#include <cstddef>
#include <limits>
#include <memory_resource>
#include <new>
#include <optional>

namespace vmm_pmr::testing {

class failing_upstream_resource final : public std::pmr::memory_resource {
 public:
  explicit failing_upstream_resource(
      std::pmr::memory_resource* upstream = std::pmr::new_delete_resource(),
      std::size_t limit = std::numeric_limits<std::size_t>::max())
      : upstream_(upstream), limit_(limit) {}
  failing_upstream_resource(const failing_upstream_resource&) = delete;
  failing_upstream_resource& operator=(const failing_upstream_resource&) = delete;

  // Fail the n-th allocate (1-based, counted from now).
  void fail_nth_allocate(std::size_t n) {
    armed_ = n;
    fired_ = false;
  }
  void disarm() { armed_.reset(); }
  bool fired() const { return fired_; }

  std::size_t allocate_calls() const { return allocate_calls_; }
  std::size_t live_count() const { return live_count_; }
  std::size_t live_bytes() const { return live_bytes_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++allocate_calls_;
    if (armed_ && --*armed_ == 0) {
      armed_.reset();
      fired_ = true;
      throw std::bad_alloc();
    }
    if (bytes > limit_ - live_bytes_) throw std::bad_alloc();
    void* pointer = upstream_->allocate(bytes, alignment);
    ++live_count_;
    live_bytes_ += bytes;
    return pointer;
  }
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override {
    upstream_->deallocate(pointer, bytes, alignment);
    --live_count_;
    live_bytes_ -= bytes;
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::pmr::memory_resource* upstream_;
  std::size_t limit_;
  std::optional<std::size_t> armed_;
  bool fired_ = false;
  std::size_t allocate_calls_ = 0;
  std::size_t live_count_ = 0;
  std::size_t live_bytes_ = 0;
};

}  // namespace vmm_pmr::testing
