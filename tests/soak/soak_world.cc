#include "tests/soak/soak_world.h"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

#include "controller/common/status.h"
#include "nlohmann/json.hpp"
#include "tests/fixtures/etcd_inspector.h"
#include "tests/testing/temp_dir.h"

namespace registrar::soak {
namespace {

using std::chrono::milliseconds;

std::string Value(int index, uint64_t salt) {
  const uint64_t port = 1024 + (salt + static_cast<uint64_t>(index) * 7919) % 60000;
  return absl::StrCat("10.", index / 256, ".", index % 256, ".1:", port);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void Sleep(milliseconds d) {
  if (d.count() > 0) {
    std::this_thread::sleep_for(d);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SoakWorld>> SoakWorld::Create(const WorldOptions& options) {
  auto world = std::unique_ptr<SoakWorld>(new SoakWorld(options));
  ASSIGN_OR_RETURN(world->dir_, testing::MakeTempDir("er-soak"));
  world->manifests_ = world->dir_ + "/manifests";
  std::filesystem::create_directories(world->manifests_);
  world->files_.resize(static_cast<size_t>(std::max(options.files, 1)));
  for (int i = 0; i < options.registrations; ++i) {
    Doc d;
    d.index = i;
    d.value = Value(i, 0);
    d.id = i % 2 == 1 ? i + 1 : 0;
    d.ttl = options.ttl_seconds;
    world->files_[static_cast<size_t>(i) % world->files_.size()].docs.push_back(d);
  }
  for (size_t f = 0; f < world->files_.size(); ++f) {
    RETURN_IF_ERROR(world->WriteFile(static_cast<int>(f)));
  }
  ASSIGN_OR_RETURN(world->etcd_, testing::EtcdProcess::Start({
                                     .etcd_binary = options.etcd_binary,
                                     .etcdctl_binary = options.etcdctl_binary,
                                 }));
  ASSIGN_OR_RETURN(world->proxy_, testing::TcpProxy::Start(world->etcd_->endpoint()));
  RETURN_IF_ERROR(world->StartController());
  return world;
}

SoakWorld::~SoakWorld() {
  if (controller_ != nullptr && keep_) {
    SaveControllerLog();
  }
  controller_.reset();
  proxy_.reset();
  if (keep_ && etcd_ != nullptr) {
    std::error_code ignored;
    std::filesystem::copy_file(etcd_->dir() + "/etcd.log", dir_ + "/etcd.log",
                               std::filesystem::copy_options::overwrite_existing, ignored);
  }
  etcd_.reset();
  if (!keep_ && std::getenv("ER_KEEP_TEST_TMP") == nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

void SoakWorld::Keep() { keep_ = true; }

absl::Status SoakWorld::StartController() {
  const std::vector<std::string> args = {"--manifests",      manifests_,   "--etcd-endpoints",
                                         proxy_->endpoint(), "--owner-id", options_.owner_id,
                                         "--log-level",      "info"};
  ASSIGN_OR_RETURN(controller_,
                   testing::ControllerProcess::Start(args, options_.controller_env, http_port_));
  http_port_ = controller_->port();
  ++controller_starts_;
  return absl::OkStatus();
}

void SoakWorld::SaveControllerLog() {
  std::ofstream out(dir_ + "/controller.log", std::ios::app);
  out << "==== controller start " << controller_starts_ << " (pid " << controller_->pid()
      << ") ====\n"
      << controller_->Log();
}

absl::Status SoakWorld::WriteFile(int file) {
  const File& f = files_[static_cast<size_t>(file)];
  const std::string path = absl::StrCat(manifests_, "/regs-", file, ".yaml");
  if (!f.present) {
    std::error_code error;
    std::filesystem::remove(path, error);
    return error ? absl::InternalError(absl::StrCat("remove ", path, ": ", error.message()))
                 : absl::OkStatus();
  }
  std::string text;
  for (const Doc& d : f.docs) {
    absl::StrAppend(&text, "---\napiVersion: registrar.dev/v1alpha1\nkind: ServiceRegistration\n",
                    "metadata:\n  name: r", d.index, "\n  namespace: ns", d.index % 5, "\n",
                    "spec:\n  key: soak.r", d.index, ".rpc\n  value: \"", d.value, "\"\n",
                    "  ttlSeconds: ", d.ttl, "\n  paused: ", d.paused ? "true" : "false", "\n");
    if (d.id != 0) {
      absl::StrAppend(&text, "  id: ", d.id, "\n");
    }
  }
  const std::string temp = absl::StrCat(manifests_, "/.regs-", file, ".yaml.tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.good()) {
      return absl::InternalError(absl::StrCat("cannot write ", temp));
    }
  }
  std::error_code error;
  std::filesystem::rename(temp, path, error);
  return error ? absl::InternalError(absl::StrCat("rename to ", path, ": ", error.message()))
               : absl::OkStatus();
}

absl::Status SoakWorld::ApplyEdit(const Edit& edit) {
  if (edit.kind == EditKind::kNone || edit.file < 0 ||
      edit.file >= static_cast<int>(files_.size())) {
    return absl::OkStatus();
  }
  if (edit.kind == EditKind::kDeleteOrRestoreMany) {
    for (int i = 0; i < kManyFiles && i < static_cast<int>(files_.size()); ++i) {
      RETURN_IF_ERROR(ApplyEdit({.kind = EditKind::kDeleteOrRestoreFile,
                                 .file = (edit.file + i) % static_cast<int>(files_.size())}));
    }
    return absl::OkStatus();
  }
  File& f = files_[static_cast<size_t>(edit.file)];
  const int parity = static_cast<int>(edit.salt & 1);
  for (Doc& d : f.docs) {
    const bool every_other = d.index / static_cast<int>(files_.size()) % 2 == parity;
    switch (edit.kind) {
      case EditKind::kChangeValues:
        d.value = Value(d.index, edit.salt);
        break;
      case EditKind::kTogglePause:
        d.paused = every_other ? !d.paused : d.paused;
        break;
      case EditKind::kToggleId:
        d.id = every_other ? (d.id == 0 ? d.index + 1 : 0) : d.id;
        break;
      case EditKind::kChangeTtl:
        d.ttl = d.ttl == options_.ttl_seconds ? AltTtl(options_.ttl_seconds) : options_.ttl_seconds;
        break;
      case EditKind::kDeleteOrRestoreFile:
      case EditKind::kDeleteOrRestoreMany:
      case EditKind::kNone:
        break;
    }
  }
  if (edit.kind == EditKind::kDeleteOrRestoreFile) {
    f.present = !f.present;
  }
  return WriteFile(edit.file);
}

absl::Status SoakWorld::RunFault(const Step& step) {
  const milliseconds before_edit = step.edit_after;
  const milliseconds after_edit = step.duration - step.edit_after;
  auto hold = [&]() -> absl::Status {
    Sleep(before_edit);
    RETURN_IF_ERROR(ApplyEdit(step.edit));
    Sleep(after_edit);
    return absl::OkStatus();
  };
  switch (step.kind) {
    case FaultKind::kEtcdKill:
      etcd_->Kill();
      RETURN_IF_ERROR(hold());
      return etcd_->StartAgain();
    case FaultKind::kEtcdWipe: {
      etcd_->Kill();
      std::error_code error;
      std::filesystem::remove_all(etcd_->dir() + "/data", error);
      if (error) {
        return absl::InternalError(absl::StrCat("wipe etcd data: ", error.message()));
      }
      RETURN_IF_ERROR(hold());
      return etcd_->StartAgain();
    }
    case FaultKind::kEtcdPauseShort:
    case FaultKind::kEtcdPauseLong:
      etcd_->Pause();
      RETURN_IF_ERROR(hold());
      etcd_->Resume();
      return absl::OkStatus();
    case FaultKind::kProxyCutShort:
    case FaultKind::kProxyCutLong:
      proxy_->Cut();
      RETURN_IF_ERROR(hold());
      proxy_->Restore();
      return absl::OkStatus();
    case FaultKind::kProxyDrop:
      proxy_->DropAll();
      return hold();
    case FaultKind::kControllerKillShort:
    case FaultKind::kControllerKillLong:
      if (!controller_->Running()) {
        return absl::FailedPreconditionError(
            absl::StrCat("the controller exited on its own: ", controller_->Describe()));
      }
      controller_->Kill();
      SaveControllerLog();
      RETURN_IF_ERROR(hold());
      return StartController();
    case FaultKind::kManifestsOnly:
      return hold();
  }
  return absl::OkStatus();
}

std::vector<DesiredRegistration> SoakWorld::Desired() const {
  std::vector<DesiredRegistration> out;
  for (const File& f : files_) {
    if (!f.present) {
      continue;
    }
    for (const Doc& d : f.docs) {
      out.push_back({.ns = absl::StrCat("ns", d.index % 5),
                     .name = absl::StrCat("r", d.index),
                     .key = absl::StrCat("soak.r", d.index, ".rpc"),
                     .value = d.value,
                     .id = d.id,
                     .paused = d.paused});
    }
  }
  return out;
}

absl::StatusOr<Snapshot> SoakWorld::Take() const {
  const testing::EtcdInspector inspector(*etcd_);
  Snapshot snap;
  ASSIGN_OR_RETURN(std::vector<testing::StoredKv> kvs, inspector.Get(""));
  ASSIGN_OR_RETURN(snap.leases, inspector.Leases());
  snap.kvs.reserve(kvs.size());
  for (testing::StoredKv& kv : kvs) {
    snap.kvs.push_back({std::move(kv.key), std::move(kv.value), kv.lease});
  }
  ASSIGN_OR_RETURN(std::string body, controller_->Get("/registrations"));
  const nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("registrations") || !doc["registrations"].is_array()) {
    return absl::DataLossError(absl::StrCat("/registrations is not the expected JSON: ", body));
  }
  std::vector<ViewEntry> view;
  for (const nlohmann::json& r : doc["registrations"]) {
    ViewEntry e;
    e.ns = r.value("namespace", "");
    e.name = r.value("name", "");
    e.phase = r.value("phase", "");
    e.full_key = r.value("fullKey", "");
    if (!absl::SimpleAtoi(r.value("leaseID", ""), &e.lease)) {
      e.lease = 0;
    }
    view.push_back(std::move(e));
  }
  snap.view = std::move(view);
  return snap;
}

double SoakWorld::ControllerRssMiB() const {
  std::istringstream status(ReadAll(absl::StrCat("/proc/", controller_->pid(), "/status")));
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      double kib = 0;
      std::istringstream(line.substr(6)) >> kib;
      return kib / 1024.0;
    }
  }
  return 0;
}

}  // namespace registrar::soak
