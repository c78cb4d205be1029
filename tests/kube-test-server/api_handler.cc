#include "tests/kube-test-server/api_handler.h"

#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "tests/kube-test-server/object_rules.h"
#include "tests/kube-test-server/patch.h"
#include "tests/kube-test-server/schema_check.h"
#include "tests/kube-test-server/selectors.h"
#include "tests/kube-test-server/table.h"

namespace registrar::kts {
namespace {

using json = nlohmann::json;

constexpr int kMaxWriteAttempts = 20;
constexpr const char* kTableContentType = "application/json;as=Table;v=v1;g=meta.k8s.io";

std::string RvString(const json& obj) {
  if (!obj.contains("metadata") || !obj["metadata"].contains("resourceVersion")) {
    return "";
  }
  const json& rv = obj["metadata"]["resourceVersion"];
  return rv.is_string() ? rv.get<std::string>() : (rv.is_null() ? "" : rv.dump());
}

json WithRv(json obj, int64_t rv) {
  obj["metadata"]["resourceVersion"] = std::to_string(rv);
  return obj;
}

std::string EncodeContinue(int64_t rv, const std::string& start) {
  return absl::WebSafeBase64Escape(json{{"rv", rv}, {"start", start}}.dump());
}

bool DecodeContinue(const std::string& token, int64_t* rv, std::string* start) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw)) {
    return false;
  }
  json j = json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.contains("rv") || !j.contains("start")) {
    return false;
  }
  *rv = j["rv"].get<int64_t>();
  *start = j["start"].get<std::string>();
  return true;
}

// Query parameters whose values are checked (W8): bad values give 400, never silence.
std::optional<ApiError> CheckQuery(const HttpRequest& req) {
  auto int_param = [&](const char* name) -> std::optional<ApiError> {
    if (!req.HasQuery(name)) {
      return std::nullopt;
    }
    int64_t v;
    if (!absl::SimpleAtoi(req.Query(name), &v) || v < 0) {
      return BadRequest(std::string("invalid value for ") + name + ": \"" + req.Query(name) +
                        "\" (a non-negative integer is required)");
    }
    return std::nullopt;
  };
  for (const char* p : {"limit", "timeoutSeconds"}) {
    if (auto e = int_param(p)) {
      return e;
    }
  }
  auto one_of = [&](const char* name,
                    std::initializer_list<const char*> allowed) -> std::optional<ApiError> {
    if (!req.HasQuery(name)) {
      return std::nullopt;
    }
    std::string v = req.Query(name);
    std::string list;
    for (const char* a : allowed) {
      if (v == a) {
        return std::nullopt;
      }
      list += std::string(list.empty() ? "" : ", ") + "\"" + a + "\"";
    }
    return BadRequest(std::string("invalid value for ") + name + ": \"" + v +
                      "\"; supported values: " + list);
  };
  if (auto e = one_of("watch", {"true", "1", "false", "0", ""})) {
    return e;
  }
  if (auto e = one_of("allowWatchBookmarks", {"true", "1", "false", "0", ""})) {
    return e;
  }
  if (auto e = one_of("resourceVersionMatch", {"", "NotOlderThan", "Exact"})) {
    return e;
  }
  if (auto e = one_of("fieldValidation", {"", "Ignore", "Warn", "Strict"})) {
    return e;
  }
  if (auto e = one_of("dryRun", {"", "All"})) {
    return e;
  }
  if (auto e = one_of("force", {"true", "false", "1", "0", ""})) {
    return e;
  }
  if (auto e = one_of("propagationPolicy", {"", "Background", "Foreground", "Orphan"})) {
    return e;
  }
  if (req.Query("sendInitialEvents") == "true") {
    return BadRequest("sendInitialEvents is not supported by kube-test-server; list, then watch");
  }
  if (req.Query("resourceVersionMatch") != "" && req.Query("resourceVersion") == "") {
    return BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
  }
  return std::nullopt;
}

