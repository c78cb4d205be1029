// File: controller/kube/credentials.h
//
// The bearer token of every API request, from a ClusterConfig: a static token, a token file
// (re-read when its content changes: the kubelet rotates projected service-account tokens, and
// a controller must pick the new one up without a restart), or an exec credential plugin
// (client.authentication.k8s.io/v1, run as kubectl runs it; its answer is cached until its
// expirationTimestamp, or until Invalidate() after a 401). A plugin that answers with a client
// certificate instead of a token is an error saying that only tokens are supported.
//
// Flow: the REST client calls Token() before each request and Invalidate() when the server
// answered 401; the next Token() then re-reads the file or re-runs the plugin.
// Thread-safety: every method may be called from any thread; a plugin runs at most once at a time
// (single flight), and never on a pplx thread's behalf without a deadline.
// Ownership: NewCredentials copies what it needs from the config.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "controller/common/clock.h"
#include "controller/kube/config.h"

namespace registrar::kube {

class Credentials {
 public:
  virtual ~Credentials() = default;
  // The current bearer token; empty when the config authenticates by client certificate only.
  // An error names the file or plugin that failed.
  virtual absl::StatusOr<std::string> Token() = 0;
  // The server refused the last token (401): forget any cached one.
  virtual void Invalidate() = 0;
};

std::unique_ptr<Credentials> NewCredentials(const ClusterConfig& config, Clock& clock);

}  // namespace registrar::kube
