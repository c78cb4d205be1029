#include "tests/soak/default_source_dir.h"

namespace registrar::soak {

const char* const kDefaultSourceDir = ER_DEFAULT_SOURCE_DIR;

}  // namespace registrar::soak