bool IsTrue(const std::string& v) { return v == "true" || v == "1"; }

}  // namespace

ApiError ApiHandler::FromStorage(const absl::Status& st, const ApiTarget& t,
                                 const std::string& name) {
  switch (st.code()) {
    case absl::StatusCode::kNotFound:
      return NotFound(t.type.plural, t.type.group, name);
    case absl::StatusCode::kAlreadyExists:
      return AlreadyExists(t.type.plural, t.type.group, name);
    case absl::StatusCode::kAborted:
      return Conflict(t.type.plural, t.type.group, name);
    case absl::StatusCode::kOutOfRange:
      return Expired("too old resource version: " + std::string(st.message()));
    default:
      return InternalError("etcd: " + std::string(st.message()));
  }
}

absl::Status ApiHandler::Bootstrap() {
  ResourceType ns_type = *registry_.Find("", "v1", "namespaces");
  for (const char* name : {"default", "kube-system", "kube-public"}) {
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
    PrepareCreate(ns_type, ns);
    absl::Status last;
    for (int attempt = 0; attempt < 50; ++attempt) {
      auto rv = storage_.Create(ns_type.Key("", name), ns);
      last = rv.status();
      if (rv.ok() || rv.status().code() == absl::StatusCode::kAlreadyExists) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!last.ok() && last.code() != absl::StatusCode::kAlreadyExists) {
      return last;
    }
  }
  ResourceType crd_type = *registry_.Find("apiextensions.k8s.io", "v1", "customresourcedefinitions");
  auto page = storage_.Range(crd_type.CollectionPrefix(),
                             etcd::PrefixRangeEnd(crd_type.CollectionPrefix()), 0, 0);
  if (!page.ok()) {
    return page.status();
  }
  for (const StoredObject& crd : page->items) {
    if (ResourceRegistry::ValidateCrd(crd.object).empty()) {
      registry_.RegisterCrd(crd.object);
    }
  }
  return absl::OkStatus();
}

void ApiHandler::Handle(const HttpRequest& req, const ApiTarget& t, ResponseWriter& out) {
  Outcome result;
  std::string accept = req.Header("accept");
  if (!accept.empty() && accept.find("json") == std::string::npos &&
      accept.find("*/*") == std::string::npos) {
    result = Fail(ApiError{.code = 406, .reason = "NotAcceptable",
                           .message = "only the following media types are accepted: "
                                      "application/json, application/json;as=Table;v=v1;g=meta.k8s.io"});
  } else if (auto e = CheckQuery(req)) {
    result = Fail(*e);
  } else if (!t.subresource.empty() && (t.subresource != "status" || !t.type.status_subresource)) {
    result = Fail(NotFound(t.type.plural + "/" + t.subresource, t.type.group, t.name));
  } else if (t.name.empty()) {
    if (req.method == "GET" && IsTrue(req.Query("watch"))) {
      Watch(req, t, out);
      return;
    }
    if (req.method == "GET") {
      result = List(req, t);
    } else if (req.method == "POST") {
      result = Create(req, t);
    } else {
      result = Fail(MethodNotAllowed(req.method + " is not supported on the collection " + req.path));
    }
  } else if (req.method == "GET") {
    result = Get(t);
  } else if (req.method == "PUT") {
    result = Put(req, t);
  } else if (req.method == "PATCH") {
    result = Patch(req, t);
  } else if (req.method == "DELETE" && t.subresource.empty()) {
    result = Delete(req, t);
  } else {
    result = Fail(MethodNotAllowed(req.method + " is not supported on " + req.path));
  }

  if (result.error) {
    HttpHeaders headers = result.headers;
    if (result.error->retry_after_seconds > 0) {
      headers.push_back({"Retry-After", std::to_string(result.error->retry_after_seconds)});
    }
    out.Send(result.error->code, "application/json", result.error->ToStatusJson().dump(), headers);
    return;
  }
  if (req.method == "GET" && WantsTable(accept) && result.body.value("kind", "") != "Status") {
    std::vector<json> objects;
    json meta = {{"resourceVersion", ""}};
    if (result.body.contains("items")) {
      objects = result.body["items"].get<std::vector<json>>();
      meta = result.body["metadata"];
    } else {
      objects.push_back(result.body);
      meta["resourceVersion"] = RvString(result.body);
    }
    out.Send(result.code, kTableContentType, RenderTable(t.type, objects, meta).dump(),
             result.headers);
    return;
  }
  out.Send(result.code, "application/json", result.body.dump(), result.headers);
}

