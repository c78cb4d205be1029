// etcd-registrar: flags -> wiring. `publish` holds one registration in the foreground,
// `check-config` only checks the flags and files; the default command runs the controller
// (controller/app/app.h).
#include <malloc.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <string>

#include "absl/synchronization/mutex.h"

#include "controller/app/app.h"
#include "controller/app/signals.h"
#include "controller/common/logging.h"
#include "controller/config/options.h"

int main(int argc, char** argv) {
  // Debian builds absl without NDEBUG, so every absl::Mutex::Lock would also maintain a global
  // lock-order graph (deadlock detection): a few percent of the CPU of holding 10 000 leases.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // At most two malloc arenas, before any thread starts (glibc's default on 64 bits is 8 per
  // core): the workers, the engine and gRPC's threads each kept freed memory in an arena of their
  // own; holding 10 000 registrations this is ~2 MiB of RSS (bench/README.md, issue 13). An
  // explicit MALLOC_ARENA_MAX in the environment wins (docs/operations.md).
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, 2);
  }
  // Before anything else: a SIGTERM while starting (publish under systemd stopped at once) must
  // reach the command's own handling (publish revokes what it granted and exits 0), not kill the
  // process with 143.
  registrar::app::BlockTerminationSignals();
  if (argc >= 2 && std::string(argv[1]) == "check-config") {
    return registrar::app::RunCheckConfig(argc - 1, argv + 1);
  }
  auto command = registrar::config::ParseCommandLine(argc, argv);
  if (!command.ok()) {
    std::cerr << "etcd-registrar: " << command.status().message() << "\n";
    return 2;
  }
  switch (command->kind) {
    case registrar::config::Command::Kind::kExit:
      std::cout << command->output;
      if (!command->output.empty() && command->output.back() != '\n') {
        std::cout << "\n";
      }
      return 0;
    case registrar::config::Command::Kind::kPublish:
      return registrar::app::RunPublish(command->publish);
    case registrar::config::Command::Kind::kController:
      return registrar::app::RunController(command->controller);
  }
  return 2;
}
