// RunBoth: two pieces of work side by side on two threads, or one after the other when no thread can be had.
#pragma once

#include <exception>
#include <system_error>
#include <thread>

namespace portclash {

// Runs `first` on the calling thread and `second` on a thread of its own, or after `first` when no
// thread can be made (RLIMIT_NPROC, a cgroup's pids.max): slower then, never an abort. An exception
// from either is rethrown here once both have ended; the thread is joined on every path, since
// destroying a joinable std::thread, as unwinding past it would, calls std::terminate.
template <typename First, typename Second>
void RunBoth(First first, Second second) {
  std::exception_ptr second_error;
  auto guarded = [&] {
    try {
      second();
    } catch (...) {
      second_error = std::current_exception();
    }
  };
  std::thread thread;
  try {
    thread = std::thread(guarded);
  } catch (const std::system_error&) {
    // no thread: `second` runs below, after `first`
  }
  struct Join {
    std::thread& thread;
    ~Join() {
      if (thread.joinable()) thread.join();
    }
  } join{thread};
  const bool threaded = thread.joinable();
  first();
  if (threaded) {
    thread.join();
  } else {
    guarded();
  }
  if (second_error) std::rethrow_exception(second_error);
}

}  // namespace portclash
