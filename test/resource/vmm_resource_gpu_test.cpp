// vmm_resource behaviour that only a real GPU can show. SKIPs without one.
#include <catch2/catch_test_macros.hpp>
#include <catch2/matchers/catch_matchers_exception.hpp>
#include <catch2/matchers/catch_matchers_string.hpp>

#include <unistd.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "support/backends_under_test.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

using Catch::Matchers::ContainsSubstring;

namespace {

std::uintptr_t as_address(const void* pointer) { return reinterpret_cast<std::uintptr_t>(pointer); }

std::vector<std::uint32_t> pattern(std::size_t count, std::uint32_t seed) {
  std::vector<std::uint32_t> values(count);
  std::iota(values.begin(), values.end(), seed);
  return values;
}

// A copy on the device (device → device) and back to the host: the GPU itself reads
// `source` and writes `scratch`.
std::vector<std::uint32_t> read_through_gpu(vmm_pmr::backend& gpu, const void* source,
                                            void* scratch, std::size_t count) {
  gpu.copy(as_address(scratch), as_address(source), count * sizeof(std::uint32_t));
  std::vector<std::uint32_t> out(count);
  gpu.copy_to_host(out.data(), as_address(scratch), count * sizeof(std::uint32_t));
  return out;
}

}  // namespace

TEST_CASE("device memory written from the host is read back by the GPU", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_resource resource(gpu);
  constexpr std::size_t count = (8 << 20) / sizeof(std::uint32_t);
  void* source = resource.allocate(count * sizeof(std::uint32_t));
  void* scratch = resource.allocate(count * sizeof(std::uint32_t));
  const auto expected = pattern(count, 12345);
  gpu->copy_from_host(as_address(source), expected.data(), count * sizeof(std::uint32_t));
  CHECK(read_through_gpu(*gpu, source, scratch, count) == expected);
  resource.deallocate(source, count * sizeof(std::uint32_t));
  resource.deallocate(scratch, count * sizeof(std::uint32_t));
}

TEST_CASE("host-location memory is written by the CPU and read by the GPU", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  if (!gpu->attributes(0).host_location_vmm) SKIP("device 0 has no host-location VMM");
  vmm_pmr::vmm_options host;
  host.location = vmm_pmr::memory_location::on_host();
  vmm_pmr::vmm_resource host_memory(gpu, host);
  vmm_pmr::vmm_resource device_memory(gpu);
  constexpr std::size_t count = 1 << 20;
  auto* values = static_cast<std::uint32_t*>(host_memory.allocate(count * sizeof(std::uint32_t)));
  const auto expected = pattern(count, 7);
  std::memcpy(values, expected.data(), count * sizeof(std::uint32_t));  // the CPU writes
  void* scratch = device_memory.allocate(count * sizeof(std::uint32_t));
  CHECK(read_through_gpu(*gpu, values, scratch, count) == expected);
  // and the GPU writes, the CPU reads
  gpu->fill(as_address(values), 0xAB, 4096);
  CHECK(reinterpret_cast<unsigned char*>(values)[4095] == 0xAB);
  device_memory.deallocate(scratch, count * sizeof(std::uint32_t));
  host_memory.deallocate(values, count * sizeof(std::uint32_t));
}

TEST_CASE("host-NUMA memory is readable by both the CPU and the GPU", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  const auto attributes = gpu->attributes(0);
  if (!attributes.host_numa_location_vmm) SKIP("device 0 has no host-NUMA VMM");
  vmm_pmr::vmm_options numa;
  numa.location = vmm_pmr::memory_location::on_host_numa(std::max(attributes.host_numa_id, 0));
  vmm_pmr::vmm_resource numa_memory(gpu, numa);
  vmm_pmr::vmm_resource device_memory(gpu);
  constexpr std::size_t count = 1 << 18;
  auto* values = static_cast<std::uint32_t*>(numa_memory.allocate(count * sizeof(std::uint32_t)));
  const auto expected = pattern(count, 99);
  std::memcpy(values, expected.data(), count * sizeof(std::uint32_t));
  void* scratch = device_memory.allocate(count * sizeof(std::uint32_t));
  CHECK(read_through_gpu(*gpu, values, scratch, count) == expected);
  device_memory.deallocate(scratch, count * sizeof(std::uint32_t));
  numa_memory.deallocate(values, count * sizeof(std::uint32_t));
}

