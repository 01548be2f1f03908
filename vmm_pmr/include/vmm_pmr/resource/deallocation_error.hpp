// A deallocate() that could not be honoured: the resource reports it and carries on,
// since std::pmr deallocation cannot throw through noexcept destructors.
#pragma once

#include <cstddef>
#include <string>

namespace vmm_pmr {

struct deallocation_error {
  const void* pointer = nullptr;
  std::size_t bytes = 0;
  std::string message;  // complete, for humans
};

}  // namespace vmm_pmr