ApiHandler::Outcome ApiHandler::List(const HttpRequest& req, const ApiTarget& t) {
  auto labels = LabelSelector::Parse(req.Query("labelSelector"));
  if (!labels.ok()) {
    return Fail(BadRequest(std::string(labels.status().message())));
  }
  auto fields = FieldSelector::Parse(req.Query("fieldSelector"), t.type.kind);
  if (!fields.ok()) {
    return Fail(BadRequest(std::string(fields.status().message())));
  }
  int64_t limit = 0;
  if (req.HasQuery("limit") && !absl::SimpleAtoi(req.Query("limit"), &limit)) {
    limit = 0;
  }

  std::string prefix = t.type.NamespacePrefix(t.ns);
  std::string start = prefix;
  std::string end = etcd::PrefixRangeEnd(prefix);
  int64_t revision = 0;
  bool continuing = false;
  if (!req.Query("continue").empty()) {
    if (!DecodeContinue(req.Query("continue"), &revision, &start) ||
        start.rfind(prefix, 0) != 0) {
      return Fail(BadRequest("continue key is not valid: \"" + req.Query("continue") + "\""));
    }
    continuing = true;
  } else if (req.Query("resourceVersionMatch") == "Exact") {
    if (!absl::SimpleAtoi(req.Query("resourceVersion"), &revision) || revision <= 0) {
      return Fail(BadRequest("resourceVersion must be a positive integer for Exact"));
    }
  } else if (!req.Query("resourceVersion").empty()) {
    int64_t rv;
    if (!absl::SimpleAtoi(req.Query("resourceVersion"), &rv) || rv < 0) {
      return Fail(BadRequest("invalid resourceVersion: \"" + req.Query("resourceVersion") + "\""));
    }
    // L3/L4: never serve state older than asked for; wait up to 3 s, then 504 as the real server.
    absl::Time give_up = absl::Now() + absl::Seconds(3);
    for (;;) {
      auto current = storage_.CurrentRevision();
      if (!current.ok()) {
        return Fail(FromStorage(current.status(), t, ""));
      }
      if (*current >= rv) {
        break;
      }
      if (absl::Now() >= give_up) {
        ApiError e = FromCode(504, "Too large resource version: " + std::to_string(rv) +
                                       ", current: " + std::to_string(*current), 1);
        e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
        return Fail(e);
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
  }

  json items = json::array();
  std::string next_start;
  const int64_t batch = limit > 0 ? std::max<int64_t>(limit + 1, 100) : 0;
  for (;;) {
    auto page = storage_.Range(start, end, revision, batch);
    if (!page.ok()) {
      if (page.status().code() == absl::StatusCode::kOutOfRange) {
        if (continuing) {
          return Fail(Expired(
              "The provided continue parameter is too old to display a consistent list result. "
              "You can start a new list without the continue parameter, or use the continue token "
              "in this response to retrieve the remainder of the results. Continuing with the "
              "provided token results in an inconsistent list - objects that were created, "
              "modified, or deleted between the time the first chunk was returned and now may "
              "show up in the list."));
        }
        return Fail(Expired("too old resource version: " + req.Query("resourceVersion")));
      }
      return Fail(FromStorage(page.status(), t, ""));
    }
    revision = page->revision;
    for (size_t i = 0; i < page->items.size(); ++i) {
      const StoredObject& so = page->items[i];
      if (!labels->Matches(so.object) || !fields->Matches(so.object)) {
        continue;
      }
      if (limit > 0 && static_cast<int64_t>(items.size()) == limit) {
        next_start = so.key;
        break;
      }
      items.push_back(so.object);
    }
    if (!next_start.empty() || !page->more || page->items.empty()) {
      break;
    }
    start = page->items.back().key + std::string(1, '\0');
  }
  json meta = {{"resourceVersion", std::to_string(revision)}};
  if (!next_start.empty()) {
    meta["continue"] = EncodeContinue(revision, next_start);
  }
  return Outcome{.body = {{"kind", t.type.list_kind},
                          {"apiVersion", t.type.ApiVersion()},
                          {"metadata", meta},
                          {"items", items}}};
}

void ApiHandler::Watch(const HttpRequest& req, const ApiTarget& t, ResponseWriter& out) {
  auto fail = [&](const ApiError& e) {
    HttpHeaders h;
    if (e.retry_after_seconds > 0) {
      h.push_back({"Retry-After", std::to_string(e.retry_after_seconds)});
    }
    out.Send(e.code, "application/json", e.ToStatusJson().dump(), h);
  };
  if (controls_.WatchesRefused()) {
    fail(FromCode(503, "watches are refused for now (kube-test-server /_test/close-watches)", 1));
    return;
  }
  auto labels = LabelSelector::Parse(req.Query("labelSelector"));
  if (!labels.ok()) {
    return fail(BadRequest(std::string(labels.status().message())));
  }
  auto fields = FieldSelector::Parse(req.Query("fieldSelector"), t.type.kind);
  if (!fields.ok()) {
    return fail(BadRequest(std::string(fields.status().message())));
  }

  WatchSpec spec;
  spec.key_prefix = t.type.NamespacePrefix(t.ns);
  bool table = WantsTable(req.Header("accept"));
  ResourceType type = t.type;
  spec.content_type = table ? kTableContentType : "application/json";
  spec.encode = [type, table](const std::string& event, const json& obj) {
    json o = obj;
    if (event == "BOOKMARK") {
      o = {{"kind", type.kind}, {"apiVersion", type.ApiVersion()}, {"metadata", obj["metadata"]}};
    } else if (table) {
      o = RenderTable(type, {obj}, {{"resourceVersion", RvString(obj)}});
    }
    return json{{"type", event}, {"object", o}}.dump();
  };
  LabelSelector ls = *labels;
  FieldSelector fs = *fields;
  spec.matches = [ls, fs](const json& obj) { return ls.Matches(obj) && fs.Matches(obj); };
  spec.bookmarks = IsTrue(req.Query("allowWatchBookmarks"));
  spec.bookmark_interval = options_.bookmark_interval;
  spec.max_queue = options_.watch_queue_limit;
  int64_t timeout = 0;
  spec.timeout = absl::SimpleAtoi(req.Query("timeoutSeconds"), &timeout) && timeout > 0
                     ? std::chrono::seconds(timeout)
                     : std::chrono::duration_cast<std::chrono::seconds>(options_.default_watch_timeout);

  std::string rv_text = req.Query("resourceVersion");
  if (rv_text.empty() || rv_text == "0") {
    auto page = storage_.Range(spec.key_prefix, etcd::PrefixRangeEnd(spec.key_prefix), 0, 0);
    if (!page.ok()) {
      return fail(FromStorage(page.status(), t, ""));
    }
    for (StoredObject& so : page->items) {
      spec.initial.push_back(std::move(so.object));
    }
    spec.start_revision = page->revision + 1;
  } else {
    int64_t rv;
    if (!absl::SimpleAtoi(rv_text, &rv) || rv < 0) {
      return fail(BadRequest("invalid resourceVersion: \"" + rv_text + "\""));
    }
    if (rv < controls_.MinWatchRv()) {
      if (out.BeginStream(200, spec.content_type)) {
        out.WriteChunk(ExpiredEventLine("too old resource version: " + rv_text + " (" +
                                        std::to_string(controls_.MinWatchRv()) + ")") + "\n");
        out.EndStream();
      }
      return;
    }
    spec.start_revision = rv + 1;
  }
  RunWatch(storage_.client(), hub_, std::move(spec), out);
}

ApiHandler::Outcome ApiHandler::Get(const ApiTarget& t) {
  auto so = storage_.Get(t.type.Key(t.ns, t.name));
  if (!so.ok()) {
    return Fail(FromStorage(so.status(), t, t.name));
  }
  return Outcome{.body = so->object};
}

std::optional<ApiError> ApiHandler::CheckNamespace(const ApiTarget& t) {
  if (!t.type.namespaced) {
    return std::nullopt;
  }
  auto ns = storage_.Get("/registry/core/namespaces/" + t.ns);
  if (ns.ok()) {
    if (IsTerminating(ns->object)) {
      return ApiError{.code = 403, .reason = "Forbidden",
                      .message = "unable to create new content in namespace " + t.ns +
                                 " because it is being terminated"};
    }
    return std::nullopt;
  }
  if (ns.status().code() == absl::StatusCode::kNotFound) {
    return NotFound("namespaces", "", t.ns);
  }
  return InternalError("etcd: " + std::string(ns.status().message()));
}

std::optional<ApiError> ApiHandler::CheckUnknownFields(const HttpRequest& req, const ApiTarget& t,
                                                       json incoming, HttpHeaders* headers) {
  if (!t.type.custom) {
    return std::nullopt;
  }
  std::string mode = req.Query("fieldValidation");
  if (mode.empty() || mode == "Ignore") {
    return std::nullopt;
  }
  SchemaResult r = CheckAgainstSchema(t.type, incoming);
  if (r.unknown_fields.empty()) {
    return std::nullopt;
  }
  if (mode == "Warn") {
    for (const std::string& f : r.unknown_fields) {
      headers->push_back({"Warning", "299 - \"unknown field \\\"" + f + "\\\"\""});
    }
    return std::nullopt;
  }
  std::string msg = "strict decoding error: ";
  for (size_t i = 0; i < r.unknown_fields.size(); ++i) {
    msg += (i ? ", " : "") + std::string("unknown field \"") + r.unknown_fields[i] + "\"";
  }
  return BadRequest(msg);
}

std::optional<ApiError> ApiHandler::Validate(const ApiTarget& t, json& object) {
  std::string name = object["metadata"].value("name", "");
  if (t.type.custom) {
    SchemaResult r = CheckAgainstSchema(t.type, object);
    if (!r.causes.empty()) {
      return Invalid(t.type.kind, t.type.plural, t.type.group, name, r.causes);
    }
  }
  if (t.type.kind == "CustomResourceDefinition") {
    auto causes = ResourceRegistry::ValidateCrd(object);
    if (!causes.empty()) {
      return Invalid(t.type.kind, t.type.plural, t.type.group, name, causes);
    }
  }
  return std::nullopt;
}

void ApiHandler::AfterWrite(const ApiTarget& t, const json& object, bool deleted) {
  if (t.type.kind != "CustomResourceDefinition") {
    return;
  }
  std::string name = object["metadata"].value("name", "");
  if (deleted) {
    for (const ResourceType& rt : registry_.FindByCrd(name)) {
      (void)storage_.DeletePrefix(rt.CollectionPrefix());
    }
    registry_.UnregisterCrd(name);
  } else {
    registry_.RegisterCrd(object);
  }
}

ApiHandler::Outcome ApiHandler::Create(const HttpRequest& req, const ApiTarget& t) {
  if (!t.subresource.empty()) {
    return Fail(MethodNotAllowed("POST is not supported on /status"));
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    return Fail(BadRequest("the request body is not valid JSON"));
  }
  if (auto e = CheckIdentity(t.type, t.ns, "", body)) {
    return Fail(*e);
  }
  return CreateObject(req, t, std::move(body));
}

ApiHandler::Outcome ApiHandler::CreateObject(const HttpRequest& req, const ApiTarget& t,
                                             json object) {
  Outcome out{.code = 201};
  if (auto e = CheckUnknownFields(req, t, object, &out.headers)) {
    return Fail(*e);
  }
  if (auto e = PrepareCreate(t.type, object)) {
    return Fail(*e);
  }
  if (auto e = Validate(t, object)) {
    return Fail(*e);
  }
  if (t.type.kind == "CustomResourceDefinition") {
    std::string storage_version;
    for (const json& v : object["spec"]["versions"]) {
      if (v.value("storage", false)) {
        storage_version = v["name"];
      }
    }
    std::string now = NowTimestamp();
    object["status"] = {
        {"acceptedNames", object["spec"]["names"]},
        {"storedVersions", {storage_version}},
        {"conditions",
         {{{"type", "NamesAccepted"}, {"status", "True"}, {"reason", "NoConflicts"},
           {"message", "no conflicts found"}, {"lastTransitionTime", now}},
          {{"type", "Established"}, {"status", "True"}, {"reason", "InitialNamesAccepted"},
           {"message", "the initial names have been accepted"}, {"lastTransitionTime", now}}}}};
  }
  ApiTarget named = t;
  named.name = object["metadata"]["name"];
  if (auto e = CheckNamespace(named)) {
    return Fail(*e);
  }
  if (req.Query("dryRun") == "All") {
    out.body = object;
    return out;
  }
  auto rv = storage_.Create(t.type.Key(t.ns, named.name), object);
  if (!rv.ok()) {
    return Fail(FromStorage(rv.status(), t, named.name));
  }
  out.body = WithRv(std::move(object), *rv);
  AfterWrite(t, out.body, false);
  return out;
}

ApiHandler::Outcome ApiHandler::UpdateLoop(const HttpRequest& req, const ApiTarget& t,
                                           const Mutate& mutate) {
  const std::string key = t.type.Key(t.ns, t.name);
  const bool status = t.subresource == "status";
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    auto old = storage_.Get(key);
    if (!old.ok()) {
      return Fail(FromStorage(old.status(), t, t.name));
    }
    json incoming;
    if (auto e = mutate(*old, &incoming)) {
      return Fail(*e);
    }
    std::string rv_in = RvString(incoming);
    if (!rv_in.empty() && rv_in != std::to_string(old->rv)) {
      return Fail(Conflict(t.type.plural, t.type.group, t.name));
    }
    Outcome out;
    if (auto e = CheckUnknownFields(req, t, incoming, &out.headers)) {
      return Fail(*e);
    }
    if (t.type.custom && !status) {
      // Prune and default the request before comparing specs, so defaults do not bump generation.
      CheckAgainstSchema(t.type, incoming);
    }
    json updated = status ? ApplyStatusUpdate(old->object, incoming)
                          : ApplyMainUpdate(t.type, old->object, incoming);
    updated["metadata"].erase("resourceVersion");
    if (auto e = CheckFinalizers(t.type, old->object, updated)) {
      return Fail(*e);
    }
    if (auto e = Validate(t, updated)) {
      return Fail(*e);
    }
    if (EncodeForStorage(updated) == EncodeForStorage(old->object)) {
      out.body = old->object;  // R5: no write, no event, same resourceVersion
      return out;
    }
    if (req.Query("dryRun") == "All") {
      out.body = WithRv(updated, old->rv);
      return out;
    }
    if (IsTerminating(updated) && !HasFinalizers(updated)) {
      auto rv = storage_.Delete(key, old->rv);
      if (rv.ok()) {
        out.body = WithRv(updated, *rv);
        AfterWrite(t, updated, true);
        return out;
      }
      if (rv.status().code() != absl::StatusCode::kAborted) {
        return Fail(FromStorage(rv.status(), t, t.name));
      }
      continue;
    }
    auto rv = storage_.Update(key, updated, old->rv);
    if (rv.ok()) {
      out.body = WithRv(std::move(updated), *rv);
      AfterWrite(t, out.body, false);
      return out;
    }
    if (rv.status().code() != absl::StatusCode::kAborted) {
      return Fail(FromStorage(rv.status(), t, t.name));
    }
    if (!rv_in.empty()) {
      return Fail(Conflict(t.type.plural, t.type.group, t.name));
    }
  }
  return Fail(Conflict(t.type.plural, t.type.group, t.name));
}

ApiHandler::Outcome ApiHandler::Put(const HttpRequest& req, const ApiTarget& t) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) {
    return Fail(BadRequest("the request body is not valid JSON"));
  }
  if (auto e = CheckIdentity(t.type, t.ns, t.name, body)) {
    return Fail(*e);
  }
  if (t.type.custom && RvString(body).empty()) {
    return Fail(Invalid(t.type.kind, t.type.plural, t.type.group, t.name,
                        {{"FieldValueInvalid", "Invalid value: 0x0: must be specified for an update",
                          "metadata.resourceVersion"}}));
  }
  return UpdateLoop(req, t, [&](const StoredObject&, json* incoming) -> std::optional<ApiError> {
    *incoming = body;
    return std::nullopt;
  });
}

