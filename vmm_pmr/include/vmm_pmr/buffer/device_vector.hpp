// device_vector<T>: a typed view of a device_buffer, for trivially copyable T.
//
// No element is ever constructed, copied or destroyed on the host: the elements live in
// device memory (or wherever the resource puts them) and move only as bytes, on the
// vector's stream. New elements are uninitialised. Growth is the buffer's: on a
// vmm_resource it maps new memory instead of copying the elements (behind them, or, when
// the address behind is taken, the same memory at a new address: reserve_address_space()
// keeps data() fixed), so append() costs amortized O(n) in driver calls (capacity
// doubles) and nothing in copies.
//
// Host transfers: copies from the host run on the stream and return without waiting
// (the host memory must stay valid until the stream has run them; pageable memory only
// until the call returns); copies to the host, element() and set_element() wait for the
// stream, so the value is there (or written) when they return.
//
// Errors: an index or range past size() is out_of_range; a size whose byte count does
// not fit in std::size_t is out_of_memory (a std::bad_alloc); anything on a vector with no
// resource (default-constructed, moved from, released) is invalid_argument. The vector is
// unchanged when they throw.
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory_resource>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vmm_pmr/buffer/device_buffer.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/core/stream_view.hpp"

namespace vmm_pmr {

template <typename T>
class device_vector {
  static_assert(std::is_trivially_copyable_v<T>,
                "device_vector holds trivially copyable types only: its elements are copied "
                "as bytes, never constructed on the host");

 public:
  using value_type = T;
  using size_type = std::size_t;
  using pointer = T*;
  using const_pointer = const T*;

  device_vector() noexcept = default;
  // `count` uninitialised elements on `stream`, from `resource` (default: device 0's
  // current resource).
  explicit device_vector(std::size_t count, stream_view stream = {},
                         std::pmr::memory_resource* resource = nullptr)
      : buffer_(bytes_for(count, "device_vector"), stream, resource) {}
  // A copy of host elements, on `stream` (returns without waiting, see above).
  device_vector(std::span<const T> host, stream_view stream,
                std::pmr::memory_resource* resource = nullptr)
      : buffer_(host.size_bytes(), stream, resource) {
    buffer_.copy_from_host(0, host.data(), host.size_bytes(), stream);
  }
  // A copy of `other`, made on `stream`, from `resource` (default: other's).
  device_vector(const device_vector& other, stream_view stream,
                std::pmr::memory_resource* resource = nullptr)
      : buffer_(other.buffer_, stream, resource) {}
  // Takes over a buffer's bytes; its size must be a multiple of sizeof(T).
  explicit device_vector(device_buffer&& buffer) : buffer_(std::move(buffer)) {
    if (buffer_.size() % sizeof(T) != 0) {
      throw invalid_argument(
          "device_vector(device_buffer&&): the buffer's " + std::to_string(buffer_.size()) +
          " bytes are not a whole number of elements of " + std::to_string(sizeof(T)) + " bytes");
    }
  }

  device_vector(const device_vector&) = delete;
  device_vector& operator=(const device_vector&) = delete;
  device_vector(device_vector&&) noexcept = default;
  device_vector& operator=(device_vector&&) noexcept = default;
  ~device_vector() = default;

  std::size_t size() const noexcept { return buffer_.size() / sizeof(T); }
  std::size_t capacity() const noexcept { return buffer_.capacity() / sizeof(T); }
  bool empty() const noexcept { return buffer_.empty(); }
  static constexpr std::size_t max_size() noexcept {
    return std::numeric_limits<std::size_t>::max() / sizeof(T);
  }
  T* data() noexcept { return static_cast<T*>(buffer_.data()); }
  const T* data() const noexcept { return static_cast<const T*>(buffer_.data()); }
  // The elements as a span of device memory: for kernels and device code; the host may
  // dereference it only when the memory is host-accessible.
  std::span<T> span() noexcept { return {data(), size()}; }
  std::span<const T> span() const noexcept { return {data(), size()}; }

  stream_view stream() const noexcept { return buffer_.stream(); }
  void set_stream(stream_view stream) noexcept { buffer_.set_stream(stream); }
  std::pmr::memory_resource* memory_resource() const noexcept { return buffer_.memory_resource(); }
  const device_buffer& buffer() const noexcept { return buffer_; }
  // Gives the bytes away as a buffer; the vector is left empty, with no resource.
  device_buffer release_buffer() noexcept { return std::move(buffer_); }

