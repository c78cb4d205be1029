#include "controller/registration/object_writer.h"

#include <algorithm>

namespace registrar::registration {

const char* EventTypeName(EventType type) {
  return type == EventType::kWarning ? "Warning" : "Normal";
}

bool HasOurFinalizer(const ServiceRegistration& object) {
  const auto& f = object.metadata.finalizers;
  return std::find(f.begin(), f.end(), kFinalizer) != f.end();
}

}  // namespace registrar::registration