ApiHandler::Outcome ApiHandler::Patch(const HttpRequest& req, const ApiTarget& t) {
  PatchType type = PatchTypeFromContentType(req.Header("content-type"));
  const std::string accepted =
      "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
  if (type == PatchType::kUnsupported || (type == PatchType::kStrategic && t.type.custom)) {
    return Fail(UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: " +
        accepted + (t.type.custom ? "" : ", application/strategic-merge-patch+json")));
  }
  if (type != PatchType::kApply) {
    return UpdateLoop(req, t, [&](const StoredObject& old, json* incoming) -> std::optional<ApiError> {
      auto patched = ApplyPatch(type, old.object, req.body);
      if (!patched.ok()) {
        if (patched.status().code() == absl::StatusCode::kFailedPrecondition) {
          return ApiError{.code = 422, .reason = "Invalid",
                          .message = "the server rejected our request due to an error in our "
                                     "request: " + std::string(patched.status().message()),
                          .name = t.name, .group = t.type.group, .kind = t.type.plural};
        }
        return BadRequest(std::string(patched.status().message()));
      }
      if (!patched->is_object()) {
        return BadRequest("the patched object is not a JSON object");
      }
      *incoming = std::move(*patched);
      return CheckIdentity(t.type, t.ns, t.name, *incoming);
    });
  }
  // Server-side apply: create-or-update from a JSON body.
  if (req.Query("fieldManager").empty()) {
    return Fail(BadRequest("PATCH, application/apply-patch+yaml requires the fieldManager "
                           "parameter (fieldManager is required for apply patch)"));
  }
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return Fail(BadRequest("apply patch body must be a JSON object (kube-test-server does not "
                           "parse YAML apply bodies)"));
  }
  if (auto e = CheckIdentity(t.type, t.ns, t.name, body)) {
    return Fail(*e);
  }
  auto existing = storage_.Get(t.type.Key(t.ns, t.name));
  if (!existing.ok() && existing.status().code() == absl::StatusCode::kNotFound) {
    if (!t.subresource.empty()) {
      return Fail(NotFound(t.type.plural, t.type.group, t.name));
    }
    Outcome created = CreateObject(req, t, body);
    if (!created.error || created.error->reason != "AlreadyExists") {
      return created;
    }
  }
  return UpdateLoop(req, t, [&](const StoredObject& old, json* incoming) -> std::optional<ApiError> {
    *incoming = old.object;
    json patch = body;
    patch["metadata"].erase("resourceVersion");
    incoming->merge_patch(patch);
    if (RvString(body) != "") {
      (*incoming)["metadata"]["resourceVersion"] = RvString(body);
    }
    return std::nullopt;
  });
}

