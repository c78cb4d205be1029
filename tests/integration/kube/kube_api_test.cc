// What the real kube-apiserver 1.34 does over HTTP for our CRD (the KUBE-API.md items the
// controller relies on): resourceVersion, generation, status subresource, finalizers, errors,
// schema, selectors, pagination, tables, SSA, discovery. Watches are in kube_watch_test.cc.
#include <chrono>
#include <regex>
#include <set>
#include <thread>

#include "gtest/gtest.h"
#include "tests/integration/kube/kube_api_harness.h"
#include "tests/testing/wait.h"

namespace registrar::kube_testing {
namespace {

using json = nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = Backend::Start().release();
    ASSERT_NE(server_, nullptr);
    ASSERT_TRUE(EnsureCrd(server_->http()));
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ns_ = "t" + std::to_string(++counter_);
    ASSERT_TRUE(CreateNamespace(http(), ns_));
  }

  Http http() const { return server_->http(); }
  std::string Coll() const {
    return "/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/serviceregistrations";
  }
  std::string Item(const std::string& name) const { return Coll() + "/" + name; }
  static json Sreg(const std::string& name, json extra_meta = json::object()) {
    json meta = {{"name", name}};
    meta.update(extra_meta);
    return {{"apiVersion", "registrar.dev/v1alpha1"},
            {"kind", "ServiceRegistration"},
            {"metadata", meta},
            {"spec", {{"key", "/services/" + name}, {"value", "10.0.0.1:8080"}}}};
  }
  json Create(const std::string& name, json extra_meta = json::object()) {
    HttpResponse r = http().Post(Coll(), Sreg(name, extra_meta));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json();
  }
  static int64_t Rv(const json& obj) {
    return std::stoll(obj["metadata"]["resourceVersion"].get<std::string>());
  }

  static Backend* server_;
  static int counter_;
  std::string ns_;
};
Backend* ApiTest::server_ = nullptr;
int ApiTest::counter_ = 0;

constexpr const char* kMerge = "application/merge-patch+json";

// The real server publishes CRDs (Established, OpenAPI, serving, cleanup after deletion)
// asynchronously: up to 30 s.
template <typename F>
bool Eventually(F ready) {
  return registrar::testing::WaitFor(std::move(ready), std::chrono::seconds(30));
}
constexpr const char* kJsonPatch = "application/json-patch+json";

