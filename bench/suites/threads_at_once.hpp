// Work started in several threads at the same moment and timed as a whole: the suites that
// measure allocators under concurrent calls share it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <latch>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace vmm_pmr::bench {

// Runs work(t) for t in [0, count), each in a thread of its own, and returns the wall time
// from the moment all threads are ready to the moment the last has returned (starting the
// threads is not timed). Throws std::runtime_error("<what> failed in a thread") when any
// of them threw, after all have returned.
inline double time_threads_at_once(std::size_t count, const std::function<void(std::size_t)>& work,
                                   const std::string& what) {
  // The clock starts once every thread waits at the gate and before any is let through:
  // were it read after a shared barrier, threads scheduled before this one could have done
  // their work before the start was taken.
  std::latch ready(static_cast<std::ptrdiff_t>(count));
  std::latch gate(1);
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (std::size_t t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      ready.count_down();
      gate.wait();
      try {
        work(t);
      } catch (...) {
        failed = true;
      }
    });
  }
  ready.wait();
  const auto start = std::chrono::steady_clock::now();
  gate.count_down();
  for (std::thread& thread : threads) thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (failed) throw std::runtime_error(what + " failed in a thread");
  return seconds;
}

}  // namespace vmm_pmr::bench
