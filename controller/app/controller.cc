#include "controller/app/app.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

int RunController(const config::Options& /*options*/) {
  spdlog::error("the controller command is being wired; use `etcd-registrar publish`");
  return 1;
}

}  // namespace registrar::app
