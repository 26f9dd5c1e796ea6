// UniqueFd: owns one file descriptor and closes it on every path out, a throw included.
#pragma once

#include <unistd.h>

#include <utility>

namespace portclash {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }

  // Gives the fd up without closing it.
  int release() {
    return std::exchange(fd_, -1);
  }

  // Closes the fd held (if any) and holds `fd` instead. close() is not retried on EINTR: Linux
  // frees the descriptor even then, and a retry could close one another thread just opened.
  void reset(int fd = -1) {
    int old = std::exchange(fd_, fd);
    if (old >= 0) close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace portclash
