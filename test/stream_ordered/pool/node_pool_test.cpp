// The pool's node allocator (stream_ordered/pool/node_pool.hpp): small nodes from slabs,
// recycled per size class, last freed first; large or over-aligned requests go upstream.
#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <set>

#include "stream_ordered/pool/node_pool.hpp"

namespace vmm_pmr::detail {
namespace {

// Counts what reaches the upstream resource.
class counting_upstream final : public std::pmr::memory_resource {
 public:
  std::size_t allocations = 0;
  std::size_t deallocations = 0;
  std::size_t bytes = 0;

 private:
  void* do_allocate(std::size_t size, std::size_t alignment) override {
    ++allocations;
    bytes += size;
    return std::pmr::new_delete_resource()->allocate(size, alignment);
  }
  void do_deallocate(void* pointer, std::size_t size, std::size_t alignment) override {
    ++deallocations;
    bytes -= size;
    std::pmr::new_delete_resource()->deallocate(pointer, size, alignment);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }
};

TEST_CASE("node_pool hands a freed node back to the next request of its size class",
          "[pool_internals]") {
  node_pool nodes;
  void* first = nodes.allocate(40, 8);
  nodes.deallocate(first, 40, 8);
  CHECK(nodes.allocate(48, 8) == first);  // 40 and 48 B share the 48 B class
}

TEST_CASE("node_pool keeps size classes apart", "[pool_internals]") {
  node_pool nodes;
  void* small = nodes.allocate(16, 8);
  nodes.deallocate(small, 16, 8);
  void* larger = nodes.allocate(32, 8);
  CHECK(larger != small);
  nodes.deallocate(larger, 32, 8);
}

TEST_CASE("node_pool serves many nodes of a class from one slab, without overlap",
          "[pool_internals]") {
  counting_upstream upstream;
  {
    node_pool nodes(&upstream);
    std::set<std::uintptr_t> starts;
    constexpr std::size_t node_bytes = 64;
    constexpr std::size_t count = 1000;  // 64 000 B: one 64 KiB slab
    for (std::size_t i = 0; i < count; ++i) {
      starts.insert(reinterpret_cast<std::uintptr_t>(nodes.allocate(node_bytes, 16)));
    }
    CHECK(starts.size() == count);
    std::uintptr_t previous = 0;
    for (const std::uintptr_t start : starts) {
      CHECK((previous == 0 || start - previous >= node_bytes));
      CHECK(start % 16 == 0);
      previous = start;
    }
    CHECK(upstream.allocations == 1);
  }
  CHECK(upstream.deallocations == upstream.allocations);  // slabs go when the pool dies
}

TEST_CASE("node_pool sends large and over-aligned requests upstream", "[pool_internals]") {
  counting_upstream upstream;
  node_pool nodes(&upstream);
  void* large = nodes.allocate(4096, 8);
  CHECK(upstream.allocations == 1);
  CHECK(upstream.bytes == 4096);
  nodes.deallocate(large, 4096, 8);
  CHECK(upstream.deallocations == 1);
  void* aligned = nodes.allocate(64, 64);
  CHECK(upstream.allocations == 2);
  CHECK(reinterpret_cast<std::uintptr_t>(aligned) % 64 == 0);
  nodes.deallocate(aligned, 64, 64);
  CHECK(upstream.bytes == 0);
}

}  // namespace
}  // namespace vmm_pmr::detail
