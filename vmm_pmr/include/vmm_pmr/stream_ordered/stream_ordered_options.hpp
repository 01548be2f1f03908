// What a stream_ordered_resource maps and how it grows, trims and allocates for pmr.
//
// The physical memory is described by a vmm_options (device, location, granularity,
// access, ...) and checked like a vmm_resource's: resolve_options() plus one probe
// allocation at construction. The rest sizes the one reservation and the chunks mapped
// into it; stream_ordered_resource validates them at construction too, so a bad value
// fails there with invalid_argument naming the option.
#pragma once

#include <cstddef>
#include <optional>

#include "vmm_pmr/core/stream_view.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr {

struct stream_ordered_options {
  // The physical memory: device, location, granularity, access, shareable handles,
  // compression; also on_bad_deallocation and on_leak, called for the resource's blocks.
  vmm_options memory;

  // Address space reserved up front, once; every block lives in it. 0: twice the
  // device's memory rounded up to 1 GiB (headroom for the holes trim leaves). Rounded up
  // to the granularity. It costs no memory: reserved addresses are mapped only as chunks
  // are needed.
  std::size_t reservation_size = 0;
  // Chunks (physical allocations, each one mapping) grow with the memory mapped:
  // max(what the request needs, min(max_chunk_size, max(min_chunk_size, mapped / 16))),
  // so overshoot stays near 1/16 while large workloads make few driver calls. A chunk is
  // whole granules: each must be a multiple of the granularity (else invalid_argument
  // naming the nearest ones), and min_chunk_size <= max_chunk_size; max_chunk_size is
  // capped at the reservation. 0: 2 MiB and 1 GiB, rounded up to the granularity.
  std::size_t min_chunk_size = 0;
  std::size_t max_chunk_size = 0;

  // When set, the pool's footprint is bounded: a request no free block holds maps new
  // memory only while the mapped bytes stay within footprint_limit × the most bytes ever
  // live (the request included; rounded up to a chunk). Past that, free chunks from
  // anywhere in the reservation are mapped a second time, back to back, where the request
  // goes (an alias range: nothing is moved or unmapped, and the memory is the same), plus
  // new chunks only for what free chunks cannot provide. A range is kept when its block is
  // freed and serves the next request of its size whose chunks are all free, with no
  // driver call, so a workload that repeats itself comes to reuse the same ranges and then
  // makes no driver call at all. A range takes the chunks a free list would give the request's
  // stream (its own, and those of streams whose work is known complete: settling asks
  // their events, never waits; nothing of another stream during a graph capture), so the
  // bound holds whenever enough free memory is settled (reusable by any stream), and is exceeded
  // for a while otherwise rather than failing. Ranges map at most 4 × the pool's memory (the least
  // recently used idle ones are unmapped first) and hold none of their own; trim() unmaps
  // the idle ones. Every chunk is min_chunk_size (max_chunk_size is not used), so that any
  // free chunk serves any range: growth costs one physical allocation per chunk. Must be a
  // finite number ≥ 1.0. nullopt: unbounded.
  std::optional<double> footprint_limit;

  // When set, a deallocate() that leaves more than this many bytes cached gives whole
  // free chunks back to the driver, without ever blocking: only chunks whose frees are
  // known to have completed on their streams (an event recorded and found complete).
  // What cannot go yet is tried again once the cache has grown by min_chunk_size, or after
  // 64 more frees over the threshold. Nothing is released while a stream captures.
  // nullopt: only trim() gives memory back.
  std::optional<std::size_t> release_threshold;

  // The stream the std::pmr::memory_resource interface allocates and frees on.
  stream_view stream;
};

}  // namespace vmm_pmr
