// Every file of tests/corpus through the controller's checks and through the CRD's schema: both
// must accept valid/ and reject invalid/, naming the field of the file's `# expect:` line.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

#include "controller/common/yaml_json.h"
#include "controller/registration/decode.h"
#include "controller/registration/encode.h"
#include "controller/registration/validation.h"
#include "tests/schema/openapi_validator.h"

namespace registrar::registration {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using schema::CrdSchema;

fs::path SourceDir() {
  const char* dir = std::getenv("ER_SOURCE_DIR");
  return dir != nullptr ? fs::path(dir) : fs::current_path();  // ctest sets ER_SOURCE_DIR
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<fs::path> CorpusFiles(const std::string& kind) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(SourceDir() / "tests" / "corpus" / kind)) {
    if (entry.path().extension() == ".yaml") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// The value of a "# <tag>: value" comment line, or "" when absent.
std::string Directive(const std::string& text, const std::string& tag) {
  std::istringstream lines(text);
  const std::string prefix = "# " + tag + ": ";
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) {
      return line.substr(prefix.size());
    }
  }
  return "";
}

// The single document of a corpus file.
YamlDocument Document(const std::string& text) {
  absl::StatusOr<std::vector<YamlDocument>> docs = LoadYamlDocuments(text);
  EXPECT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs.ok() ? docs->size() : 0u, 1u);
  return docs.ok() && !docs->empty() ? docs->front() : YamlDocument{};
}

// The controller's verdict: the paths of every parse and validation error.
std::vector<std::string> ControllerPaths(const std::string& text, SourceMode mode) {
  std::vector<FieldError> errors;
  absl::StatusOr<ServiceRegistration> parsed = ParseYaml(Document(text), &errors);
  if (parsed.ok()) {
    errors = Validate(*parsed, mode);
  }
  std::vector<std::string> paths;
  for (const FieldError& e : errors) {
    paths.push_back(e.path);
  }
  return paths;
}

class Corpus : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<CrdSchema> loaded = CrdSchema::FromFile(
        (SourceDir() / "crds" / "serviceregistrations.yaml").string(), kVersion);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    crd_ = new CrdSchema(*std::move(loaded));
  }
  static void TearDownTestSuite() {
    delete crd_;
    crd_ = nullptr;
  }

  // What a Kubernetes API server with this CRD would refuse (fieldValidation=Strict), as paths.
  // Besides the schema it checks what the server checks elsewhere: the group/version/kind it
  // routes by, and metadata.name (ObjectMeta validation).
  static std::vector<std::string> ServerPaths(json object) {
    std::vector<std::string> paths;
    if (object.value("apiVersion", "") != kApiVersion) {
      paths.push_back("apiVersion");
    }
    if (object.value("kind", "") != kKind) {
      paths.push_back("kind");
    }
    if (!object.contains("metadata") || !object["metadata"].contains("name")) {
      paths.push_back("metadata.name");
    }
    for (const std::string& unknown : crd_->UnknownFields(object)) {
      paths.push_back(unknown);
    }
    crd_->ApplyDefaults(object);
    for (const schema::Cause& cause : crd_->Validate(object)) {
      paths.push_back(cause.field);
    }
    return paths;
  }

  static json Load(const std::string& text) { return Document(text).object; }

  static CrdSchema* crd_;
};

CrdSchema* Corpus::crd_ = nullptr;

TEST_F(Corpus, HasEnoughCases) {
  EXPECT_GE(CorpusFiles("valid").size(), 12u);
  EXPECT_GE(CorpusFiles("invalid").size(), 25u);
}

TEST_F(Corpus, ValidFilesPassBothCheckers) {
  for (const fs::path& file : CorpusFiles("valid")) {
    SCOPED_TRACE(file.filename().string());
    const std::string text = ReadFile(file);
    EXPECT_THAT(ControllerPaths(text, SourceMode::kKubernetes), ::testing::IsEmpty());
    EXPECT_THAT(ServerPaths(Load(text)), ::testing::IsEmpty());
  }
}

TEST_F(Corpus, ToJsonOfEveryValidFileIsAcceptedByTheSchema) {
  for (const fs::path& file : CorpusFiles("valid")) {
    SCOPED_TRACE(file.filename().string());
    absl::StatusOr<ServiceRegistration> parsed = ParseJson(Load(ReadFile(file)));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_THAT(ServerPaths(ToJson(*parsed)), ::testing::IsEmpty());
  }
}

TEST_F(Corpus, SchemaDefaultsMatchParserDefaults) {
  for (const fs::path& file : CorpusFiles("valid")) {
    SCOPED_TRACE(file.filename().string());
    json object = Load(ReadFile(file));
    absl::StatusOr<ServiceRegistration> as_written = ParseJson(object);
    crd_->ApplyDefaults(object);
    absl::StatusOr<ServiceRegistration> as_defaulted = ParseJson(object);
    ASSERT_TRUE(as_written.ok()) << as_written.status();
    ASSERT_TRUE(as_defaulted.ok()) << as_defaulted.status();
    EXPECT_EQ(*as_written, *as_defaulted);
    EXPECT_TRUE(object["spec"].contains("ttlSeconds"));
    EXPECT_TRUE(object["spec"].contains("paused"));
  }
}

TEST_F(Corpus, ValidFilesNeedingAClusterAreRefusedInManifestMode) {
  for (const fs::path& file : CorpusFiles("valid")) {
    SCOPED_TRACE(file.filename().string());
    const std::string text = ReadFile(file);
    const json spec = Load(text)["spec"];
    std::vector<std::string> expected;
    if (spec.contains("valueFrom")) {
      expected.push_back("spec.valueFrom");
    }
    if (spec.contains("etcd")) {
      expected.push_back("spec.etcd");
    }
    EXPECT_EQ(ControllerPaths(text, SourceMode::kManifests), expected);
  }
}

TEST_F(Corpus, InvalidFilesAreRejectedByBothNamingTheField) {
  for (const fs::path& file : CorpusFiles("invalid")) {
    SCOPED_TRACE(file.filename().string());
    const std::string text = ReadFile(file);
    const std::string expect = Directive(text, "expect");
    ASSERT_FALSE(expect.empty()) << "missing '# expect: <field path>' line";
    std::string expect_schema = Directive(text, "expect-schema");
    if (expect_schema.empty()) {
      expect_schema = expect;
    }
    EXPECT_THAT(ControllerPaths(text, SourceMode::kKubernetes), ::testing::Contains(expect));
    EXPECT_THAT(ServerPaths(Load(text)), ::testing::Contains(expect_schema));
  }
}

TEST_F(Corpus, ParseErrorsPointAtTheLineOfTheField) {
  const fs::path file = SourceDir() / "tests" / "corpus" / "invalid" / "ttl-string.yaml";
  const std::string text = ReadFile(file);
  std::vector<FieldError> errors;
  ASSERT_FALSE(ParseYaml(Document(text), &errors).ok());
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "spec.ttlSeconds");
  // The header comment lines come first; ttlSeconds is the last line of the file.
  int last_line = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  EXPECT_EQ(errors[0].line, last_line);
}

}  // namespace
}  // namespace registrar::registration
