#include "tests/integration/controller/controller_harness.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include <cpprest/http_client.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace registrar::testing {
namespace {

constexpr auto kProbeInterval = std::chrono::milliseconds(50);

}  // namespace

TimePoint Now() { return std::chrono::steady_clock::now(); }

double SecondsSince(TimePoint start) {
  return std::chrono::duration<double>(Now() - start).count();
}

void ReportMeasurement(const std::string& what, double seconds) {
  std::cout << "[measure] " << what << ": " << absl::StrFormat("%.2f", seconds) << " s"
            << std::endl;
}

std::string Manifest(const ManifestSpec& spec) {
  std::string out =
      absl::StrCat("apiVersion: registrar.dev/v1alpha1\n", "kind: ServiceRegistration\n",
                   "metadata:\n", "  name: ", spec.name, "\n");
  if (!spec.namespace_.empty()) {
    absl::StrAppend(&out, "  namespace: ", spec.namespace_, "\n");
  }
  absl::StrAppend(&out, "spec:\n", "  key: ", spec.key, "\n", "  value: \"", spec.value, "\"\n",
                  "  ttlSeconds: ", spec.ttl, "\n");
  if (spec.id != 0) {
    absl::StrAppend(&out, "  id: ", spec.id, "\n");
  }
  absl::StrAppend(&out, "  paused: ", spec.paused ? "true" : "false", "\n");
  return out;
}

void ControllerTest::SetUp() {
  auto etcd = EtcdProcess::Start(etcd_options());
  ASSERT_THAT(etcd, IsOk());
  etcd_ = *std::move(etcd);
  tmp_ = std::make_unique<TempDir>("er-controller-e2e");
  ASSERT_FALSE(tmp_->path().empty());
  root_ = tmp_->path();
  dir_ = root_ + "/manifests";
  std::filesystem::create_directory(dir_);
}

void ControllerTest::TearDown() {
  tmp_.reset();  // kept when ER_KEEP_TEST_TMP is set
}

void ControllerTest::Write(const std::string& relative, const std::string& content) {
  const std::filesystem::path target = PathOf(relative);
  std::filesystem::create_directories(target.parent_path());
  const std::filesystem::path temp =
      target.parent_path() / ("." + target.filename().string() + ".tmp");
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << content;
    ASSERT_TRUE(out.good()) << "cannot write " << temp;
  }
  std::filesystem::rename(temp, target);
}

void ControllerTest::WriteInPlace(const std::string& relative, const std::string& content,
                                  std::chrono::milliseconds pause) {
  const std::string path = PathOf(relative);
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << "cannot open " << path;
  if (pause.count() > 0) {
    std::this_thread::sleep_for(pause);
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    ASSERT_GT(n, 0) << "cannot write " << path;
    done += static_cast<size_t>(n);
  }
  close(fd);
}

void ControllerTest::Remove(const std::string& relative) {
  std::filesystem::remove(PathOf(relative));
}

std::string RegistrarBinary() {
  const char* dir = std::getenv("ER_BINARY_DIR");
  return absl::StrCat(dir == nullptr ? "." : dir, "/etcd-registrar");
}

std::vector<std::string> ControllerTest::ControllerArgs(const std::vector<std::string>& extra) {
  http_addr_ = absl::StrCat("127.0.0.1:", PickFreePort());
  std::vector<std::string> args = {"--manifests", dir_,       "--etcd-endpoints", etcd_->endpoint(),
                                   "--http-addr", http_addr_, "--owner-id",       kOwnerId,
                                   "--log-level", "debug"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::unique_ptr<ChildProcess> StartRegistrar(const std::vector<std::string>& args) {
  if (std::getenv("ER_BINARY_DIR") == nullptr) {
    ADD_FAILURE() << "ER_BINARY_DIR is not set; run the test through ctest";
    return nullptr;
  }
  if (!std::filesystem::exists(RegistrarBinary())) {
    ADD_FAILURE() << RegistrarBinary() << " does not exist; build the etcd-registrar target first";
    return nullptr;
  }
  auto child = ChildProcess::Start(RegistrarBinary(), args);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return nullptr;
  }
  return *std::move(child);
}

std::unique_ptr<ChildProcess> ControllerTest::StartController(
    const std::vector<std::string>& extra, const std::vector<std::string>& prefix) {
  std::vector<std::string> args = ControllerArgs(extra);
  if (prefix.empty()) {
    return StartRegistrar(args);
  }
  std::vector<std::string> full(prefix.begin() + 1, prefix.end());
  full.push_back(RegistrarBinary());
  full.insert(full.end(), args.begin(), args.end());
  auto child = ChildProcess::Start(prefix.front(), full);
  if (!child.ok()) {
    ADD_FAILURE() << child.status();
    return nullptr;
  }
  return *std::move(child);
}

HttpReply ControllerTest::Get(const std::string& path) const {
  // The HTTP client is an adapter: its exceptions (refused, timed out) become status 0.
  try {
    web::http::client::http_client_config config;
    config.set_timeout(std::chrono::seconds(2));
    web::http::client::http_client client("http://" + http_addr_, config);
    web::http::http_response response = client.request(web::http::methods::GET, path).get();
    return HttpReply{response.status_code(), response.extract_utf8string(true).get()};
  } catch (const std::exception& e) {
    return HttpReply{0, e.what()};
  }
}

void ControllerTest::WaitReady(ChildProcess& controller, Duration timeout) {
  absl::Status ready = WaitUntil(
      [&](std::string* why) {
        HttpReply r = Get("/readyz");
        *why = absl::StrCat(r.status, " ", r.body);
        return r.status == 200;
      },
      timeout);
  EXPECT_THAT(ready, IsOk()) << controller.Describe();
}

absl::StatusOr<nlohmann::json> ControllerTest::Registrations() const {
  HttpReply reply = Get("/registrations");
  if (reply.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("GET /registrations: ", reply.status, " ", reply.body));
  }
  nlohmann::json doc = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.contains("registrations")) {
    return absl::DataLossError(
        absl::StrCat("GET /registrations: not the documented JSON: ", reply.body));
  }
  return doc;
}

