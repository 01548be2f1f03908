// Helpers for the sharing tests: shareable resources, patterns written and read
// through the backend (device memory cannot be dereferenced on the host), exports
// made by hand with several chunks, as a grown allocation would have.
#pragma once

#include <catch2/catch_test_macros.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "ipc/peer/ipc_peer_protocol.hpp"
#include "vmm_pmr/backend/backend.hpp"
#include "vmm_pmr/handles/vmm_allocation.hpp"
#include "vmm_pmr/ipc/exported_allocation.hpp"
#include "vmm_pmr/resource/vmm_options.hpp"

namespace vmm_pmr::test {

inline vmm_options shareable_options(vmm_options options = {}) {
  options.shareable = handle_types::posix_fd;
  return options;
}

inline address address_of(const void* pointer) { return reinterpret_cast<address>(pointer); }

// The pattern the IPC peer checks and writes too.
inline std::vector<std::uint8_t> make_pattern(std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> pattern(bytes);
  for (std::size_t i = 0; i < bytes; ++i) pattern[i] = ipc_peer::pattern_byte(i, seed);
  return pattern;
}

inline void write_bytes(backend& driver, void* at, const std::vector<std::uint8_t>& bytes) {
  driver.copy_from_host(address_of(at), bytes.data(), bytes.size());
}

inline std::vector<std::uint8_t> read_bytes(backend& driver, const void* at, std::size_t bytes) {
  std::vector<std::uint8_t> found(bytes);
  driver.copy_to_host(found.data(), address_of(at), bytes);
  return found;
}

// Physical allocations made, mapped, filled (chunk i with byte i + 1) and exported one
// by one, described as one allocation of several chunks. `mapped` keeps the exporter's
// side alive.
struct hand_made_export {
  std::vector<vmm_allocation> mapped;
  exported_allocation shared;
};

inline hand_made_export export_by_hand(backend& driver, std::initializer_list<std::size_t> sizes,
                                       std::size_t granularity) {
  physical_properties props;
  props.location = memory_location::on_device(0);
  props.shareable = handle_types::posix_fd;
  const access_grant read_write[] = {{0, access_mode::read_write}};
  hand_made_export result;
  result.shared.descriptor.handle_type = handle_types::posix_fd;
  result.shared.descriptor.granularity = granularity;
  std::uint8_t tag = 1;
  for (std::size_t size : sizes) {
    vmm_allocation chunk = vmm_allocation::build(driver, size, 0, props, read_write);
    driver.fill(chunk.base(), tag++, size);
    const shareable_handle handle =
        driver.export_handle(chunk.chunks().front().memory.handle(), handle_types::posix_fd);
    result.shared.fds.emplace_back(handle.fd);
    result.shared.descriptor.chunk_sizes.push_back(size);
    result.shared.descriptor.requested_bytes += size;
    result.mapped.push_back(std::move(chunk));
  }
  result.shared.descriptor.requested_bytes -= 100;  // not a multiple, like most requests
  return result;
}

}  // namespace vmm_pmr::test
