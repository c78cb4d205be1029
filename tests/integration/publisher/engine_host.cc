// File: tests/integration/publisher/engine_host.cc
//
// Test-only host for the registration engine, so an integration test can SIGKILL an engine.
// Runs one engine in controller mode (ownership records on) against one etcd endpoint, Upserts
// the registrations of a JSON file (an array of {id, uid, namespace, name, key, value, key_id,
// ttl, paused}), calls MarkComplete() when --mark-complete is given, and prints one line per
// state change: "STATE <id> <phase> <reason> lease=<n> key=<full key>" ("STATE <id> Removed"
// once a registration is gone). Exits only by signal: SIGTERM/SIGINT stop the engine without
// revoking (exit 0); SIGKILL is what the tests use.
// Thread-safety: the listener prints from the engine thread; main only waits for a signal.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>

#include "CLI/CLI.hpp"
#include "controller/common/clock.h"
#include "controller/publisher/engine.h"
#include "nlohmann/json.hpp"

namespace {

using registrar::publisher::Desired;

std::mutex print_mu;

void PrintLine(const std::string& line) {
  std::lock_guard<std::mutex> lock(print_mu);
  std::fprintf(stdout, "%s\n", line.c_str());
  std::fflush(stdout);
}

// Reads the desired registrations; exits with a message naming the file and entry on bad input.
std::vector<Desired> ReadDesired(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "engine_host: cannot read " << path << "\n";
    std::exit(2);
  }
  nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) {
    std::cerr << "engine_host: " << path << ": expected a JSON array of registrations\n";
    std::exit(2);
  }
  std::vector<Desired> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const auto& e = j[i];
    try {
      Desired d;
      d.id = e.at("id").get<std::string>();
      d.uid = e.at("uid").get<std::string>();
      d.namespace_ = e.value("namespace", "");
      d.name = e.value("name", "");
      d.key = e.at("key").get<std::string>();
      d.value = e.at("value").get<std::string>();
      d.key_id = e.value("key_id", int64_t{0});
      d.ttl = e.value("ttl", int64_t{10});
      d.paused = e.value("paused", false);
      out.push_back(std::move(d));
    } catch (const nlohmann::json::exception& ex) {
      std::cerr << "engine_host: " << path << ": entry " << i << ": " << ex.what() << "\n";
      std::exit(2);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine_host: one registration engine for integration tests"};
  std::string endpoint;
  std::string owner_id;
  std::string cluster;
  std::string desired_path;
  bool mark_complete = false;
  app.add_option("--endpoint", endpoint, "etcd host:port")->required();
  app.add_option("--owner-id", owner_id, "owner id of the ownership records")->required();
  app.add_option("--cluster", cluster, "cluster written into the records");
  app.add_option("--desired", desired_path, "JSON file of registrations")->required();
  app.add_flag("--mark-complete", mark_complete, "call MarkComplete() after the Upserts");
  CLI11_PARSE(app, argc, argv);

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::vector<Desired> desired = ReadDesired(desired_path);

  registrar::publisher::EngineOptions options;
  options.default_target.endpoints = {endpoint};
  options.ownership_records = true;
  options.owner_id = owner_id;
  options.cluster = cluster;
  auto engine = registrar::publisher::NewEngine(options, registrar::RealClock::Get());
  registrar::publisher::Engine* raw = engine.get();
  engine->SetListener([raw](const std::string& id) {
    auto s = raw->Get(id);
    if (!s) {
      PrintLine("STATE " + id + " Removed");
      return;
    }
    PrintLine("STATE " + id + " " + registrar::publisher::PhaseName(s->phase) + " " +
              registrar::publisher::CauseName(s->cause) +
              " lease=" + std::to_string(s->lease_id) + " key=" + s->full_key);
  });
  if (auto status = engine->Start(); !status.ok()) {
    std::cerr << "engine_host: start failed: " << status.ToString() << "\n";
    return 1;
  }
  for (Desired& d : desired) {
    engine->Upsert(std::move(d));
  }
  if (mark_complete) {
    engine->MarkComplete({});
  }
  PrintLine("READY " + std::to_string(desired.size()));

  int sig = 0;
  sigwait(&stop_signals, &sig);
  engine->Stop(/*revoke=*/false);
  PrintLine("STOPPED");
  return 0;
}
