// File: controller/app/app.h
//
// The two commands of the binary, wired from parsed options: RunPublish (one registration held in
// the foreground, revoked on SIGINT/SIGTERM) and RunController (the controller on a source of
// ServiceRegistrations). Each blocks until the process should exit and returns the exit code.
// SIGINT/SIGTERM are handled here with sigwait on the calling thread; call from main only.
#pragma once

#include "controller/config/options.h"

namespace registrar::app {

int RunPublish(const config::PublishOptions& options);
int RunController(const config::Options& options);

}  // namespace registrar::app
