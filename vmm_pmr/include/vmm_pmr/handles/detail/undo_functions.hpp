// The primitives that undo what each RAII handle owns (owned_backend_object's `Undo`):
// unmap a mapping, free a reservation, release physical memory. None throws: each
// reports a failure through the cleanup-error handler.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vmm_pmr/backend/backend.hpp"

namespace vmm_pmr::detail {

void unmap(backend& owner, std::uint64_t base, std::size_t size) noexcept;
void free_address_range(backend& owner, std::uint64_t base, std::size_t size) noexcept;
void release_physical_memory(backend& owner, std::uint64_t handle, std::size_t size) noexcept;

}  // namespace vmm_pmr::detail
