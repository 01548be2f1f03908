// The fuzz programs' input, read front to back; reading past the end gives zeros (and
// short byte runs) and marks the input exhausted, so that any input decodes to a program.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace vmm_pmr::fuzz {

class input_reader {
 public:
  explicit input_reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
  bool exhausted() const noexcept { return position_ >= bytes_.size(); }
  std::uint8_t byte() { return position_ < bytes_.size() ? bytes_[position_++] : 0; }
  std::uint16_t u16() { return static_cast<std::uint16_t>(byte() | (byte() << 8)); }
  // Up to `count` bytes, fewer where the input ends.
  std::vector<std::byte> bytes(std::size_t count) {
    const std::size_t taken = std::min(count, bytes_.size() - std::min(position_, bytes_.size()));
    const auto begin = std::as_bytes(bytes_.subspan(std::min(position_, bytes_.size()), taken));
    position_ += taken;
    return {begin.begin(), begin.end()};
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t position_ = 0;
};

}  // namespace vmm_pmr::fuzz
