// The ownership core shared by the RAII handles: one backend object known by
// (key, size), undone exactly once.
//
// physical_memory, address_range and mapping differ only in what their key means and
// which primitive undoes it; this template holds the part they share (move-only
// ownership, undo on destruction and on move-assignment). `Undo` is called with the
// owner, key and size and must not throw: it reports failures itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

using undo_function = void (*)(backend& owner, std::uint64_t key, std::size_t size) noexcept;

template <undo_function Undo>
class owned_backend_object {
 public:
  owned_backend_object() = default;
  owned_backend_object(backend& owner, std::uint64_t key, std::size_t size) noexcept
      : owner_(&owner), key_(key), size_(size) {}

  owned_backend_object(const owned_backend_object&) = delete;
  owned_backend_object& operator=(const owned_backend_object&) = delete;
  owned_backend_object(owned_backend_object&& other) noexcept
      : owner_(std::exchange(other.owner_, nullptr)),
        key_(std::exchange(other.key_, 0)),
        size_(std::exchange(other.size_, 0)) {}
  owned_backend_object& operator=(owned_backend_object&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::exchange(other.owner_, nullptr);
      key_ = std::exchange(other.key_, 0);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~owned_backend_object() { reset(); }

  backend* owner() const noexcept { return owner_; }
  std::uint64_t key() const noexcept { return key_; }
  std::size_t size() const noexcept { return size_; }
  explicit operator bool() const noexcept { return owner_ != nullptr; }

  void reset() noexcept {
    if (owner_ != nullptr) Undo(*std::exchange(owner_, nullptr), key_, size_);
  }

 private:
  backend* owner_ = nullptr;
  std::uint64_t key_ = 0;
  std::size_t size_ = 0;
};

}  // namespace vmm_pmr::detail
