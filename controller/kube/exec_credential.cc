#include "controller/kube/exec_credential.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

extern char** environ;

namespace registrar::kube {

namespace {

using nlohmann::json;

constexpr size_t kMaxStdout = 4 << 20;
constexpr size_t kStderrKept = 2048;

std::string Who(const ExecConfig& exec) {
  return absl::StrCat("exec plugin \"", exec.command, "\" (", exec.origin, ")");
}

// An RFC 3339 time, kept within 1970..2200: earlier is simply expired, and system_clock counts
// nanoseconds in 64 bits, which end in 2262.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(const std::string& text) {
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &error)) {
    return std::nullopt;
  }
  const absl::Time latest = absl::FromUnixSeconds(7258118400);  // 2200-01-01T00:00:00Z
  t = std::clamp(t, absl::UnixEpoch(), latest);
  return std::chrono::system_clock::time_point(
      std::chrono::seconds(absl::ToUnixSeconds(t)));
}

// A pipe whose ends close on exec; [0] read, [1] write.
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd) {
      if (f >= 0) {
        close(f);
      }
    }
  }
  void CloseEnd(int i) {
    if (fd[i] >= 0) {
      close(fd[i]);
      fd[i] = -1;
    }
  }
};

// Our environment, then the kubeconfig's env (replacing same names), then KUBERNETES_EXEC_INFO.
std::vector<std::string> ChildEnvironment(const ExecConfig& exec, std::string_view exec_info) {
  std::vector<std::pair<std::string, std::string>> vars;
  auto set = [&vars](std::string name, std::string value) {
    for (auto& [n, v] : vars) {
      if (n == name) {
        v = std::move(value);
        return;
      }
    }
    vars.emplace_back(std::move(name), std::move(value));
  };
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    size_t eq = entry.find('=');
    if (eq != std::string_view::npos) {
      vars.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
  }
  for (const auto& [name, value] : exec.env) {
    set(name, value);
  }
  set("KUBERNETES_EXEC_INFO", std::string(exec_info));
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (auto& [name, value] : vars) {
    out.push_back(absl::StrCat(name, "=", value));
  }
  return out;
}

void LogStderr(const ExecConfig& exec, const std::string& text) {
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipWhitespace())) {
    spdlog::info("{}: {}", Who(exec), std::string(line));
  }
}

std::string StderrTail(const std::string& text) {
  std::string tail = text.size() > kStderrKept ? text.substr(text.size() - kStderrKept) : text;
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) {
    tail.pop_back();
  }
  return tail.empty() ? std::string("(nothing on stderr)") : tail;
}

class ExecCredentials final : public Credentials {
 public:
  ExecCredentials(ExecConfig exec, std::string exec_info, Clock& clock,
                  std::chrono::milliseconds timeout)
      : exec_(std::move(exec)), exec_info_(std::move(exec_info)), clock_(clock),
        timeout_(timeout) {}

  absl::StatusOr<std::string> Token() override {
    {
      absl::MutexLock lock(&mu_);
      while (true) {
        if (has_token_ && (!expiration_ || clock_.WallNow() < *expiration_)) {
          return token_;
        }
        if (!running_) {
          break;
        }
        const uint64_t seen = runs_;
        while (runs_ == seen) {
          done_.Wait(&mu_);
        }
        // The run we waited for answers for us too, even with a token already expired.
        if (!last_error_.ok()) {
          return last_error_;
        }
        if (has_token_) {
          return token_;
        }
      }
      running_ = true;
    }
    absl::StatusOr<ExecCredential> answer = Run();
    absl::MutexLock lock(&mu_);
    running_ = false;
    ++runs_;
    done_.SignalAll();
    if (!answer.ok()) {
      has_token_ = false;
      last_error_ = answer.status();
      return last_error_;
    }
    last_error_ = absl::OkStatus();
    has_token_ = true;
    token_ = std::move(answer->token);
    expiration_ = answer->expiration;
    return token_;
  }

  void Invalidate() override {
    absl::MutexLock lock(&mu_);
    has_token_ = false;
  }