TEST_F(ApiTest, DiscoveryListsTheCustomResourceWithShortNameAndStatus) {
  HttpResponse agg = http().Do("GET", "/apis", "",
                               {.accept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"});
  ASSERT_EQ(agg.status, 200);
  EXPECT_EQ(agg.Header("content-type"),
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
  bool found = false;
  json agg_json = agg.json();
  for (const json& g : agg_json["items"]) {
    if (g["metadata"]["name"] != "registrar.dev") continue;
    const json& r = g["versions"][0]["resources"][0];
    EXPECT_EQ(r["resource"], "serviceregistrations");
    EXPECT_EQ(r["scope"], "Namespaced");
    EXPECT_EQ(r["shortNames"], json({"sreg"}));
    EXPECT_EQ(r["subresources"][0]["subresource"], "status");
    found = true;
  }
  EXPECT_TRUE(found) << agg.body;
  json legacy = http().Get("/apis/registrar.dev/v1alpha1").json();
  EXPECT_EQ(legacy["kind"], "APIResourceList");
  EXPECT_EQ(legacy["resources"][1]["name"], "serviceregistrations/status");
  json core = http().Get("/api/v1").json();
  std::set<std::string> names;
  for (const json& r : core["resources"]) names.insert(r["name"]);
  for (const char* n : {"namespaces", "secrets", "events", "services"}) EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(http().Get("/apis/discovery.k8s.io/v1").status, 200);
  EXPECT_EQ(http().Get("/apis/coordination.k8s.io/v1").status, 200);
  json version = http().Get("/version").json();
  EXPECT_EQ(version["major"], "1");
  EXPECT_EQ(version["minor"], "34");
}

TEST_F(ApiTest, OpenApiAdvertisesFieldValidationOnPatchWithoutStrategicMerge) {
  json root;
  ASSERT_TRUE(Eventually([&] {  // the real server publishes a new CRD's OpenAPI later
    root = http().Get("/openapi/v3").json();
    return root["paths"].contains("apis/registrar.dev/v1alpha1");
  })) << root.dump();
  std::string url = root["paths"]["apis/registrar.dev/v1alpha1"]["serverRelativeURL"];
  json doc = http().Get(url).json();
  const json& patch = doc["paths"]["/apis/registrar.dev/v1alpha1/namespaces/{namespace}/serviceregistrations/{name}"]["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "ServiceRegistration");
  bool has_fv = false;
  for (const json& p : patch["parameters"]) has_fv |= p["name"] == "fieldValidation";
  EXPECT_TRUE(has_fv);
  EXPECT_FALSE(patch["requestBody"]["content"].contains("application/strategic-merge-patch+json"));
  EXPECT_TRUE(patch["requestBody"]["content"].contains("application/apply-patch+yaml"));
  EXPECT_EQ(http().Get("/openapi/v2").status, 200);
}

TEST_F(ApiTest, CreateSetsServerFieldsAndDropsStatus) {
  json body = Sreg("a");
  body["status"] = {{"phase", "Registered"}};
  body["metadata"]["generation"] = 7;
  HttpResponse r = http().Post(Coll(), body);
  ASSERT_EQ(r.status, 201) << r.body;
  json obj = r.json();
  EXPECT_EQ(obj["metadata"]["generation"], 1);
  EXPECT_TRUE(obj["metadata"]["generation"].is_number_integer());
  EXPECT_TRUE(obj["metadata"]["resourceVersion"].is_string());
  EXPECT_TRUE(std::regex_match(obj["metadata"]["uid"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")));
  EXPECT_TRUE(std::regex_match(obj["metadata"]["creationTimestamp"].get<std::string>(),
                               std::regex("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}Z")));
  EXPECT_EQ(obj["metadata"]["namespace"], ns_);
  EXPECT_FALSE(obj.contains("status"));
  EXPECT_EQ(obj["spec"]["ttlSeconds"], 10);  // schema default
  EXPECT_EQ(obj["spec"]["paused"], false);
  json got = http().Get(Item("a")).json();
  EXPECT_EQ(got, obj);
  // Re-created under the same name: a new uid.
  ASSERT_EQ(http().Delete(Item("a")).status, 200);
  json again = Create("a");
  EXPECT_NE(again["metadata"]["uid"], obj["metadata"]["uid"]);
}

TEST_F(ApiTest, ResourceVersionIsMonotonicAndNoOpWritesDoNotMoveIt) {
  json a = Create("a");
  json b = Create("b");
  EXPECT_GT(Rv(b), Rv(a));
  HttpResponse p1 = http().Patch(Item("a"), kMerge, {{"spec", {{"value", "10.0.0.2:1"}}}});
  ASSERT_EQ(p1.status, 200);
  EXPECT_GT(Rv(p1.json()), Rv(b));
  // The same patch again, a label already there, a PUT of the stored object: no write.
  HttpResponse p2 = http().Patch(Item("a"), kMerge, {{"spec", {{"value", "10.0.0.2:1"}}}});
  ASSERT_EQ(p2.status, 200);
  EXPECT_EQ(Rv(p2.json()), Rv(p1.json()));
  HttpResponse put = http().Put(Item("a"), p2.json());
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(Rv(put.json()), Rv(p1.json()));
  HttpResponse status1 = http().Patch(Item("a") + "/status", kMerge, {{"status", {{"phase", "Pending"}}}});
  HttpResponse status2 = http().Patch(Item("a") + "/status", kMerge, {{"status", {{"phase", "Pending"}}}});
  EXPECT_GT(Rv(status1.json()), Rv(p1.json()));
  EXPECT_EQ(Rv(status2.json()), Rv(status1.json()));
  json list = http().Get(Coll()).json();
  EXPECT_GE(std::stoll(list["metadata"]["resourceVersion"].get<std::string>()), Rv(status1.json()));
}

TEST_F(ApiTest, AlreadyExistsConflictAndUpdateWithoutResourceVersion) {
  json a = Create("a");
  HttpResponse dup = http().Post(Coll(), Sreg("a"));
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(dup.json()["reason"], "AlreadyExists");
  EXPECT_EQ(dup.json()["message"], "serviceregistrations.registrar.dev \"a\" already exists");
  json stale = a;
  ASSERT_EQ(http().Patch(Item("a"), kMerge, {{"spec", {{"value", "1.1.1.1:1"}}}}).status, 200);
  stale["spec"]["value"] = "2.2.2.2:2";
  HttpResponse conflict = http().Put(Item("a"), stale);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(conflict.json()["reason"], "Conflict");
  EXPECT_NE(conflict.json()["message"].get<std::string>().find("the object has been modified"),
            std::string::npos);
  json no_rv = stale;
  no_rv["metadata"].erase("resourceVersion");
  HttpResponse invalid = http().Put(Item("a"), no_rv);
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.json()["reason"], "Invalid");
  EXPECT_EQ(invalid.json()["details"]["causes"][0]["field"], "metadata.resourceVersion");
  // Merge patch carrying a stale resourceVersion is a precondition.
  HttpResponse pre = http().Patch(Item("a"), kMerge,
                                  {{"metadata", {{"resourceVersion", a["metadata"]["resourceVersion"]}}},
                                   {"spec", {{"value", "3.3.3.3:3"}}}});
  EXPECT_EQ(pre.status, 409);
  HttpResponse missing = http().Get(Item("nope"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["reason"], "NotFound");
  EXPECT_EQ(missing.json()["details"]["kind"], "serviceregistrations");
}

TEST_F(ApiTest, PatchTypes) {
  Create("a", {{"finalizers", {"x/one", "x/two"}}});
  HttpResponse smp = http().Patch(Item("a"), "application/strategic-merge-patch+json",
                                  {{"spec", {{"paused", true}}}});
  EXPECT_EQ(smp.status, 415);
  EXPECT_EQ(smp.json()["reason"], "UnsupportedMediaType");
  EXPECT_NE(smp.json()["message"].get<std::string>().find("application/merge-patch+json"),
            std::string::npos);
  HttpResponse merge = http().Patch(Item("a"), kMerge, {{"spec", {{"paused", true}}}});
  EXPECT_EQ(merge.json()["spec"]["paused"], true);
  HttpResponse remove_null = http().Patch(Item("a"), kMerge, {{"metadata", {{"labels", {{"k", "v"}}}}}});
  EXPECT_EQ(remove_null.json()["metadata"]["labels"]["k"], "v");
  remove_null = http().Patch(Item("a"), kMerge, {{"metadata", {{"labels", {{"k", nullptr}}}}}});
  EXPECT_FALSE(remove_null.json()["metadata"].contains("labels") &&
               remove_null.json()["metadata"]["labels"].contains("k"));
  // JSON patch: a guarded removal by index, then a failing test.
  HttpResponse jp = http().Patch(Item("a"), kJsonPatch,
                                 json::array({{{"op", "test"}, {"path", "/metadata/finalizers/0"}, {"value", "x/one"}},
                                              {{"op", "remove"}, {"path", "/metadata/finalizers/0"}}}));
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(jp.json()["metadata"]["finalizers"], json({"x/two"}));
  HttpResponse failed = http().Patch(Item("a"), kJsonPatch,
                                     json::array({{{"op", "test"}, {"path", "/metadata/finalizers/0"}, {"value", "x/one"}},
                                                  {{"op", "remove"}, {"path", "/metadata/finalizers/0"}}}));
  EXPECT_EQ(failed.status, 422) << failed.body;
  HttpResponse bad_type = http().Patch(Item("a"), "text/plain", {{"a", 1}});
  EXPECT_EQ(bad_type.status, 415);
}

TEST_F(ApiTest, GenerationOnlyOnSpecChangeAndStatusSubresourceRules) {
  json a = Create("a", {{"finalizers", {"x/keep"}}});
  json labelled = http().Patch(Item("a"), kMerge, {{"metadata", {{"labels", {{"app", "x"}}}}}}).json();
  EXPECT_EQ(labelled["metadata"]["generation"], 1);
  json spec = http().Patch(Item("a"), kMerge, {{"spec", {{"value", "9.9.9.9:9"}}}}).json();
  EXPECT_EQ(spec["metadata"]["generation"], 2);
  // Status through the main endpoint is ignored (and is a no-op here).
  json main_status = http().Patch(Item("a"), kMerge, {{"status", {{"phase", "Registered"}}}}).json();
  EXPECT_FALSE(main_status.contains("status"));
  EXPECT_EQ(main_status["metadata"]["resourceVersion"], spec["metadata"]["resourceVersion"]);
  // /status takes only status: spec, labels and finalizers are ignored; generation unchanged.
  HttpResponse st = http().Patch(Item("a") + "/status", kMerge,
                                 {{"status", {{"phase", "Registered"}, {"observedGeneration", 2}}},
                                  {"spec", {{"value", "7.7.7.7:7"}}},
                                  {"metadata", {{"labels", {{"app", "y"}}}, {"finalizers", nullptr}}}});
  ASSERT_EQ(st.status, 200) << st.body;
  json s = st.json();
  EXPECT_EQ(s["status"]["phase"], "Registered");
  EXPECT_EQ(s["status"]["observedGeneration"], 2);
  EXPECT_EQ(s["spec"]["value"], "9.9.9.9:9");
  EXPECT_EQ(s["metadata"]["labels"]["app"], "x");
  EXPECT_EQ(s["metadata"]["finalizers"], json({"x/keep"}));
  EXPECT_EQ(s["metadata"]["generation"], 2);
  json via_status = http().Get(Item("a") + "/status").json();
  EXPECT_EQ(via_status["spec"]["value"], "9.9.9.9:9");  // G5: whole object
  // PUT /status with the current RV replaces status.
  json put_body = via_status;
  put_body["status"] = {{"phase", "Failed"}};
  HttpResponse put = http().Put(Item("a") + "/status", put_body);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(put.json()["status"], json({{"phase", "Failed"}}));
  // Status is schema-validated too.
  HttpResponse bad = http().Patch(Item("a") + "/status", kMerge, {{"status", {{"phase", "Bogus"}}}});
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.json()["details"]["causes"][0]["field"], "status.phase");
}

TEST_F(ApiTest, FinalizerLifecycle) {
  json a = Create("a", {{"finalizers", {"registrar.dev/cleanup"}}});
  HttpResponse del = http().Delete(Item("a"), R"({"propagationPolicy":"Background"})");
  ASSERT_EQ(del.status, 200) << del.body;
  json d = del.json();
  EXPECT_TRUE(d["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(d["metadata"]["deletionGracePeriodSeconds"], 0);
  EXPECT_EQ(d["metadata"]["generation"], 2);  // G4
  // F3: a repeated DELETE changes nothing.
  json again = http().Delete(Item("a")).json();
  EXPECT_EQ(again["metadata"]["deletionTimestamp"], d["metadata"]["deletionTimestamp"]);
  EXPECT_EQ(again["metadata"]["resourceVersion"], d["metadata"]["resourceVersion"]);
  EXPECT_EQ(http().Get(Coll()).json()["items"].size(), 1u);  // still listed
  // F5: no new finalizers while deleting; spec updates still allowed.
  HttpResponse add = http().Patch(Item("a"), kMerge,
                                  {{"metadata", {{"finalizers", {"registrar.dev/cleanup", "other"}}}}});
  EXPECT_EQ(add.status, 422);
  EXPECT_EQ(add.json()["details"]["causes"][0]["field"], "metadata.finalizers");
  EXPECT_EQ(http().Patch(Item("a"), kMerge, {{"spec", {{"paused", true}}}}).status, 200);
  // Removing the finalizer through /status is silently ignored.
  json via_status = http().Patch(Item("a") + "/status", kMerge,
                                 {{"metadata", {{"finalizers", nullptr}}}, {"status", {{"phase", "Terminating"}}}}).json();
  EXPECT_EQ(via_status["metadata"]["finalizers"], json({"registrar.dev/cleanup"}));
  std::string rv_before = via_status["metadata"]["resourceVersion"];
  auto watch = WatchReader::Open(server_->http(), Coll() + "?watch=true&resourceVersion=" + rv_before);
  ASSERT_EQ(watch->status(), 200);
  // F4: the last finalizer removed -> the object is gone, with DELETED (not MODIFIED).
  HttpResponse last = http().Patch(Item("a"), kMerge, {{"metadata", {{"finalizers", nullptr}}}});
  ASSERT_EQ(last.status, 200) << last.body;
  auto ev = watch->Next(std::chrono::seconds(5));
  ASSERT_TRUE(ev);
  EXPECT_EQ((*ev)["type"], "DELETED");
  EXPECT_EQ(http().Get(Item("a")).status, 404);
}

TEST_F(ApiTest, DeleteWithoutFinalizersReturnsStatusAndPreconditions) {
  json a = Create("a");
  HttpResponse pre = http().Delete(Item("a"), R"({"preconditions":{"uid":"wrong"}})");
  EXPECT_EQ(pre.status, 409);
  HttpResponse del = http().Delete(Item("a"));
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.json()["kind"], "Status");
  EXPECT_EQ(del.json()["status"], "Success");
  EXPECT_EQ(del.json()["details"]["uid"], a["metadata"]["uid"]);
  EXPECT_EQ(http().Get(Item("a")).status, 404);
  EXPECT_EQ(http().Delete(Item("a")).status, 404);
}

TEST_F(ApiTest, SchemaValidationStrictFieldsPruningAndDefaults) {
  json bad = Sreg("bad");
  bad["spec"]["ttlSeconds"] = 2;
  HttpResponse r = http().Post(Coll(), bad);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["reason"], "Invalid");
  EXPECT_EQ(r.json()["details"]["causes"][0]["field"], "spec.ttlSeconds");
  EXPECT_EQ(r.json()["details"]["kind"], "ServiceRegistration");
  json missing = Sreg("missing");
  missing["spec"].erase("key");
  EXPECT_EQ(http().Post(Coll(), missing).status, 422);
  json unknown = Sreg("unknown");
  unknown["spec"]["bogus"] = 1;
  HttpResponse strict = http().Post(Coll() + "?fieldValidation=Strict", unknown);
  EXPECT_EQ(strict.status, 400);
  EXPECT_NE(strict.json()["message"].get<std::string>().find("unknown field \"spec.bogus\""),
            std::string::npos) << strict.body;
  HttpResponse warn = http().Post(Coll() + "?fieldValidation=Warn", unknown);
  EXPECT_EQ(warn.status, 201);
  EXPECT_NE(warn.Header("warning").find("spec.bogus"), std::string::npos);
  EXPECT_FALSE(warn.json()["spec"].contains("bogus"));  // pruned
  HttpResponse bad_mode = http().Post(Coll() + "?fieldValidation=Loud", Sreg("x"));
  EXPECT_EQ(bad_mode.status, 422);
  HttpResponse bad_name = http().Post(Coll(), Sreg("Not_Valid"));
  EXPECT_EQ(bad_name.status, 422);
  EXPECT_EQ(bad_name.json()["details"]["causes"][0]["field"], "metadata.name");
}

TEST_F(ApiTest, IdentityChecks) {
  json other_ns = Sreg("a");
  other_ns["metadata"]["namespace"] = "elsewhere";
  EXPECT_EQ(http().Post(Coll(), other_ns).status, 400);
  json wrong_kind = Sreg("a");
  wrong_kind["kind"] = "Other";
  EXPECT_EQ(http().Post(Coll(), wrong_kind).status, 422);
  HttpResponse no_ns = http().Post(
      "/apis/registrar.dev/v1alpha1/namespaces/absent/serviceregistrations", Sreg("a"));
  EXPECT_EQ(no_ns.status, 404);
  EXPECT_EQ(no_ns.json()["message"], "namespaces \"absent\" not found");
  json a = Create("a");
  json renamed = a;
  renamed["metadata"]["name"] = "b";
  EXPECT_EQ(http().Put(Item("a"), renamed).status, 400);
  HttpResponse with_rv = http().Post(Coll(), a);
  EXPECT_EQ(with_rv.status, 500);  // "resourceVersion should not be set on objects to be created"
}

TEST_F(ApiTest, LabelAndFieldSelectors) {
  Create("a", {{"labels", {{"app", "x"}, {"tier", "web"}}}});
  Create("b", {{"labels", {{"app", "y"}}}});
  Create("c");
  auto names = [&](const std::string& query) {
    HttpResponse r = http().Get(Coll() + "?" + query);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    std::vector<std::string> out;
    json list = r.json();
    for (const json& i : list["items"]) out.push_back(i["metadata"]["name"]);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("labelSelector=app%3Dx"), V({"a"}));
  EXPECT_EQ(names("labelSelector=app%3D%3Dy"), V({"b"}));
  EXPECT_EQ(names("labelSelector=app!%3Dx"), V({"b", "c"}));
  EXPECT_EQ(names("labelSelector=app"), V({"a", "b"}));
  EXPECT_EQ(names("labelSelector=!app"), V({"c"}));
  EXPECT_EQ(names("labelSelector=app%20in%20(x,y),tier"), V({"a"}));
  EXPECT_EQ(names("labelSelector=app%20notin%20(x)"), V({"b", "c"}));
  EXPECT_EQ(names("fieldSelector=metadata.name%3Db"), V({"b"}));
  EXPECT_EQ(names("fieldSelector=metadata.name!%3Db"), V({"a", "c"}));
  EXPECT_EQ(names("fieldSelector=metadata.namespace%3D" + ns_ + "&labelSelector=app%3Dy"), V({"b"}));
  HttpResponse unsupported = http().Get(Coll() + "?fieldSelector=spec.key%3Dx");
  EXPECT_EQ(unsupported.status, 400);
  EXPECT_NE(unsupported.json()["message"].get<std::string>().find("field label not supported"),
            std::string::npos);
  EXPECT_EQ(http().Get(Coll() + "?labelSelector=app%20in%20(x").status, 400);
}

TEST_F(ApiTest, EventFieldSelectorsAsKubectlDescribeSendsThem) {
  json a = Create("a");
  auto event = [&](const std::string& name, const std::string& obj, const std::string& type) {
    return json{{"apiVersion", "v1"}, {"kind", "Event"},
                {"metadata", {{"name", name}}},
                {"involvedObject", {{"kind", "ServiceRegistration"}, {"namespace", ns_}, {"name", obj},
                                    {"uid", obj == "a" ? a["metadata"]["uid"].get<std::string>() : "u"},
                                    {"apiVersion", "registrar.dev/v1alpha1"}}},
                {"reason", "Registered"}, {"message", "m"}, {"type", type}, {"count", 1},
                {"source", {{"component", "etcd-registrar"}}},
                {"firstTimestamp", "2026-01-01T00:00:00Z"}, {"lastTimestamp", "2026-01-01T00:00:00Z"}};
  };
  std::string events = "/api/v1/namespaces/" + ns_ + "/events";
  ASSERT_EQ(http().Post(events, event("e1", "a", "Normal")).status, 201);
  ASSERT_EQ(http().Post(events, event("e2", "b", "Warning")).status, 201);
  std::string sel = "involvedObject.name%3Da,involvedObject.namespace%3D" + ns_ +
                    ",involvedObject.kind%3DServiceRegistration,involvedObject.uid%3D" +
                    a["metadata"]["uid"].get<std::string>();
  HttpResponse r = http().Do("GET", events + "?fieldSelector=" + sel + "&limit=500", "",
                             {.accept = "application/vnd.kubernetes.protobuf,application/json"});
  ASSERT_EQ(r.status, 200) << r.body;
  // kubectl describe's Accept puts protobuf first: the server answers protobuf.
  EXPECT_EQ(r.Header("content-type"), "application/vnd.kubernetes.protobuf");
  r = http().Get(events + "?fieldSelector=" + sel + "&limit=500");
  ASSERT_EQ(r.json()["items"].size(), 1u);
  EXPECT_EQ(r.json()["items"][0]["metadata"]["name"], "e1");
  EXPECT_EQ(http().Get(events + "?fieldSelector=type%3DWarning").json()["items"].size(), 1u);
  EXPECT_EQ(http().Get(events + "?fieldSelector=reason%3DRegistered,source%3Detcd-registrar").json()["items"].size(), 2u);
}

TEST_F(ApiTest, PaginationKeepsTheSnapshotResourceVersion) {
  for (const char* n : {"a", "b", "c", "d", "e"}) Create(n);
  HttpResponse p1 = http().Get(Coll() + "?limit=2");
  json j1 = p1.json();
  ASSERT_EQ(j1["items"].size(), 2u);
  std::string rv = j1["metadata"]["resourceVersion"];
  std::string cont = j1["metadata"]["continue"];
  ASSERT_FALSE(cont.empty());
  // A write between pages is not visible in later pages (snapshot).
  Create("f");
  ASSERT_EQ(http().Delete(Item("e")).status, 200);
  std::vector<std::string> seen = {j1["items"][0]["metadata"]["name"], j1["items"][1]["metadata"]["name"]};
  while (!cont.empty()) {
    json page = http().Get(Coll() + "?limit=2&continue=" + cont).json();
    EXPECT_EQ(page["metadata"]["resourceVersion"], rv);
    for (const json& i : page["items"]) seen.push_back(i["metadata"]["name"]);
    cont = page["metadata"].value("continue", "");
  }
  EXPECT_EQ(seen, std::vector<std::string>({"a", "b", "c", "d", "e"}));
  // limit with a selector fills pages with matches.
  json sel = http().Get(Coll() + "?limit=1&fieldSelector=metadata.name%3Df").json();
  ASSERT_EQ(sel["items"].size(), 1u);
  EXPECT_EQ(sel["items"][0]["metadata"]["name"], "f");
  EXPECT_EQ(http().Get(Coll() + "?continue=garbage").status, 400);
  EXPECT_EQ(http().Get(Coll() + "?limit=-1").status, 200);  // ignored
}

TEST_F(ApiTest, ListNeverServesStateOlderThanRequested) {
  json a = Create("a");
  json list = http().Get(Coll() + "?resourceVersion=" + a["metadata"]["resourceVersion"].get<std::string>()).json();
  EXPECT_EQ(list["items"].size(), 1u);
  auto t0 = std::chrono::steady_clock::now();
  HttpResponse future = http().Get(Coll() + "?resourceVersion=999999999");
  EXPECT_EQ(future.status, 504);
  EXPECT_EQ(future.json()["details"]["causes"][0]["reason"], "ResourceVersionTooLarge");
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2900));
}

TEST_F(ApiTest, AllNamespacesListAndListKind) {
  Create("a");
  json all = http().Get("/apis/registrar.dev/v1alpha1/serviceregistrations").json();
  EXPECT_EQ(all["kind"], "ServiceRegistrationList");
  EXPECT_EQ(all["apiVersion"], "registrar.dev/v1alpha1");
  bool found = false;
  for (const json& i : all["items"]) {
    EXPECT_EQ(i["kind"], "ServiceRegistration");
    found |= i["metadata"]["namespace"] == ns_ && i["metadata"]["name"] == "a";
  }
  EXPECT_TRUE(found);
}

TEST_F(ApiTest, TableFromPrinterColumnsWithAges) {
  Create("a");
  ASSERT_EQ(http().Patch(Item("a") + "/status", kMerge, {{"status", {{"phase", "Registered"}}}}).status, 200);
  HttpResponse r = http().Do("GET", Coll() + "?limit=500", "",
                             {.accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("content-type"), "application/json");  // a Table body, plain JSON type
  json t = r.json();
  EXPECT_EQ(t["kind"], "Table");
  std::vector<std::string> cols;
  for (const json& c : t["columnDefinitions"]) cols.push_back(c["name"]);
  EXPECT_EQ(cols, std::vector<std::string>({"Name", "Key", "Value", "Paused", "Phase", "Full Key", "Age"}));
  ASSERT_EQ(t["rows"].size(), 1u);
  const json& cells = t["rows"][0]["cells"];
  EXPECT_EQ(cells[0], "a");
  EXPECT_EQ(cells[1], "/services/a");
  EXPECT_EQ(cells[3], false);
  EXPECT_EQ(cells[4], "Registered");
  EXPECT_TRUE(std::regex_match(cells[6].get<std::string>(), std::regex("[0-9]+s"))) << cells[6];
  EXPECT_EQ(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

TEST_F(ApiTest, ServerSideApplyCreatesAndUpdates) {
  json body = Sreg("a");
  HttpResponse no_manager = http().Patch(Item("a"), "application/apply-patch+yaml", body);
  EXPECT_EQ(no_manager.status, 422);
  HttpResponse created = http().Patch(Item("a") + "?fieldManager=kubectl&fieldValidation=Strict&force=false",
                                      "application/apply-patch+yaml", body);
  ASSERT_EQ(created.status, 201) << created.body;
  body["spec"]["value"] = "5.5.5.5:5";
  HttpResponse updated = http().Patch(Item("a") + "?fieldManager=kubectl&force=false",
                                      "application/apply-patch+yaml", body);
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(updated.json()["spec"]["value"], "5.5.5.5:5");
  EXPECT_EQ(updated.json()["metadata"]["generation"], 2);
  HttpResponse same = http().Patch(Item("a") + "?fieldManager=kubectl", "application/apply-patch+yaml", body);
  EXPECT_EQ(same.json()["metadata"]["resourceVersion"], updated.json()["metadata"]["resourceVersion"]);
}

TEST_F(ApiTest, DryRunPersistsNothing) {
  HttpResponse dry = http().Post(Coll() + "?dryRun=All", Sreg("a"));
  EXPECT_EQ(dry.status, 201);
  EXPECT_EQ(http().Get(Item("a")).status, 404);
}

TEST_F(ApiTest, BuiltinKindsLeasesSecretsServicesEndpointSlices) {
  std::string leases = "/apis/coordination.k8s.io/v1/namespaces/" + ns_ + "/leases";
  json lease = {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"},
                {"metadata", {{"name", "leader"}}},
                {"spec", {{"holderIdentity", "a"}, {"leaseDurationSeconds", 15},
                          {"renewTime", "2026-01-01T00:00:00.000000Z"}}}};
  HttpResponse c = http().Post(leases, lease);
  ASSERT_EQ(c.status, 201) << c.body;
  EXPECT_EQ(http().Post(leases, lease).json()["reason"], "AlreadyExists");
  json current = c.json();
  json renewed = current;
  renewed["spec"]["holderIdentity"] = "b";
  ASSERT_EQ(http().Put(leases + "/leader", renewed).status, 200);
  json stale = current;
  stale["spec"]["holderIdentity"] = "c";
  EXPECT_EQ(http().Put(leases + "/leader", stale).status, 409);  // LE2
  EXPECT_EQ(http().Get(leases + "/leader").json()["spec"]["leaseDurationSeconds"], 15);
  // SMP is accepted for built-in kinds.
  EXPECT_EQ(http().Patch(leases + "/leader", "application/strategic-merge-patch+json",
                         {{"spec", {{"leaseTransitions", 1}}}}).status, 200);

  json secret = {{"apiVersion", "v1"}, {"kind", "Secret"}, {"metadata", {{"name", "creds"}}},
                 {"type", "Opaque"}, {"data", {{"username", "cm9vdA=="}}}};
  ASSERT_EQ(http().Post("/api/v1/namespaces/" + ns_ + "/secrets", secret).status, 201);
  EXPECT_EQ(http().Get("/api/v1/namespaces/" + ns_ + "/secrets/creds").json()["data"]["username"], "cm9vdA==");
  json svc = {{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", {{"name", "web"}}},
              {"spec", {{"ports", {{{"name", "http"}, {"port", 80}}}}}}};
  ASSERT_EQ(http().Post("/api/v1/namespaces/" + ns_ + "/services", svc).status, 201);
  json slice = {{"apiVersion", "discovery.k8s.io/v1"}, {"kind", "EndpointSlice"},
                {"metadata", {{"name", "web-abc"}, {"labels", {{"kubernetes.io/service-name", "web"}}}}},
                {"addressType", "IPv4"},
                {"endpoints", {{{"addresses", {"10.0.0.1"}}, {"conditions", {{"ready", true}}}}}},
                {"ports", {{{"name", "http"}, {"port", 8080}}}}};
  std::string slices = "/apis/discovery.k8s.io/v1/namespaces/" + ns_ + "/endpointslices";
  ASSERT_EQ(http().Post(slices, slice).status, 201);
  EXPECT_EQ(http().Get(slices + "?labelSelector=kubernetes.io%2Fservice-name%3Dweb").json()["items"].size(), 1u);
  json ks = http().Get("/api/v1/namespaces/kube-system").json();
  EXPECT_FALSE(ks["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(http().Get("/api/v1/namespaces/kube-system").json()["metadata"]["uid"], ks["metadata"]["uid"]);
}

TEST_F(ApiTest, QueryParameterValuesAreChecked) {
  EXPECT_EQ(http().Get(Coll() + "?resourceVersionMatch=Newest&resourceVersion=1").status,
            422);
  EXPECT_EQ(http().Get(Coll() + "?timeout=32s&pretty=true&resourceVersion=0&limit=500").status, 200);
  EXPECT_EQ(http().Do("GET", Coll(), "", {.accept = "application/yaml"}).status,
            200);  // the real server speaks YAML
  EXPECT_EQ(http().Get("/apis/registrar.dev/v1alpha1/namespaces/" + ns_ + "/nothings").status, 404);
}

TEST_F(ApiTest, CrdDeletionRemovesTheResource) {
  json crd = {{"apiVersion", "apiextensions.k8s.io/v1"}, {"kind", "CustomResourceDefinition"},
              {"metadata", {{"name", "widgets.example.dev"}}},
              {"spec", {{"group", "example.dev"}, {"scope", "Cluster"},
                        {"names", {{"plural", "widgets"}, {"kind", "Widget"}}},
                        {"versions", {{{"name", "v1"}, {"served", true}, {"storage", true},
                                       {"schema", {{"openAPIV3Schema", {{"type", "object"},
                                                                        {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
  std::string crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  HttpResponse c = http().Post(crds, crd);
  ASSERT_EQ(c.status, 201) << c.body;
  // The real server sets Established after answering the create.
  ASSERT_TRUE(Eventually([&] {
    json got = http().Get(crds + "/widgets.example.dev").json();
    for (const json& c : got["status"]["conditions"]) {
      if (c["type"] == "Established" && c["status"] == "True") return true;
    }
    return false;
  }));
  json widget = {{"apiVersion", "example.dev/v1"}, {"kind", "Widget"}, {"metadata", {{"name", "w"}}},
                 {"anything", 1}};
  ASSERT_TRUE(Eventually([&] { return http().Post("/apis/example.dev/v1/widgets", widget).status == 201; }));
  EXPECT_EQ(http().Get("/apis/example.dev/v1/widgets/w").json()["anything"], 1);
  ASSERT_EQ(http().Delete(crds + "/widgets.example.dev").status, 200);
  // the real server deletes a CRD through its cleanup finalizer, after the DELETE answered.
  EXPECT_TRUE(Eventually([&] { return http().Get("/apis/example.dev/v1/widgets").status == 404; }));
  EXPECT_TRUE(Eventually([&] { return http().Get(crds + "/widgets.example.dev").status == 404; }));
  EXPECT_EQ(http().Get("/apis/example.dev/v1").status, 404);
  // Re-created: the old objects are gone.
  ASSERT_EQ(http().Post(crds, crd).status, 201);
  HttpResponse list;
  ASSERT_TRUE(Eventually([&] {
    list = http().Get("/apis/example.dev/v1/widgets");
    return list.status == 200;
  }));
  EXPECT_EQ(list.json()["items"].size(), 0u);
  json invalid = crd;
  invalid["metadata"]["name"] = "wrong.name";
  HttpResponse bad = http().Post(crds, invalid);
  EXPECT_EQ(bad.status, 422);
  EXPECT_EQ(bad.json()["details"]["causes"][0]["field"], "metadata.name");
}

}  // namespace
}  // namespace registrar::kube_testing
