// File: tests/kube-test-server/object_rules.h
//
// The server-owned parts of an object's life, as pure functions (KUBE-API.md §2.3, §2.7, §2.8):
// what a create fills in (uid, creationTimestamp, generation 1, no status for a status
// subresource), what a main-endpoint update keeps from the stored object (identity, timestamps,
// status) and when it bumps generation (anything outside metadata changed), what a /status update
// takes (only .status), the finalizer rule for terminating objects, and name validation.
//
// Thread-safety: pure functions (UIDs come from a thread-safe random source).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/kube-test-server/api_error.h"
#include "tests/kube-test-server/resource_registry.h"

namespace registrar::kts {

std::string NowTimestamp();  // RFC3339 UTC, second precision
std::string NewUid();

// Checks apiVersion/kind/name/namespace of a request body against the URL; fills namespace.
// `url_name` is empty for a create on the collection.
std::optional<ApiError> CheckIdentity(const ResourceType& type, const std::string& url_ns,
                                      const std::string& url_name, nlohmann::json& body);

// The stored form of a new object (uid, timestamps, generation, status rules, generateName).
std::optional<ApiError> PrepareCreate(const ResourceType& type, nlohmann::json& object);

// The object a main-endpoint update stores, given the stored `old` and the request's `incoming`.
nlohmann::json ApplyMainUpdate(const ResourceType& type, const nlohmann::json& old,
                               const nlohmann::json& incoming);
// The object a /status update stores: `old` with only .status taken from `incoming`.
nlohmann::json ApplyStatusUpdate(const nlohmann::json& old, const nlohmann::json& incoming);

// F5: a terminating object may lose finalizers but gain none.
std::optional<ApiError> CheckFinalizers(const ResourceType& type, const nlohmann::json& old,
                                        const nlohmann::json& updated);

bool IsTerminating(const nlohmann::json& object);
bool HasFinalizers(const nlohmann::json& object);

}  // namespace registrar::kts
