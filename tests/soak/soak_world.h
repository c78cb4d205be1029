// File: tests/soak/soak_world.h
//
// The processes and files of the fault soak (tests/soak/fault_soak.cc): a real etcd
// (EtcdProcess, Debian's 3.4 unless another binary is named), a TcpProxy in front of it, the
// real `etcd-registrar` binary in manifest mode talking to etcd through the proxy, and the
// manifest folder it reads. The world applies one planned Step (tests/soak/fault_schedule.h) at
// a time and takes Snapshots for the checker (tests/soak/soak_checker.h).
//
// Flow: Create() starts etcd, the proxy, writes `registrations` manifests spread over `files`
// files and starts the controller. RunFault(step) starts the step's fault, applies its edit
// `edit_after` into it, holds it for `duration` and lifts it (etcd started again, proxy restored,
// controller restarted on the same HTTP port). Desired() is what the manifests ask for now;
// Take() reads every key and lease with etcdctl and /registrations from the controller.
// Registration i: namespace ns<i%5>, name r<i>, key soak.r<i>.rpc, id i+1 for odd i (else the
// lease names the key), value 10.<i/256>.<i%256>.1:<port>.
//
// Thread-safety: none; the soak's main thread drives it (etcd and the controller die with the
// thread that started them, PR_SET_PDEATHSIG).
// Ownership: owns every process and its temp dir; Keep() leaves the dir (logs, manifests) behind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "tests/fixtures/controller_process.h"
#include "tests/fixtures/etcd_process.h"
#include "tests/fixtures/tcp_proxy.h"
#include "tests/soak/fault_schedule.h"
#include "tests/soak/soak_checker.h"

namespace registrar::soak {

struct WorldOptions {
  int registrations = 1000;
  int files = 50;
  int ttl_seconds = 10;
  std::string owner_id = "soak";
  std::string etcd_binary;                  // empty: Debian's /usr/bin/etcd
  std::string etcdctl_binary;               // empty: Debian's /usr/bin/etcdctl
  std::vector<std::string> controller_env;  // "NAME=value" for the controller (diagnosis)
};

class SoakWorld {
 public:
  static absl::StatusOr<std::unique_ptr<SoakWorld>> Create(const WorldOptions& options);
  ~SoakWorld();
  SoakWorld(const SoakWorld&) = delete;
  SoakWorld& operator=(const SoakWorld&) = delete;

  // Runs the step's fault and edit; returns when the fault is lifted. An error when etcd or the
  // controller cannot be started again.
  absl::Status RunFault(const Step& step);

  std::vector<DesiredRegistration> Desired() const;
  // Every key and lease in etcd, and the controller's /registrations (nullopt when it does not
  // answer). An error when etcdctl fails (etcd down).
  absl::StatusOr<Snapshot> Take() const;
  CheckOptions check_options() const { return {.owner_id = options_.owner_id}; }

  // The controller's resident set (VmRSS) in MiB; 0 when it cannot be read.
  double ControllerRssMiB() const;
  pid_t controller_pid() const { return controller_->pid(); }
  int controller_starts() const { return controller_starts_; }
  bool ControllerRunning() { return controller_->Running(); }
  // The controller's command line, exit code and last lines, for failure messages.
  std::string DescribeController() const { return controller_->Describe(); }

  const std::string& dir() const { return dir_; }
  // Saves the controller's and etcd's logs into dir() and keeps it after the world goes.
  void Keep();

 private:
  struct Doc {
    int index = 0;
    std::string value;
    int64_t id = 0;
    int ttl = 0;
    bool paused = false;
  };
  struct File {
    std::vector<Doc> docs;
    bool present = true;
  };

  explicit SoakWorld(const WorldOptions& options) : options_(options) {}
  absl::Status StartController();
  void SaveControllerLog();
  absl::Status WriteFile(int file);
  absl::Status ApplyEdit(const Edit& edit);

  WorldOptions options_;
  std::string dir_;
  std::string manifests_;
  std::vector<File> files_;
  std::unique_ptr<testing::EtcdProcess> etcd_;
  std::unique_ptr<testing::TcpProxy> proxy_;
  std::unique_ptr<testing::ControllerProcess> controller_;
  int http_port_ = 0;
  int controller_starts_ = 0;
  bool keep_ = false;
};

}  // namespace registrar::soak
