// The shared-allocation descriptor's wire format: fixed-width little-endian integers,
// written and read one byte at a time so the format does not depend on the host's
// endianness or on struct layout. parse() trusts nothing: every length is checked
// against the bytes actually present before anything is read or allocated, so a hostile
// chunk count cannot make it allocate gigabytes.
#include "vmm_pmr/ipc/shared_allocation_descriptor.hpp"

#include <fmt/format.h>

#include <limits>
#include <utility>

#include "vmm_pmr/core/error.hpp"

namespace vmm_pmr {
namespace {

constexpr std::uint32_t wire_posix_fd = 1;
constexpr std::uint32_t wire_fabric = 2;

[[noreturn]] void refuse(const std::string& why) {
  throw invalid_argument("shared allocation descriptor: " + why);
}

class writer {
 public:
  explicit writer(std::size_t capacity) { bytes_.reserve(capacity); }
  void u32(std::uint32_t value) { put(value, 4); }
  void u64(std::uint64_t value) { put(value, 8); }
  void raw(std::span<const std::uint8_t> data) {
    for (std::uint8_t byte : data) bytes_.push_back(static_cast<std::byte>(byte));
  }
  std::vector<std::byte> take() { return std::move(bytes_); }

 private:
  void put(std::uint64_t value, int width) {
    for (int i = 0; i < width; ++i) bytes_.push_back(static_cast<std::byte>(value >> (8 * i)));
  }
  std::vector<std::byte> bytes_;
};

// Reads only what the caller has checked is there.
class reader {
 public:
  explicit reader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
  std::uint64_t u64() { return get(8); }
  void raw(std::span<std::uint8_t> out) {
    for (std::uint8_t& byte : out) byte = static_cast<std::uint8_t>(bytes_[position_++]);
  }

