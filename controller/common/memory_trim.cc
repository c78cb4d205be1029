#include "controller/common/memory_trim.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

namespace registrar {

bool TrimPolicy::Observe(int64_t count, TimePoint now) {
  if (!last_ || *last_ != count) {
    last_ = count;
    last_change_ = now;
  }
  peak_ = std::max(peak_, count);
  const int64_t drop = peak_ - count;
  if (drop < options_.min_drop ||
      static_cast<double>(drop) < options_.min_fraction * static_cast<double>(peak_) ||
      now - last_change_ < options_.quiet) {
    return false;
  }
  peak_ = count;
  return true;
}

bool ReturnFreeMemory() { return malloc_trim(0) == 1; }

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  if (!(statm >> size >> resident)) {
    return 0;
  }
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace registrar
