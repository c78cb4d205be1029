// File: tests/kube-test-server/main.cc
//
// kube-test-server: a Kubernetes API server for tests, storing objects in a real etcd.
//   kube-test-server --listen 127.0.0.1:0 --etcd-endpoints 127.0.0.1:2379 [--version-minor 33]
//                    [--log FILE] [--bookmark-interval-ms N] [--watch-timeout-seconds N]
//                    [--watch-queue-limit N]
// Prints exactly "listening on http://127.0.0.1:PORT" on stdout once it serves requests.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "controller/etcd/client.h"
#include "tests/kube-test-server/api_handler.h"
#include "tests/kube-test-server/controls.h"
#include "tests/kube-test-server/http_server.h"
#include "tests/kube-test-server/resource_registry.h"
#include "tests/kube-test-server/router.h"
#include "tests/kube-test-server/storage.h"
#include "tests/kube-test-server/watch.h"

int main(int argc, char** argv) {
  using namespace registrar;
  CLI::App app{"kube-test-server: a Kubernetes API server for tests, backed by etcd"};
  std::string listen = "127.0.0.1:0";
  std::string endpoints;
  int version_minor = 33;
  std::string log_path;
  int bookmark_ms = 60000;
  int watch_timeout_s = 1800;
  int watch_queue_limit = 10000;
  app.add_option("--listen", listen, "127.0.0.1:PORT (0 = a free port)");
  app.add_option("--etcd-endpoints", endpoints, "etcd host:port[,host:port...]")->required();
  app.add_option("--version-minor", version_minor, "minor version reported by /version");
  app.add_option("--log", log_path, "append the JSONL request log to this file");
  app.add_option("--bookmark-interval-ms", bookmark_ms, "BOOKMARK cadence for watches");
  app.add_option("--watch-timeout-seconds", watch_timeout_s,
                 "lifetime of a watch without timeoutSeconds");
  app.add_option("--watch-queue-limit", watch_queue_limit,
                 "events a watcher may fall behind before its connection is cut");
  CLI11_PARSE(app, argc, argv);

  std::vector<std::string> hp = absl::StrSplit(listen, ':');
  int port = -1;
  if (hp.size() != 2 || hp[0] != "127.0.0.1" || !absl::SimpleAtoi(hp[1], &port) || port < 0 ||
      port > 65535) {
    std::cerr << "kube-test-server: --listen must be 127.0.0.1:PORT, got \"" << listen << "\"\n";
    return 2;
  }
  etcd::ClientOptions options;
  options.endpoints = absl::StrSplit(endpoints, ',', absl::SkipEmpty());
  auto client = etcd::NewClient(options);
  if (!client.ok()) {
    std::cerr << "kube-test-server: etcd client: " << client.status() << "\n";
    return 2;
  }
  std::FILE* log_file = nullptr;
  if (!log_path.empty()) {
    log_file = std::fopen(log_path.c_str(), "a");
    if (!log_file) {
      std::cerr << "kube-test-server: cannot open --log " << log_path << "\n";
      return 2;
    }
  }

  kts::Storage storage(**client);
  kts::ResourceRegistry registry;
  kts::WatchHub hub;
  kts::TestControls controls(storage, hub);
  controls.SetLogFile(log_file);
  kts::ApiOptions api_options;
  api_options.bookmark_interval = std::chrono::milliseconds(bookmark_ms);
  api_options.default_watch_timeout = std::chrono::seconds(watch_timeout_s);
  api_options.watch_queue_limit = static_cast<size_t>(std::max(1, watch_queue_limit));
  kts::ApiHandler api(storage, registry, hub, controls, api_options);
  absl::Status boot = api.Bootstrap();
  if (!boot.ok()) {
    std::cerr << "kube-test-server: cannot initialise storage in etcd " << endpoints << ": "
              << boot << "\n";
    return 1;
  }
  kts::Router router(registry, api, controls, version_minor);
  auto server = kts::ListenHttp(port, [&](const kts::HttpRequest& req, kts::ResponseWriter& out) {
    router.Handle(req, out);
  });
  if (!server.ok()) {
    std::cerr << "kube-test-server: " << server.status() << "\n";
    return 1;
  }
  std::printf("listening on http://127.0.0.1:%d\n", (*server)->port());
  std::fflush(stdout);
  (*server)->Serve();
  return 1;
}
