#include <atomic>

#include "controller/app/app.h"
#include "controller/app/etcd_options.h"
#include "controller/app/signals.h"
#include "controller/common/clock.h"
#include "controller/common/format.h"
#include "controller/common/logging.h"
#include "controller/publisher/engine.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

int RunPublish(const config::PublishOptions& options) {
  auto logging = SetupLogging(options.log_level,
                              options.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  if (!logging.ok()) {
    spdlog::error("{}", logging.message());
    return 2;
  }
  BlockTerminationSignals();

  publisher::EngineOptions engine_options;
  engine_options.default_target = ToClientOptions(options.etcd);
  engine_options.ownership_records = false;
  auto engine = publisher::NewEngine(engine_options, RealClock::Get());

  constexpr char kId[] = "publish";
  std::atomic<bool> credentials_rejected{false};
  engine->SetListener([&](const std::string& id) {
    auto state = engine->Get(id);
    if (state && state->phase == publisher::Phase::kFailed &&
        state->cause == publisher::Cause::kAuthFailed) {
      credentials_rejected = true;
    }
  });
  if (auto started = engine->Start(); !started.ok()) {
    spdlog::error("{}", started.message());
    return 1;
  }
  publisher::Desired desired;
  desired.id = kId;
  desired.key = options.key;
  desired.value = options.value;
  desired.key_id = options.id;
  desired.ttl = options.ttl_seconds;
  engine->Upsert(desired);

  int sig = WaitForTermination([&] { return credentials_rejected.load(); },
                               std::chrono::milliseconds(100));
  if (sig == 0) {
    auto state = engine->Get(kId);
    spdlog::error(
        "cannot register: etcd refused the credentials, or its TLS certificate is not trusted: {}",
        state ? state->message : "");
    engine->Stop(/*revoke=*/true);
    return 1;
  }
  spdlog::info("signal {}: revoking and exiting", sig);
  engine->Stop(/*revoke=*/true);
  return 0;
}

}  // namespace registrar::app