std::optional<nlohmann::json> ControllerTest::Find(const nlohmann::json& doc, const std::string& ns,
                                                   const std::string& name) {
  for (const nlohmann::json& r : doc.at("registrations")) {
    if (r.value("namespace", "") == ns && r.value("name", "") == name) {
      return r;
    }
  }
  return std::nullopt;
}

absl::StatusOr<nlohmann::json> ControllerTest::WaitForRegistration(
    const std::string& ns, const std::string& name, const std::string& phase, Duration timeout,
    const std::function<bool(const nlohmann::json&)>& accept) {
  nlohmann::json found;
  absl::Status waited = WaitUntil(
      [&](std::string* why) {
        absl::StatusOr<nlohmann::json> doc = Registrations();
        if (!doc.ok()) {
          *why = std::string(doc.status().message());
          return false;
        }
        std::optional<nlohmann::json> r = Find(*doc, ns, name);
        *why = doc->dump();
        if (!r || r->value("phase", "") != phase || (accept && !accept(*r))) {
          return false;
        }
        found = *r;
        return true;
      },
      timeout);
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat(ns, "/", name, " not ", phase, " in time: ", waited.message()));
  }
  return found;
}

absl::StatusOr<double> ControllerTest::MetricValue(const std::string& series) const {
  HttpReply reply = Get("/metrics");
  if (reply.status != 200) {
    return absl::UnavailableError(absl::StrCat("GET /metrics: ", reply.status, " ", reply.body));
  }
  for (absl::string_view line : absl::StrSplit(reply.body, '\n')) {
    if (absl::StartsWith(line, series + " ")) {
      double value = 0;
      if (absl::SimpleAtod(line.substr(series.size() + 1), &value)) {
        return value;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("no series ", series, " in /metrics:\n", reply.body));
}

absl::StatusOr<StoredKv> ControllerTest::WaitForKey(
    const std::string& prefix, Duration timeout,
    const std::function<bool(const StoredKv&)>& accept) {
  StoredKv found;
  absl::Status waited = WaitUntil(
      [&](std::string* why) {
        absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
        if (!kvs.ok()) {
          *why = std::string(kvs.status().message());
          return false;
        }
        *why = Describe(*kvs);
        if (kvs->size() != 1 || (accept && !accept(kvs->front()))) {
          return false;
        }
        found = kvs->front();
        return true;
      },
      timeout);
  if (!waited.ok()) {
    return absl::DeadlineExceededError(absl::StrCat("no single acceptable key under '", prefix,
                                                    "' in time; last seen: ", waited.message()));
  }
  return found;
}

absl::Status ControllerTest::WaitForNoKey(const std::string& prefix, Duration timeout) {
  absl::Status waited = WaitUntil(
      [&](std::string* why) {
        absl::StatusOr<std::vector<StoredKv>> kvs = GetAll(prefix);
        if (!kvs.ok()) {
          *why = std::string(kvs.status().message());
          return false;
        }
        *why = Describe(*kvs);
        return kvs->empty();
      },
      timeout);
  if (!waited.ok()) {
    return absl::DeadlineExceededError(
        absl::StrCat("keys still under '", prefix, "': ", waited.message()));
  }
  return absl::OkStatus();
}

absl::Status ControllerTest::WaitForLeaseGone(int64_t lease, Duration timeout) {
  return WaitUntil(
      [&](std::string* why) {
        absl::StatusOr<std::vector<int64_t>> leases = Leases();
        if (!leases.ok()) {
          *why = std::string(leases.status().message());
          return false;
        }
        *why = absl::StrCat("lease ", lease, " still among ", absl::StrJoin(*leases, ","));
        return std::find(leases->begin(), leases->end(), lease) == leases->end();
      },
      timeout);
}

absl::Status ControllerTest::WaitUntil(const std::function<bool(std::string* why)>& check,
                                       Duration timeout) {
  std::string why = "not checked yet";
  if (WaitFor([&] { return check(&why); }, timeout, kProbeInterval)) {
    return absl::OkStatus();
  }
  return absl::DeadlineExceededError(why);
}

std::unique_ptr<EtcdWatchRecorder> ControllerTest::Record() {
  auto recorder = EtcdWatchRecorder::Start(EtcdctlTarget::Of(*etcd_), "");
  if (!recorder.ok()) {
    ADD_FAILURE() << recorder.status();
    return nullptr;
  }
  return *std::move(recorder);
}

std::vector<WatchEvent> EventsUnder(const EtcdWatchRecorder& recorder, const std::string& prefix,
                                    WatchEvent::Type type) {
  std::vector<WatchEvent> out;
  for (const WatchEvent& e : recorder.events()) {
    if (e.type == type && absl::StartsWith(e.key, prefix)) {
      out.push_back(e);
    }
  }
  return out;
}

std::string DescribeEvents(const EtcdWatchRecorder& recorder, const std::string& prefix) {
  std::vector<std::string> lines;
  for (const WatchEvent& e : recorder.events()) {
    if (!absl::StartsWith(e.key, prefix)) {
      continue;
    }
    lines.push_back(absl::StrCat("rev ", e.mod_revision, " ",
                                 e.type == WatchEvent::Type::kPut ? "PUT " : "DELETE ",
                                 absl::CEscape(e.key), " lease ", e.lease));
  }
  return lines.empty() ? "no events" : absl::StrJoin(lines, "\n");
}

}  // namespace registrar::testing