 private:
  absl::StatusOr<ExecCredential> Run() {
    absl::StatusOr<std::string> out = RunExecPlugin(exec_, exec_info_, timeout_, clock_);
    if (!out.ok()) {
      return out.status();
    }
    absl::StatusOr<ExecCredential> parsed = ParseExecCredential(*out, exec_.api_version);
    if (!parsed.ok()) {
      return absl::Status(parsed.status().code(),
                          absl::StrCat(Who(exec_), ": ", parsed.status().message()));
    }
    return parsed;
  }

  const ExecConfig exec_;
  const std::string exec_info_;
  Clock& clock_;
  const std::chrono::milliseconds timeout_;

  absl::Mutex mu_;
  absl::CondVar done_;  // signalled when a run ends
  bool running_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t runs_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool has_token_ ABSL_GUARDED_BY(mu_) = false;
  std::string token_ ABSL_GUARDED_BY(mu_);
  std::optional<std::chrono::system_clock::time_point> expiration_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<ExecCredential> ParseExecCredential(std::string_view text,
                                                   std::string_view api_version) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "its output is not a JSON object (", text.size(), " bytes); expected an ExecCredential"));
  }
  auto string_at = [](const json& object, const char* key, std::string* out) -> bool {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      return true;
    }
    if (!it->is_string()) {
      return false;
    }
    *out = it->get<std::string>();
    return true;
  };
  std::string version;
  std::string kind;
  if (!string_at(j, "apiVersion", &version) || !string_at(j, "kind", &kind)) {
    return absl::InvalidArgumentError("apiVersion and kind of its answer must be strings");
  }
  if (version != api_version) {
    return absl::InvalidArgumentError(
        absl::StrCat("it answered apiVersion \"", version, "\", the kubeconfig asks for \"",
                     std::string(api_version), "\""));
  }
  if (kind != "ExecCredential") {
    return absl::InvalidArgumentError(
        absl::StrCat("it answered kind \"", kind, "\", expected ExecCredential"));
  }
  auto status = j.find("status");
  if (status == j.end() || !status->is_object()) {
    return absl::InvalidArgumentError("its answer has no status object");
  }
  ExecCredential out;
  std::string cert;
  std::string key;
  std::string expiration;
  if (!string_at(*status, "token", &out.token) ||
      !string_at(*status, "clientCertificateData", &cert) ||
      !string_at(*status, "clientKeyData", &key) ||
      !string_at(*status, "expirationTimestamp", &expiration)) {
    return absl::InvalidArgumentError(
        "status.token, clientCertificateData, clientKeyData and expirationTimestamp of its "
        "answer must be strings");
  }
  if (out.token.empty()) {
    if (!cert.empty() || !key.empty()) {
      return absl::InvalidArgumentError(
          "it answered with a client certificate (clientCertificateData/clientKeyData); only "
          "tokens are supported");
    }
    return absl::InvalidArgumentError("its answer has no status.token");
  }
  if (!expiration.empty()) {
    out.expiration = ParseRfc3339(expiration);
    if (!out.expiration) {
      return absl::InvalidArgumentError(absl::StrCat(
          "status.expirationTimestamp \"", expiration.substr(0, 64), "\" is not an RFC 3339 time"));
    }
  }
  return out;
}