 private:
  std::uint64_t get(int width) {
    std::uint64_t value = 0;
    for (int i = 0; i < width; ++i) {
      value |= static_cast<std::uint64_t>(bytes_[position_++]) << (8 * i);
    }
    return value;
  }
  std::span<const std::byte> bytes_;
  std::size_t position_ = 0;
};

std::size_t to_size(std::uint64_t value, const char* what) {
  if (value > std::numeric_limits<std::size_t>::max()) {
    refuse(fmt::format("{} {} does not fit this machine's size_t", what, value));
  }
  return static_cast<std::size_t>(value);
}

std::size_t body_bytes(std::size_t chunks, bool fabric) {
  return chunks * (8 + (fabric ? shared_allocation_descriptor::fabric_handle_bytes : 0));
}

}  // namespace

std::size_t shared_allocation_descriptor::mapped_bytes() const noexcept {
  std::size_t total = 0;
  for (std::size_t size : chunk_sizes) {
    if (size > std::numeric_limits<std::size_t>::max() - total) {
      return std::numeric_limits<std::size_t>::max();
    }
    total += size;
  }
  return total;
}

void shared_allocation_descriptor::validate() const {
  if (handle_type != handle_types::posix_fd && handle_type != handle_types::fabric) {
    refuse(fmt::format("handle type must be exactly one of posix_fd or fabric, not {}",
                       static_cast<unsigned>(handle_type)));
  }
  if (chunk_sizes.empty()) refuse("no chunks");
  if (chunk_sizes.size() > max_chunks) {
    refuse(fmt::format("{} chunks, more than the {} allowed", chunk_sizes.size(), max_chunks));
  }
  const bool fabric = handle_type == handle_types::fabric;
  const std::size_t expected_fabric_handles = fabric ? chunk_sizes.size() : 0;
  if (fabric_handles.size() != expected_fabric_handles) {
    refuse(fmt::format("{} fabric handles for {} {} chunks (expected {})", fabric_handles.size(),
                       chunk_sizes.size(), fabric ? "fabric" : "posix_fd",
                       expected_fabric_handles));
  }
  if (granularity == 0) refuse("granularity is 0");
  std::size_t total = 0;
  for (std::size_t i = 0; i < chunk_sizes.size(); ++i) {
    const std::size_t size = chunk_sizes[i];
    if (size == 0 || size % granularity != 0) {
      refuse(fmt::format("chunk {} is {} B, not a nonzero multiple of the granularity ({} B)", i,
                         size, granularity));
    }
    if (size > std::numeric_limits<std::size_t>::max() - total) {
      refuse(fmt::format("the chunk sizes overflow when added (at chunk {})", i));
    }
    total += size;
  }
  if (requested_bytes == 0) refuse("requested bytes is 0");
  if (requested_bytes > total) {
    refuse(fmt::format("requested bytes ({} B) exceed the {} B the chunks map", requested_bytes,
                       total));
  }
}

std::vector<std::byte> shared_allocation_descriptor::serialize() const {
  validate();
  const bool fabric = handle_type == handle_types::fabric;
  writer out(header_bytes + body_bytes(chunk_sizes.size(), fabric));
  out.u32(magic);
  out.u32(version);
  out.u32(fabric ? wire_fabric : wire_posix_fd);
  out.u32(static_cast<std::uint32_t>(chunk_sizes.size()));
  out.u64(granularity);
  out.u64(requested_bytes);
  for (std::size_t size : chunk_sizes) out.u64(size);
  for (const auto& handle : fabric_handles) out.raw(handle);
  return out.take();
}

std::size_t shared_allocation_descriptor::serialized_bytes(std::span<const std::byte> header) {
  if (header.size() < header_bytes) {
    refuse(
        fmt::format("truncated: {} B, shorter than the {} B header", header.size(), header_bytes));
  }
  reader in(header);
  const std::uint32_t found_magic = in.u32();
  if (found_magic != magic) {
    refuse(fmt::format("bad magic {:#010x} (expected {:#010x}, \"VMMP\")", found_magic, magic));
  }
  const std::uint32_t found_version = in.u32();
  if (found_version != version) {
    refuse(fmt::format("unsupported version {} (this library reads version {})", found_version,
                       version));
  }
  const std::uint32_t wire_type = in.u32();
  if (wire_type != wire_posix_fd && wire_type != wire_fabric) {
    refuse(fmt::format("unknown handle type {} (1: posix_fd, 2: fabric)", wire_type));
  }
  const std::uint32_t chunks = in.u32();
  if (chunks == 0) refuse("no chunks");
  if (chunks > max_chunks) {
    refuse(fmt::format("{} chunks, more than the {} allowed", chunks, max_chunks));
  }
  return header_bytes + body_bytes(chunks, wire_type == wire_fabric);
}

shared_allocation_descriptor shared_allocation_descriptor::parse(std::span<const std::byte> bytes) {
  // Checked before reading on, so a wrong count cannot read past the end.
  const std::size_t expected = serialized_bytes(bytes);
  reader in(bytes);
  (void)in.u64();  // magic and version, checked above
  const bool fabric = in.u32() == wire_fabric;
  const std::uint32_t chunks = in.u32();
  if (bytes.size() < expected) {
    refuse(fmt::format("truncated: {} B for {} {} chunks, which need {} B", bytes.size(), chunks,
                       fabric ? "fabric" : "posix_fd", expected));
  }
  if (bytes.size() > expected) {
    refuse(fmt::format("{} trailing bytes after the {} B a {}-chunk descriptor takes",
                       bytes.size() - expected, expected, chunks));
  }

  shared_allocation_descriptor descriptor;
  descriptor.handle_type = fabric ? handle_types::fabric : handle_types::posix_fd;
  descriptor.granularity = to_size(in.u64(), "granularity");
  descriptor.requested_bytes = to_size(in.u64(), "requested bytes");
  descriptor.chunk_sizes.resize(chunks);
  for (std::size_t& size : descriptor.chunk_sizes) size = to_size(in.u64(), "chunk size");
  if (fabric) {
    descriptor.fabric_handles.resize(chunks);
    for (auto& handle : descriptor.fabric_handles) in.raw(handle);
  }
  descriptor.validate();
  return descriptor;
}

}  // namespace vmm_pmr
