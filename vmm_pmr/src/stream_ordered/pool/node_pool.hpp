// The memory of the pool's bookkeeping: its maps, sets and vectors allocate their nodes
// here, always under the pool's lock.
//
// Node-based containers ask for a handful of sizes over and over, so each size class
// (multiples of 16 B up to 512 B) keeps a LIFO free list threaded through the freed
// nodes themselves, refilled from slabs of 64 KiB: allocating and freeing a node is a
// pop and a push. Larger requests (vector storage) go to the upstream resource. Slabs are
// returned only when the pool dies: the bookkeeping's peak is small next to the memory
// it describes. Not thread-safe: the owner's lock serializes every use.
#pragma once

#include <array>
#include <cstddef>
#include <memory_resource>
#include <vector>

namespace vmm_pmr::detail {

class node_pool final : public std::pmr::memory_resource {
 public:
  explicit node_pool(std::pmr::memory_resource* upstream = std::pmr::new_delete_resource())
      : upstream_(upstream) {}
  node_pool(const node_pool&) = delete;
  node_pool& operator=(const node_pool&) = delete;
  ~node_pool() override;

 private:
  static constexpr std::size_t granule = 16;
  static constexpr std::size_t largest_node = 512;
  static constexpr std::size_t slab_bytes = std::size_t{64} << 10;

  struct free_node {
    free_node* next;
  };

  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  static bool pooled(std::size_t bytes, std::size_t alignment) noexcept {
    return bytes <= largest_node && alignment <= granule;
  }
  static std::size_t class_of(std::size_t bytes) noexcept {
    return (bytes + granule - 1) / granule - (bytes == 0 ? 0 : 1);
  }
  void refill(std::size_t size_class);

  std::pmr::memory_resource* upstream_;
  std::array<free_node*, largest_node / granule> free_{};
  std::vector<void*> slabs_;
};

}  // namespace vmm_pmr::detail
