// A stream_ordered_resource seen through one stream: a std::pmr::memory_resource whose
// allocate and deallocate are the resource's on that stream.
//
// What stream_ordered_resource::on_stream() returns, so that pmr-aware code (containers,
// libraries that take a memory_resource*) gets stream-ordered memory on the stream it
// works on. A small value: it owns nothing, and the resource must outlive it.
//
// Two such views are equal (is_equal) when they allocate from the same resource on the
// same stream; the resource itself equals the view on its own pmr stream. Views on two
// streams are not equal: memory freed through a view becomes reusable on that view's
// stream at once, which is only safe for memory last used on that stream.
#pragma once

#include <cstddef>
#include <memory_resource>

#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/resource/detail/cccl_spellings.hpp"
#include "vmm_pmr/resource/detail/deduced_alignment_calls.hpp"

namespace vmm_pmr {

class stream_ordered_resource;

class stream_bound_resource final : public std::pmr::memory_resource,
                                    public detail::deduced_alignment_calls<stream_bound_resource>,
                                    public detail::stream_ordered_spellings<stream_bound_resource> {
 public:
  stream_bound_resource(stream_ordered_resource& resource, stream_view stream) noexcept
      : resource_(&resource), stream_(stream) {}

  // std::pmr's calls; view.allocate(n, {}) does not compile
  // (detail/deduced_alignment_calls.hpp).
  using deduced_alignment_calls::allocate;
  using deduced_alignment_calls::deallocate;
  // CCCL's cuda::mr spellings (detail/cccl_spellings.hpp): an explicit stream wins.
  using stream_ordered_spellings::allocate;
  using stream_ordered_spellings::deallocate;

  stream_ordered_resource& resource() const noexcept { return *resource_; }
  stream_view stream() const noexcept { return stream_; }
  // The same resource on another stream.
  stream_bound_resource on_stream(stream_view stream) const noexcept {
    return {*resource_, stream};
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* pointer, std::size_t bytes, std::size_t alignment) override;
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override;

  stream_ordered_resource* resource_;
  stream_view stream_;
};

}  // namespace vmm_pmr
