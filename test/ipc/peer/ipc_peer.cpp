// The other process of the IPC tests: it imports what the test exports and does one
// scenario with it (ipc_peer_protocol.hpp lists them). Its exit code and output are
// what the test checks, so every failure prints why.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ipc/peer/ipc_peer_kernels.hpp"
#include "ipc/peer/ipc_peer_protocol.hpp"
#include "vmm_pmr/backend/cuda_backend.hpp"
#include "vmm_pmr/backend/host_backend.hpp"
#include "vmm_pmr/core/error.hpp"
#include "vmm_pmr/ipc/ipc_channel.hpp"
#include "vmm_pmr/resource/vmm_resource.hpp"

namespace {

using namespace vmm_pmr::test::ipc_peer;
using vmm_pmr::test::fill_with_kernel;

// Ends the process now: after a kernel faulted, the CUDA context is unusable, and the
// resources' destructors would only report errors about it.
[[noreturn]] void finish(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

int failed(const std::string& why) {
  std::fprintf(stderr, "ipc_peer: %s\n", why.c_str());
  return exit_failed;
}

void send_byte(char byte) {
  while (send(socket_fd, &byte, 1, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
  }
}

char receive_byte() {
  char byte = 0;
  for (;;) {
    const ssize_t got = recv(socket_fd, &byte, 1, 0);
    if (got >= 0) return got == 0 ? '\0' : byte;
    if (errno != EINTR) throw std::runtime_error(std::string("recv: ") + std::strerror(errno));
  }
}

vmm_pmr::address as_address(const void* pointer) {
  return reinterpret_cast<vmm_pmr::address>(pointer);
}

void write_pattern(vmm_pmr::backend& driver, void* at, std::size_t bytes, std::uint8_t seed) {
  std::vector<std::uint8_t> pattern(bytes);
  for (std::size_t i = 0; i < bytes; ++i) pattern[i] = pattern_byte(i, seed);
  driver.copy_from_host(as_address(at), pattern.data(), bytes);
}

// Empty when the bytes at `at` are the pattern; else where they differ.
std::string compare_pattern(vmm_pmr::backend& driver, const void* at, std::size_t bytes,
                            std::uint8_t seed) {
  std::vector<std::uint8_t> found(bytes);
  driver.copy_to_host(found.data(), as_address(at), bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (found[i] != pattern_byte(i, seed)) {
      return "byte " + std::to_string(i) + " is " + std::to_string(found[i]) + ", expected " +
             std::to_string(pattern_byte(i, seed));
    }
  }
  return {};
}

int child_writes(const std::shared_ptr<vmm_pmr::backend>& driver) {
  vmm_pmr::vmm_resource resource(driver);
  const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket_fd);
  void* memory = resource.import_allocation(shared);
  const std::size_t bytes = shared.descriptor.requested_bytes;
  const auto info = resource.find(memory);
  if (!info || !info->imported) return failed("the import is not registered as imported");
  write_pattern(*driver, memory, bytes, child_seed);
  send_byte(written);
  resource.deallocate(memory, bytes);
  return exit_ok;
}

int reads_after_free(const std::shared_ptr<vmm_pmr::backend>& driver) {
  vmm_pmr::vmm_resource resource(driver);
  void* memory = nullptr;
  std::size_t bytes = 0;
  {
    const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket_fd);
    memory = resource.import_allocation(shared);
    bytes = shared.descriptor.requested_bytes;
  }  // its fds are closed here: from now on only the mapping keeps the memory alive
  send_byte(imported);
  if (receive_byte() != go_on) return failed("the test did not say go on");
  const std::string difference = compare_pattern(*driver, memory, bytes, parent_seed);
  if (!difference.empty()) return failed("after the exporter freed the memory, " + difference);
  resource.deallocate(memory, bytes);
  return exit_ok;
}

[[noreturn]] void crashes(const std::shared_ptr<vmm_pmr::backend>& driver) {
  vmm_pmr::vmm_resource resource(driver);
  const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket_fd);
  void* memory = resource.import_allocation(shared);
  driver->fill(as_address(memory), crash_fill, shared.descriptor.requested_bytes / 2);
  send_byte(written);
  std::abort();
}

int writes_read_only(const std::shared_ptr<vmm_pmr::backend>& driver, bool on_gpu) {
  const std::string no_kernels = vmm_pmr::test::kernels_unavailable_reason();
  if (on_gpu && !no_kernels.empty()) {
    std::printf("%s\n", no_kernels.c_str());
    return exit_skipped;
  }
  vmm_pmr::vmm_options read_only;
  read_only.access = {{0, vmm_pmr::access_mode::read}};
  vmm_pmr::vmm_resource resource(driver, read_only);
  const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket_fd);
  void* memory = resource.import_allocation(shared);
  if (resource.access(memory, 0) != vmm_pmr::access_mode::read) {
    return failed("the read-only import is not read-only");
  }
  const std::string difference = compare_pattern(*driver, memory, 4096, parent_seed);
  if (!difference.empty()) return failed("reading the read-only import: " + difference);
  send_byte(imported);

  if (!on_gpu) {
    std::signal(SIGSEGV, SIG_DFL);  // a sanitizer's handler would turn it into an exit
    *static_cast<volatile unsigned char*>(memory) = 1;  // SIGSEGV expected
    std::fprintf(stderr, "ipc_peer: the store through a read-only mapping went through\n");
    finish(exit_write_went_through);
  }
  const vmm_pmr::test::kernel_outcome outcome = fill_with_kernel(0, memory, 4096, 1);
  std::printf("kernel write through a read-only mapping: %s\n", outcome.error_name.c_str());
  if (outcome.error_name == "cudaErrorIllegalAddress") finish(exit_ok);
  finish(outcome.error_name == "cudaSuccess" ? exit_write_went_through : exit_failed);
}

