#include <atomic>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

#include "controller/app/app.h"
#include "controller/app/etcd_options.h"
#include "controller/app/signals.h"
#include "controller/common/clock.h"
#include "controller/common/format.h"
#include "controller/common/logging.h"
#include "controller/publisher/engine.h"
#include "controller/registration/validation.h"
#include "spdlog/spdlog.h"

namespace registrar::app {

static_assert(config::kMinTtlSeconds == registration::kMinTtlSeconds &&
              config::kMaxTtlSeconds == registration::kMaxTtlSeconds);

namespace {

// The controller's rules for the key, value, id and TTL (registration/validation.h), so publish
// refuses what the controller refuses: "" when fine, else one line naming the flag. The owner
// prefix is the default one: a key under it would look like a controller's ownership record.
std::string PublishProblem(const config::PublishOptions& options) {
  registration::ServiceRegistration object;
  object.metadata.name = "publish";
  object.metadata.namespace_ = "default";
  object.spec.key = options.key;
  object.spec.value = options.value;
  object.spec.id = options.id;
  object.spec.ttl_seconds = options.ttl_seconds;
  const std::map<std::string, std::string> flags = {{"spec.key", "--key"},
                                                    {"spec.value", "--value"},
                                                    {"spec.id", "--id"},
                                                    {"spec.ttlSeconds", "--ttl"}};
  std::vector<registration::FieldError> errors = registration::Validate(
      object, registration::SourceMode::kManifests, registration::kDefaultOwnerPrefix);
  if (errors.empty()) {
    return "";
  }
  auto flag = flags.find(errors.front().path);
  return absl::StrCat(flag == flags.end() ? errors.front().path : flag->second, ": ",
                      errors.front().message);
}

}  // namespace

int RunPublish(const config::PublishOptions& options) {
  if (std::string problem = PublishProblem(options); !problem.empty()) {
    std::cerr << "etcd-registrar: " << problem << "\n";
    return 2;
  }
  auto logging = SetupLogging(options.log_level,
                              options.log_format == "json" ? LogFormat::kJson : LogFormat::kText);
  if (!logging.ok()) {
    spdlog::error("{}", logging.message());
    return 2;
  }
  BlockTerminationSignals();  // main() did already; kept for callers other than main

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
