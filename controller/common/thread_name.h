// File: controller/common/thread_name.h
//
// Names the calling thread (pthread_setname_np) so that top -H, /proc/<pid>/task/*/comm and
// debuggers tell the process's threads apart (docs/architecture.md, "Threads", lists each name).
// Linux keeps 15 bytes; longer names are cut. Thread-safety: affects the calling thread only.
#pragma once

#include <pthread.h>

#include <string>

namespace registrar {

inline void SetCurrentThreadName(const std::string& name) {
  pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace registrar
