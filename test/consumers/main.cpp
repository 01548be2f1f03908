// my_app: a std::pmr::vector in VMM memory, on the host backend so that no GPU is needed.
#include <fmt/core.h>

#include <memory_resource>
#include <numeric>
#include <vector>

#include <vmm_pmr/formatters.hpp>
#include <vmm_pmr/vmm_pmr.hpp>

int main() {
  vmm_pmr::vmm_resource memory(vmm_pmr::make_host_backend());
  std::pmr::vector<int> values(&memory);
  for (int i = 0; i < 1000; ++i) values.push_back(i);

  const long long sum = std::accumulate(values.begin(), values.end(), 0LL);
  fmt::print("sum {}; {}\n", sum, memory.stats());
  return sum == 499500 && memory.find(values.data()) ? 0 : 1;
}
