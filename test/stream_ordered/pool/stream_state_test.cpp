// What the pool remembers of the waits it made between streams
// (stream_ordered/pool/stream_state.hpp): the newest free of each donor a stream is
// ordered after, which only grows.
#include <catch2/catch_test_macros.hpp>

#include <memory_resource>

#include "stream_ordered/pool/stream_state.hpp"

namespace vmm_pmr::detail {
namespace {

TEST_CASE("a stream is ordered after no free of a stream it never waited for", "[pool_internals]") {
  stream_state waiter(stream_view{}, std::pmr::new_delete_resource());
  const stream_state donor(stream_view{}, std::pmr::new_delete_resource());
  CHECK(waiter.waited_sequence(donor) == 0);
}

TEST_CASE("a later wait for an older record does not lower what a stream waited for",
          "[pool_internals]") {
  stream_state waiter(stream_view{}, std::pmr::new_delete_resource());
  stream_state donor(stream_view{}, std::pmr::new_delete_resource());
  stream_state other(stream_view{}, std::pmr::new_delete_resource());
  waiter.note_wait(donor, 12);
  waiter.note_wait(donor, 7);
  waiter.note_wait(other, 3);
  CHECK(waiter.waited_sequence(donor) == 12);
  CHECK(waiter.waited_sequence(other) == 3);
  CHECK(waiter.waited_for.size() == 2);
}

}  // namespace
}  // namespace vmm_pmr::detail
