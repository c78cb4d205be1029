// The manifest-folder source as a SourceKit: no API to write back to, and the folder is the
// whole truth (a record whose id is not declared after the first complete scan is an orphan).
#include "absl/strings/str_cat.h"

#include "controller/app/owner_id.h"
#include "controller/app/source_kit.h"
#include "controller/source/manifest_source.h"

namespace registrar::app {

namespace {

class ManifestKit final : public SourceKit {
 public:
  ManifestKit(const config::Options& options, std::unique_ptr<source::ManifestSource> source)
      : options_(options), source_(std::move(source)) {}

  source::Source& source() override { return *source_; }
  absl::StatusOr<std::string> DefaultOwnerId(const std::function<bool()>&) override {
    return DefaultLocalOwnerId();
  }
  registration::ReconcilerOptions reconciler_options() const override {
    registration::ReconcilerOptions o;
    o.mode = registration::SourceMode::kManifests;
    o.owner_prefix = options_.owner_prefix;
    return o;
  }
  void FirstSync(std::vector<std::string> listed, publisher::Engine& engine) override {
    engine.MarkComplete(std::move(listed));
  }
  absl::Status SourceHealth() const override {
    return source_->synced() ? absl::OkStatus()
                             : absl::UnavailableError("the manifest folder has not been read yet");
  }
  bool requeue_on_engine_change() const override { return false; }
  std::string description() const override {
    return absl::StrCat("manifests ", options_.manifests);
  }
  void Stop() override { source_->Stop(); }

 private:
  const config::Options& options_;
  std::unique_ptr<source::ManifestSource> source_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SourceKit>> NewManifestKit(const config::Options& options,
                                                          Clock& clock) {
  source::ManifestSourceOptions source_options;
  source_options.dir = options.manifests;
  auto source = source::ManifestSource::Create(source_options, clock);
  if (!source.ok()) {
    return source.status();
  }
  return std::make_unique<ManifestKit>(options, *std::move(source));
}

}  // namespace registrar::app