int imports_on_device(const std::shared_ptr<vmm_pmr::backend>& driver, int device) {
  const std::string no_kernels = vmm_pmr::test::kernels_unavailable_reason();
  if (!no_kernels.empty()) {
    std::printf("%s\n", no_kernels.c_str());
    return exit_skipped;
  }
  vmm_pmr::vmm_options on_device;
  on_device.device = device;
  vmm_pmr::vmm_resource resource(driver, on_device);
  const vmm_pmr::exported_allocation shared = vmm_pmr::receive_allocation(socket_fd);
  void* memory = resource.import_allocation(shared);
  const std::size_t bytes = shared.descriptor.requested_bytes;
  const auto outcome = fill_with_kernel(device, memory, bytes, kernel_fill_value);
  if (outcome.error_name != "cudaSuccess") {
    return failed("the kernel on device " + std::to_string(device) +
                  " failed: " + outcome.error_name);
  }
  send_byte(written);
  resource.deallocate(memory, bytes);
  return exit_ok;
}

int uses_from_each_device(const std::shared_ptr<vmm_pmr::backend>& driver) {
  const std::string no_kernels = vmm_pmr::test::kernels_unavailable_reason();
  const int devices = driver->device_count();
  if (!no_kernels.empty() || devices < 2) {
    std::printf("%s\n", devices < 2 ? "needs 2 GPUs" : no_kernels.c_str());
    return exit_skipped;
  }
  vmm_pmr::vmm_options last_device;
  last_device.device = devices - 1;
  for (int device = 0; device < devices; ++device) {
    last_device.access.push_back({device, vmm_pmr::access_mode::read_write});
  }
  vmm_pmr::vmm_resource resource(driver, last_device);
  constexpr std::size_t slot = std::size_t{2} << 20;
  const std::size_t bytes = slot * static_cast<std::size_t>(devices);
  auto* memory = static_cast<unsigned char*>(resource.allocate(bytes));
  for (int device = 0; device < devices; ++device) {
    if (resource.access(memory, device) != vmm_pmr::access_mode::read_write) {
      return failed("device " + std::to_string(device) + " has no read-write access");
    }
    const auto outcome = fill_with_kernel(device, memory + slot * static_cast<std::size_t>(device),
                                          slot, static_cast<unsigned char>(device + 1));
    if (outcome.error_name != "cudaSuccess") {
      return failed("the kernel on device " + std::to_string(device) +
                    " failed: " + outcome.error_name);
    }
  }
  std::vector<unsigned char> found(bytes);
  driver->copy_to_host(found.data(), as_address(memory), bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto expected = static_cast<unsigned char>(i / slot + 1);
    if (found[i] != expected) {
      return failed("byte " + std::to_string(i) + " is " + std::to_string(found[i]) +
                    ", expected " + std::to_string(expected));
    }
  }
  resource.deallocate(memory, bytes);
  return exit_ok;
}

// Starts without a GPU (the CUDA runtime is linked statically and loads the driver
// only when called) and says whether kernels can run: "kernels: available" or
// "kernels: unavailable: <why>".
int check() {
  const std::string no_kernels = vmm_pmr::test::kernels_unavailable_reason();
  if (no_kernels.empty()) {
    std::printf("kernels: available\n");
  } else {
    std::printf("kernels: unavailable: %s\n", no_kernels.c_str());
  }
  return exit_ok;
}

int usage() {
  std::fprintf(stderr,
               "usage: ipc_peer check\n"
               "       ipc_peer host|cuda write|read_after_free|crash|write_read_only|peers\n"
               "       ipc_peer host|cuda import_on_device DEVICE\n");
  return exit_usage;
}

int run(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "check") return check();
  if (argc < 3) return usage();
  const std::string_view backend_name = argv[1];
  const std::string_view scenario = argv[2];
  if (backend_name != "host" && backend_name != "cuda") return usage();
  const bool on_gpu = backend_name == "cuda";
  const std::shared_ptr<vmm_pmr::backend> driver =
      on_gpu ? vmm_pmr::cuda_backend()
             : vmm_pmr::make_host_backend({.granularity = std::size_t{2} << 20});
  if (scenario == "write") return child_writes(driver);
  if (scenario == "read_after_free") return reads_after_free(driver);
  if (scenario == "crash") crashes(driver);
  if (scenario == "write_read_only") return writes_read_only(driver, on_gpu);
  if (scenario == "peers") return uses_from_each_device(driver);
  if (scenario == "import_on_device" && argc == 4)
    return imports_on_device(driver, std::atoi(argv[3]));
  return usage();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const vmm_pmr::unavailable_error& unavailable) {
    std::printf("no GPU: %s\n", unavailable.what());
    return exit_skipped;
  } catch (const std::exception& failure) {
    return failed(failure.what());
  }
}