std::string ExecInfoJson(const ExecConfig& exec, const ClusterConfig& cluster) {
  json spec = {{"interactive", false}};
  if (exec.provide_cluster_info) {
    json c = {{"server", cluster.server}};
    if (!cluster.tls_server_name.empty()) {
      c["tls-server-name"] = cluster.tls_server_name;
    }
    if (cluster.insecure_skip_tls_verify) {
      c["insecure-skip-tls-verify"] = true;
    }
    if (!cluster.ca_pem.empty()) {
      c["certificate-authority-data"] = absl::Base64Escape(cluster.ca_pem);
    }
    spec["cluster"] = std::move(c);
  }
  json request = {{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", spec}};
  return request.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::StatusOr<std::string> RunExecPlugin(const ExecConfig& exec, std::string_view exec_info,
                                          std::chrono::milliseconds timeout, Clock& clock) {
  const Clock::TimePoint deadline = clock.Now() + timeout;
  Pipe out;
  Pipe err;
  if (pipe2(out.fd, O_CLOEXEC) != 0 || pipe2(err.fd, O_CLOEXEC) != 0) {
    return absl::UnavailableError(absl::StrCat(Who(exec), ": pipe: ", std::strerror(errno)));
  }
  std::vector<std::string> argv_storage{exec.command};
  argv_storage.insert(argv_storage.end(), exec.args.begin(), exec.args.end());
  std::vector<std::string> env_storage = ChildEnvironment(exec, exec_info);
  std::vector<char*> argv;
  std::vector<char*> envp;
  for (std::string& s : argv_storage) {
    argv.push_back(s.data());
  }
  argv.push_back(nullptr);
  for (std::string& s : env_storage) {
    envp.push_back(s.data());
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);    // our threads may block signals
  posix_spawnattr_setsigdefault(&attr, &all);  // and we may ignore SIGPIPE
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawnp(&pid, exec.command.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawn_error != 0) {
    std::string message = absl::StrCat(Who(exec), ": cannot run: ", std::strerror(spawn_error));
    if (spawn_error == ENOENT) {
      message = absl::StrCat(Who(exec), ": executable not found",
                             exec.command.find('/') == std::string::npos ? " in PATH" : "");
      absl::StrAppend(&message, exec.install_hint.empty()
                                    ? std::string("; is the plugin installed?")
                                    : absl::StrCat("; install hint: ", exec.install_hint));
    }
    return absl::FailedPreconditionError(message);
  }
  out.CloseEnd(1);
  err.CloseEnd(1);

  std::string stdout_text;
  std::string stderr_text;
  bool timed_out = false;
  bool too_big = false;
  char buffer[8192];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock.Now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd fds[2] = {{out.fd[0], POLLIN, 0}, {err.fd[0], POLLIN, 0}};
    const int ready = poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (ready < 0 && errno != EINTR) {
      break;
    }
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) {
        continue;
      }
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n <= 0) {
        (i == 0 ? out : err).CloseEnd(0);
        continue;
      }
      std::string& sink = i == 0 ? stdout_text : stderr_text;
      sink.append(buffer, static_cast<size_t>(n));
      if (i == 1 && stderr_text.size() > 4 * kStderrKept) {
        LogStderr(exec, stderr_text.substr(0, stderr_text.size() - kStderrKept));
        stderr_text.erase(0, stderr_text.size() - kStderrKept);
      }
      if (stdout_text.size() > kMaxStdout) {
        too_big = true;
      }
    }
    if (too_big) {
      break;
    }
  }
  int wait_status = 0;
  while (!timed_out && !too_big) {
    const pid_t done = waitpid(pid, &wait_status, WNOHANG);
    if (done == pid || (done < 0 && errno != EINTR)) {
      pid = -1;
      break;
    }
    if (clock.Now() >= deadline) {
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pid > 0) {
    kill(pid, SIGKILL);
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
  }
  LogStderr(exec, stderr_text);
  if (timed_out) {
    return absl::DeadlineExceededError(absl::StrCat(
        Who(exec), ": did not finish within ", timeout.count(), " ms and was killed; stderr: ",
        StderrTail(stderr_text)));
  }
  if (too_big) {
    return absl::UnavailableError(
        absl::StrCat(Who(exec), ": wrote more than ", kMaxStdout, " bytes; killed"));
  }
  if (WIFSIGNALED(wait_status)) {
    return absl::UnavailableError(absl::StrCat(Who(exec), ": killed by signal ",
                                               WTERMSIG(wait_status), "; stderr: ",
                                               StderrTail(stderr_text)));
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    return absl::UnavailableError(absl::StrCat(Who(exec), ": exited with code ",
                                               WEXITSTATUS(wait_status), "; stderr: ",
                                               StderrTail(stderr_text)));
  }
  return stdout_text;
}

std::unique_ptr<Credentials> NewExecCredentials(const ExecConfig& exec,
                                                const ClusterConfig& cluster, Clock& clock,
                                                std::chrono::milliseconds timeout) {
  return std::make_unique<ExecCredentials>(exec, ExecInfoJson(exec, cluster), clock, timeout);
}

}  // namespace registrar::kube
