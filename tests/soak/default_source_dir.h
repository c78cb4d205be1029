// The source tree fault_soak was built from: where it finds .tools/etcd-3.x when ER_SOURCE_DIR is
// not set (run by hand). Defined in default_source_dir.cc, the one file compiled with the
// checkout's absolute path: every other file of the soak stays a ccache hit in a fresh clone in
// another folder (CMakeLists.txt, "ccache must hit"). No state besides the constant.
#pragma once

namespace registrar::soak {

extern const char* const kDefaultSourceDir;

}  // namespace registrar::soak