ApiHandler::Outcome ApiHandler::Delete(const HttpRequest& req, const ApiTarget& t) {
  json opts = json::object();
  if (!req.body.empty()) {
    opts = json::parse(req.body, nullptr, false);
    if (opts.is_discarded() || !opts.is_object()) {
      return Fail(BadRequest("the DeleteOptions body is not a JSON object"));
    }
  }
  std::string policy = opts.value("propagationPolicy", req.Query("propagationPolicy"));
  if (!policy.empty() && policy != "Background" && policy != "Foreground" && policy != "Orphan") {
    return Fail(BadRequest("invalid propagationPolicy \"" + policy + "\""));
  }
  bool dry_run = req.Query("dryRun") == "All" ||
                 (opts.contains("dryRun") && opts["dryRun"].is_array() && !opts["dryRun"].empty());
  const std::string key = t.type.Key(t.ns, t.name);
  for (int attempt = 0; attempt < kMaxWriteAttempts; ++attempt) {
    auto old = storage_.Get(key);
    if (!old.ok()) {
      return Fail(FromStorage(old.status(), t, t.name));
    }
    const json& meta = old->object["metadata"];
    if (opts.contains("preconditions") && opts["preconditions"].is_object()) {
      const json& pre = opts["preconditions"];
      if (pre.contains("uid") && pre["uid"].is_string() && pre["uid"] != meta.value("uid", "")) {
        ApiError e = Conflict(t.type.plural, t.type.group, t.name);
        e.message = "Precondition failed: UID in precondition: " + pre["uid"].get<std::string>() +
                    ", UID in object meta: " + meta.value("uid", "");
        return Fail(e);
      }
      if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string() &&
          pre["resourceVersion"] != std::to_string(old->rv)) {
        ApiError e = Conflict(t.type.plural, t.type.group, t.name);
        e.message = "Precondition failed: ResourceVersion in precondition: " +
                    pre["resourceVersion"].get<std::string>() +
                    ", ResourceVersion in object meta: " + std::to_string(old->rv);
        return Fail(e);
      }
    }
    if (HasFinalizers(old->object)) {
      if (IsTerminating(old->object)) {
        return Outcome{.body = old->object};  // F3
      }
      json updated = old->object;
      updated["metadata"]["deletionTimestamp"] = NowTimestamp();
      updated["metadata"]["deletionGracePeriodSeconds"] = 0;
      if (t.type.has_generation) {
        updated["metadata"]["generation"] = meta.value("generation", 0) + 1;  // G4
      }
      if (dry_run) {
        return Outcome{.body = updated};
      }
      auto rv = storage_.Update(key, updated, old->rv);
      if (rv.ok()) {
        return Outcome{.body = WithRv(std::move(updated), *rv)};
      }
      if (rv.status().code() != absl::StatusCode::kAborted) {
        return Fail(FromStorage(rv.status(), t, t.name));
      }
      continue;
    }
    json status = {{"kind", "Status"},
                   {"apiVersion", "v1"},
                   {"metadata", json::object()},
                   {"status", "Success"},
                   {"details",
                    {{"name", t.name}, {"group", t.type.group}, {"kind", t.type.plural},
                     {"uid", meta.value("uid", "")}}}};
    if (dry_run) {
      return Outcome{.body = status};
    }
    auto rv = storage_.Delete(key, old->rv);
    if (rv.ok()) {
      AfterWrite(t, old->object, true);
      return Outcome{.body = status};
    }
    if (rv.status().code() != absl::StatusCode::kAborted) {
      return Fail(FromStorage(rv.status(), t, t.name));
    }
  }
  return Fail(Conflict(t.type.plural, t.type.group, t.name));
}

}  // namespace registrar::kts