  // Element `index`, copied to the host on `stream`; waits for the stream.
  T element(std::size_t index, stream_view stream) const {
    check_index(index, "element");
    T value;
    buffer_.copy_to_host(&value, index * sizeof(T), sizeof(T), stream);
    return value;
  }
  // Writes element `index` on `stream`; waits for the stream (`value` may live in
  // memory that dies on return, which the driver reads when the stream gets there).
  void set_element(std::size_t index, const T& value, stream_view stream) {
    check_index(index, "set_element");
    buffer_.copy_from_host(index * sizeof(T), &value, sizeof(T), stream);
    buffer_.synchronize(stream);
  }

  // Replaces the contents with `host`'s elements, copied on `stream` (no wait).
  void copy_from_host(std::span<const T> host, stream_view stream) {
    resize(host.size(), stream);
    buffer_.copy_from_host(0, host.data(), host.size_bytes(), stream);
  }
  // Copies the first host.size() elements (at most size()) into `host` on `stream`, and
  // waits for the stream.
  void copy_to_host(std::span<T> host, stream_view stream) const {
    if (host.size() > size()) {
      throw out_of_range("device_vector::copy_to_host: " + std::to_string(host.size()) +
                         " elements asked for, the vector holds " + std::to_string(size()));
    }
    buffer_.copy_to_host(host.data(), 0, host.size_bytes(), stream);
  }
  // All elements, on the host (waits for `stream`).
  std::vector<T> to_host(stream_view stream) const {
    std::vector<T> host(size());
    copy_to_host(host, stream);
    return host;
  }

  // Appends `host`'s elements, copied on `stream` (no wait). Capacity at least doubles
  // when it runs out: amortized O(1) driver calls per element, and on a vmm_resource no
  // element is ever copied by growth.
  void append(std::span<const T> host, stream_view stream) {
    const std::size_t old_size = size();
    if (host.size() > max_size() - old_size) throw too_large(old_size, host.size(), "append");
    const std::size_t new_size = old_size + host.size();
    if (new_size > capacity()) {
      const std::size_t doubled = capacity() <= max_size() / 2 ? 2 * capacity() : max_size();
      reserve(std::max(new_size, doubled), stream);
    }
    resize(new_size, stream);
    buffer_.copy_from_host(old_size * sizeof(T), host.data(), host.size_bytes(), stream);
  }

  // Size `count`; new elements are uninitialised. Never releases memory.
  void resize(std::size_t count, stream_view stream) {
    buffer_.resize(bytes_for(count, "resize"), stream);
  }
  void reserve(std::size_t count, stream_view stream) {
    buffer_.reserve(bytes_for(count, "reserve"), stream);
  }
  void shrink_to_fit(stream_view stream) { buffer_.shrink_to_fit(stream); }
  // VMM: address space for `count` elements, so the vector grows that far without moving.
  void reserve_address_space(std::size_t count) {
    buffer_.reserve_address_space(bytes_for(count, "reserve_address_space"));
  }
  // Size 0; capacity and stream stay. No driver call.
  void clear() noexcept {
    if (buffer_.memory_resource() != nullptr) buffer_.resize(0, buffer_.stream());
  }

 private:
  static out_of_memory too_large(std::size_t count, std::size_t more, const char* operation) {
    return out_of_memory(
        "device_vector::" + std::string(operation) + ": " + std::to_string(count) + " + " +
        std::to_string(more) + " elements of " + std::to_string(sizeof(T)) +
        " bytes do not fit in the address space (at most " + std::to_string(max_size()) + ")");
  }
  static std::size_t bytes_for(std::size_t count, const char* operation) {
    if (count > max_size()) throw too_large(count, 0, operation);
    return count * sizeof(T);
  }
  void check_index(std::size_t index, const char* operation) const {
    if (index >= size()) {
      throw out_of_range("device_vector::" + std::string(operation) + "(" + std::to_string(index) +
                         "): index out of range, the vector holds " + std::to_string(size()) +
                         " element" + (size() == 1 ? "" : "s"));
    }
  }
  device_buffer buffer_;
};

}  // namespace vmm_pmr
