// A program that exits with VMM allocations still live in a static resource, whose
// destructor therefore runs after main() — on the GPU, after the CUDA driver may
// have shut down. The test that starts it checks it exits cleanly and quietly.
//
//   exit_with_live_allocations host|cuda
#include <cstdio>
#include <cstring>
#include <memory>

#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

namespace {

std::unique_ptr<vmm_pmr::vmm_resource> static_resource;

}  // namespace

int main(int argc, char** argv) {
  const bool on_gpu = argc > 1 && std::strcmp(argv[1], "cuda") == 0;
  vmm_pmr::vmm_options options;
  options.on_leak = [](const vmm_pmr::leak_report&) {};  // the leak is deliberate here
  static_resource = std::make_unique<vmm_pmr::vmm_resource>(
      on_gpu ? vmm_pmr::cuda_backend() : vmm_pmr::make_host_backend(), options);
  for (int i = 0; i < 8; ++i) (void)static_resource->allocate(std::size_t{3} << 20);
  std::puts("exiting with 8 live allocations");
  return 0;
}
