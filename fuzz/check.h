// The fuzz targets' one assertion: an invariant that does not hold aborts, so libFuzzer keeps the input as a crasher.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace portclash_fuzz {

inline void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace portclash_fuzz
