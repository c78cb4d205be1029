#include "controller/app/signals.h"

#include <signal.h>

#include <atomic>
#include <ctime>

namespace registrar::app {

namespace {
sigset_t TerminationSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}
// A signal TerminationRequested() took, for the WaitForTermination that follows.
std::atomic<int> g_received{0};
}  // namespace

bool TerminationRequested() {
  if (g_received.load() > 0) {
    return true;
  }
  sigset_t set = TerminationSet();
  timespec zero{};
  int sig = sigtimedwait(&set, nullptr, &zero);
  if (sig > 0) {
    g_received.store(sig);
    return true;
  }
  return false;
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForTermination(const std::function<bool()>& stop, std::chrono::milliseconds poll) {
  sigset_t set = TerminationSet();
  timespec ts{};
  ts.tv_sec = poll.count() / 1000;
  ts.tv_nsec = (poll.count() % 1000) * 1000000L;
  while (true) {
    if (int taken = g_received.load(); taken > 0) {
      return taken;
    }
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) {
      return sig;
    }
    if (stop && stop()) {
      return 0;
    }
  }
}

}  // namespace registrar::app
