// Gathering the report header's facts; see environment.hpp.
//
// Everything here is read once, before any measurement, and nothing fails: a fact that
// cannot be read says so ("unknown") instead of stopping a benchmark run.
#include "reports/environment.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>

#include "vmm_pmr/core/byte_size.hpp"

#ifndef VMM_PMR_BENCH_BUILD_TYPE
#define VMM_PMR_BENCH_BUILD_TYPE "unknown"
#endif
#ifndef VMM_PMR_BENCH_VERSION
#define VMM_PMR_BENCH_VERSION "unknown"
#endif

namespace vmm_pmr::bench {
namespace {

std::string local_time_now() {
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  if (localtime_r(&now, &local) == nullptr) return "unknown";
  char text[64];
  const std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S %z", &local);
  return length == 0 ? "unknown" : std::string(text, length);
}

// The value of the first "key : value" line of a /proc file that starts with `key`.
std::string proc_field(const char* path, std::string_view key) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (!line.starts_with(key)) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::size_t start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? std::string() : line.substr(start);
  }
  return {};
}

bool looks_like_version(std::string_view word) {
  return !word.empty() && std::isdigit(static_cast<unsigned char>(word.front())) &&
         word.find('.') != std::string_view::npos &&
         word.find_first_not_of("0123456789.") == std::string_view::npos;
}

// "580.65.06" from the first line of /proc/driver/nvidia/version ("NVRM version: NVIDIA
// UNIX Open Kernel Module for x86_64  580.65.06  Release Build ..."; the wording differs
// between the open and the proprietary module): the driver release people quote, which
// the CUDA API does not report.
std::string nvidia_kernel_module_version() {
  std::ifstream file("/proc/driver/nvidia/version");
  std::string line;
  if (!std::getline(file, line)) return {};
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    if (looks_like_version(word)) return word;
  }
  return {};
}

std::string cpu_description() {
  std::string model = proc_field("/proc/cpuinfo", "model name");
  if (model.empty()) model = "unknown CPU";
  return fmt::format("{} ({} hardware threads)", model, std::thread::hardware_concurrency());
}

std::size_t host_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  return pages > 0 && page_size > 0 ? static_cast<std::size_t>(pages) * page_size : 0;
}

std::string compiler_description() {
#if defined(__clang__)
  return fmt::format("clang {}.{}.{}", __clang_major__, __clang_minor__, __clang_patchlevel__);
#elif defined(__GNUC__)
  return fmt::format("g++ {}.{}.{}", __GNUC__, __GNUC_MINOR__, __GNUC_PATCHLEVEL__);
#else
  return "unknown compiler";
#endif
}

}  // namespace

environment describe_environment(const backend_choice& choice, std::size_t granularity,
                                 const std::string& command_line) {
  environment facts;
  facts.tool_version = VMM_PMR_BENCH_VERSION;
  facts.date = local_time_now();
  facts.command_line = command_line;
  facts.backend = choice.vmm_backend->name();
  facts.backend_reason = choice.reason;
  try {
    const device_attributes device = choice.vmm_backend->attributes(0);
    facts.device = device.name;
    facts.device_memory = device.total_memory;
  } catch (const std::exception& failure) {
    facts.device = fmt::format("unknown ({})", failure.what());
  }
  facts.granularity = granularity;
  facts.driver = choice.vmm_backend->version();
  if (choice.on_gpu) {
    const std::string module = nvidia_kernel_module_version();
    if (!module.empty()) facts.driver += ", kernel module " + module;
  }
  facts.runtime = choice.runtime;
  facts.cpu = cpu_description();
  facts.host_memory = host_memory_bytes();
  facts.build_type = VMM_PMR_BENCH_BUILD_TYPE;
  facts.compiler = compiler_description();
#ifdef NDEBUG
  facts.assertions = false;
#else
  facts.assertions = true;
#endif
  if (facts.build_type == "debug" || facts.build_type == "plain") {
    facts.warnings.push_back(fmt::format(
        "a {} build is not optimised: configure with -Dbuildtype=release to quote numbers",
        facts.build_type));
  }
  const char* perturb = std::getenv("MALLOC_PERTURB_");
  if (perturb != nullptr && std::atoi(perturb) != 0) {
    facts.warnings.push_back(fmt::format(
        "MALLOC_PERTURB_={} makes glibc fill every block malloc returns and free takes: the "
        "malloc/free rows time those fills",
        perturb));
  }
  return facts;
}

std::vector<std::pair<std::string, std::string>> environment::lines() const {
  std::vector<std::pair<std::string, std::string>> lines = {
      {"date", date},
      {"command", command_line},
      {"backend", fmt::format("{} ({})", backend, backend_reason)},
      {"device", fmt::format("{}, {} memory, {} granularity", device, format_bytes(device_memory),
                             format_bytes(granularity))},
      {"driver", driver},
      {"runtime", runtime},
      {"host", fmt::format("{}, {}", cpu, format_bytes(host_memory))},
      {"build", fmt::format("vmm_pmr {}, {}, {}, assertions {}", tool_version, build_type, compiler,
                            assertions ? "on" : "off")},
  };
  for (const std::string& warning : warnings) lines.emplace_back("WARNING", warning);
  return lines;
}

}  // namespace vmm_pmr::bench
