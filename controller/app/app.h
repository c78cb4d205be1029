// File: controller/app/app.h
//
// The commands of the binary, wired from parsed options: RunPublish (one registration held in
// the foreground, revoked on SIGINT/SIGTERM) and RunController (the controller on a source of
// ServiceRegistrations). Each blocks until the process should exit and returns the exit code.
// RunCheckConfig (`check-config`) parses and checks as a start would, then returns 0 or 2.
// SIGINT/SIGTERM are handled here with sigwait on the calling thread; call from main only.
#pragma once

#include "controller/config/options.h"

namespace registrar::app {

int RunPublish(const config::PublishOptions& options);
int RunController(const config::Options& options);
// `etcd-registrar check-config [controller flags | publish ...]`: argv without "check-config"'s
// predecessor (argv[0] is "check-config"). Prints a summary (0) or the reason on stderr (2).
int RunCheckConfig(int argc, const char* const* argv);

}  // namespace registrar::app