TEST_CASE("memory with a POSIX fd handle type can be exported", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  if (!gpu->attributes(0).posix_fd_handles) SKIP("device 0 exports no POSIX fds");
  vmm_pmr::vmm_options options;
  options.shareable = vmm_pmr::handle_types::posix_fd;
  vmm_pmr::vmm_resource resource(gpu, options);
  void* pointer = resource.allocate(1 << 20);
  const auto info = resource.find(pointer);
  REQUIRE(info);
  REQUIRE(info->chunks.size() == 1);
  const vmm_pmr::shareable_handle exported =
      gpu->export_handle(info->chunks[0].handle, vmm_pmr::handle_types::posix_fd);
  CHECK(exported.fd >= 0);
  ::close(exported.fd);
  resource.deallocate(pointer, 1 << 20);
}

TEST_CASE("GPUDirect RDMA-capable memory is allocated where the device supports it", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_options options;
  options.gpu_direct_rdma = true;
  if (!gpu->attributes(0).gpu_direct_rdma_with_vmm) {
    CHECK_THROWS_AS(vmm_pmr::vmm_resource(gpu, options), vmm_pmr::unsupported_error);
    return;
  }
  vmm_pmr::vmm_resource resource(gpu, options);
  void* pointer = resource.allocate(1 << 20);
  const auto info = resource.find(pointer);
  CHECK(gpu->properties_of(info->chunks[0].handle).gpu_direct_rdma);
  resource.deallocate(pointer, 1 << 20);
}

TEST_CASE("a compression request is verified against what the driver granted", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_options options;
  options.compression = vmm_pmr::compression::preferred;
  vmm_pmr::vmm_resource resource(gpu, options);
  void* pointer = resource.allocate(4 << 20);
  const auto info = resource.find(pointer);
  REQUIRE(info);
  // What the registry recorded is what the handle's properties say.
  CHECK(info->compressed == gpu->properties_of(info->chunks[0].handle).compressible);
  WARN("compression granted: " << (info->compressed ? "yes" : "no"));
  resource.deallocate(pointer, 4 << 20);

  options.compression = vmm_pmr::compression::required;
  if (info->compressed) {
    vmm_pmr::vmm_resource strict(gpu, options);
    strict.deallocate(strict.allocate(1), 1);
  } else {
    CHECK_THROWS_AS(vmm_pmr::vmm_resource(gpu, options), vmm_pmr::unsupported_error);
  }
}

TEST_CASE("an invalid device ordinal on the GPU is refused with the device count", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_options options;
  options.device = gpu->device_count();
  CHECK_THROWS_MATCHES(
      vmm_pmr::vmm_resource(gpu, options), vmm_pmr::invalid_argument,
      Catch::Matchers::MessageMatches(ContainsSubstring(std::to_string(gpu->device_count()))));
}

TEST_CASE("the granularity on the GPU is what the driver reports", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_resource resource(gpu);
  CHECK(resource.granularity() == gpu->granularity({vmm_pmr::memory_location::on_device(0)},
                                                   vmm_pmr::granularity_kind::recommended));
  CHECK(resource.granularity() % (2 << 20) == 0);
}

TEST_CASE("managed memory is made, or refused at construction, as the driver decides", "[gpu]") {
  auto gpu = vmm_pmr::test::require_cuda_backend();
  vmm_pmr::vmm_options options;
  options.type = vmm_pmr::allocation_type::managed;
  try {
    vmm_pmr::vmm_resource resource(gpu, options);
    void* pointer = resource.allocate(1 << 20);
    CHECK(resource.find(pointer));
    resource.deallocate(pointer, 1 << 20);
    WARN("the driver makes managed VMM memory");
  } catch (const vmm_pmr::unsupported_error& refused) {
    CHECK_THAT(refused.what(), ContainsSubstring("managed") && ContainsSubstring("device 0"));
    WARN("the driver refuses managed VMM memory: " << refused.what());
  }
}
