# Thin wrapper over CMake/CTest. `make run` and `make test` install what they need first.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CTEST_FLAGS ?=
# ctest's slots in `make test`: two per core. Most integration tests wait (on etcd, TTLs,
# restarts) and use a few % of a core; the CPU-heavy ones (a kube-apiserver) take two slots
# (PROCESSORS, tests/test_costs.cmake). docs/testing.md, "CI budget".
CTEST_JOBS ?= $(shell echo $$((2 * $(JOBS))))
# The clang build (build-clang): clang++ 14 with -Wthread-safety (errors like every warning of
# ours), ASan with leak checking + UBSan on every target (ER_SANITIZE), libFuzzer coverage so the
# fuzz targets link in the same dir (ER_FUZZ), -O1 with line tables only (compiles faster than
# -O2 -g; stacks keep file:line), the etcd suites on one etcd version (3.6, CLANG_ETCD), no
# benchmarks. It also gives
# clang-tidy its compile commands (scripts/tidy.sh). docs/testing.md: "The sanitizer build".
CLANG_BUILD_DIR ?= build-clang
CLANG_ETCD ?= 3.6
CLANG_CMAKE_FLAGS = -DCMAKE_CXX_COMPILER=clang++ -DER_THREAD_SAFETY=ON -DER_SANITIZE=ON -DER_FUZZ=ON \
	-DER_BUILD_BENCH=OFF -DER_ETCD_VERSIONS=$(CLANG_ETCD) \
	"-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only -DNDEBUG"
# The suites `make sanitize` (and so `make test`) runs from it, less the gtest cases that measure
# CPU or throughput, or glibc's malloc_trim (ASan replaces the allocator, so these say nothing
# there; the g++ build runs them).
SANITIZE_LABELS ?= unit|fuzz
# Then the integration suites whose names match SANITIZE_TESTS (a ctest -R regex; `.`: every
# one, empty: none). By default a named subset (the CI budget, docs/testing.md): the product's
# own code paths under ASan, each once, on etcd 3.6.
SANITIZE_TESTS ?= $(SANITIZE_TESTS_CI)
SANITIZE_TESTS_CI = ^(etcd_client_integration_test|publisher_(adoption|recovery|revoke_debt)_$\
	integration_test|controller_(lifecycle|bad_files|http_limits|kube_exit)_test|kube_(client|reflector)_test)
SANITIZE_GTEST_FILTER ?= -*WithLittleCpu*:MemoryTrim.ReturnFreeMemoryGivesBackWhatWasFreed
# The fuzz build: clang 14, libFuzzer + ASan + UBSan, only the fuzz targets (tests/fuzz).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_RUNS ?= 1000000
FUZZ_MAX_TIME ?= 1800
FUZZ_TARGETS ?= fuzz_kubeconfig fuzz_exec_credential fuzz_kube_status fuzz_watch_event \
	fuzz_manifest fuzz_config fuzz_etcd_replies fuzz_http_request
# The fault soak (docs/testing.md): seed, number of faults, registrations, etcd (3.4 = Debian's,
# 3.5 / 3.6 from .tools/), extra fault_soak flags.
SOAK_SEED ?= 1
SOAK_FAULTS ?= 100
SOAK_REGISTRATIONS ?= 1000
SOAK_ETCD ?= 3.4
SOAK_FLAGS ?=

.PHONY: all deps configure build test test-matrix unit integration run run-manifests bench image clean \
	clang-configure clang-build sanitize-build sanitize-build-targets thread-safety sanitize \
	sanitize-run tidy fuzz bench-kube soak

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS); \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

# Every test on the g++ build, then the unit, fuzz-smoke and integration suites on the sanitizer
# build (a report from any process fails it). Each stage prints its wall time when it ends and
# the list comes at the end (scripts/stage.sh; the CI budget, docs/testing.md).
# CLANG_BESIDE=1 (the default): the sanitizer build (sanitize-build) runs at nice 19 beside the
# tools and ctest stages, which mostly wait (downloads, etcd, timers), and the clang-build stage
# is the wait for what is left of it after ctest; its output comes then. CLANG_BESIDE=0: one
# stage after the other. docs/testing.md, "CI budget".
CLANG_BESIDE ?= 1
TEST_STAGES = $(BUILD_DIR)/test-stages.txt
STAGE = ./scripts/stage.sh $(TEST_STAGES)
BESIDE = ./scripts/beside.sh
BESIDE_DIR = $(CLANG_BUILD_DIR)/beside
test:
	@./scripts/stage.sh --start $(TEST_STAGES)
	@$(STAGE) build $(MAKE) --no-print-directory build
ifeq ($(CLANG_BESIDE),1)
	@$(MAKE) --no-print-directory clang-configure
	@$(BESIDE) start $(BESIDE_DIR) ./scripts/stage.sh $(BESIDE_DIR)/stage.txt clang-build-beside \
	  $(MAKE) --no-print-directory sanitize-build-targets
else
	@$(STAGE) clang-build $(MAKE) --no-print-directory sanitize-build
endif
	@$(STAGE) tools sh -c './scripts/install-tools.sh && ./scripts/install-deps.sh --image && \
	  ./scripts/build-compat.sh' || { $(BESIDE) stop $(BESIDE_DIR); exit 1; }
	@$(STAGE) ctest sh -c 'cd $(BUILD_DIR) && \
	  ctest --output-on-failure --no-tests=error -j $(CTEST_JOBS) $(CTEST_FLAGS)' || \
	  { $(BESIDE) stop $(BESIDE_DIR); exit 1; }
ifeq ($(CLANG_BESIDE),1)
	@$(STAGE) clang-build $(BESIDE) wait $(BESIDE_DIR)
endif
	@$(STAGE) sanitize-run $(MAKE) --no-print-directory sanitize-run
	@./scripts/stage.sh --summary $(TEST_STAGES)

# Every etcd suite on every etcd version (ER_ETCD_FULL_MATRIX; `make test` runs the suites
# where the versions differ on all three and the rest on 3.6). Not part of test: about 12 min.
test-matrix: build
	@./scripts/install-tools.sh
	@./scripts/build-compat.sh
	@cmake -S . -B $(BUILD_DIR) -DER_ETCD_FULL_MATRIX=ON > /dev/null
	@(cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L 'etcd3[456]' $(CTEST_FLAGS)); \
	  rc=$$?; cmake -S . -B $(BUILD_DIR) -DER_ETCD_FULL_MATRIX=OFF > /dev/null; exit $$rc

# Configures build-clang (again when it was made without the sanitizers or for another etcd
# version).
clang-configure: deps
	@if ! grep -qs '^ER_SANITIZE:BOOL=ON' $(CLANG_BUILD_DIR)/CMakeCache.txt || \
	    ! grep -qs '^ER_ETCD_VERSIONS:STRING=$(CLANG_ETCD)$$' $(CLANG_BUILD_DIR)/CMakeCache.txt; then \
	  cmake -S . -B $(CLANG_BUILD_DIR) -G Ninja $(CLANG_CMAKE_FLAGS); \
	fi

# build-clang whole: every target, so -Wthread-safety sees every file (thread-safety, tidy).
clang-build: clang-configure
	@cmake --build $(CLANG_BUILD_DIR) -j $(JOBS)

# build-clang for `make sanitize-run` (and so `make test`): only the targets of the tests it
# runs, as ctest selects them from the same SANITIZE_LABELS and SANITIZE_TESTS
# (scripts/test-targets.sh), plus etcd-registrar; the integration suites it does not run are
# not compiled (about a fifth of the objects; docs/testing.md, "CI budget").
sanitize-build: clang-configure
	@$(MAKE) --no-print-directory sanitize-build-targets

sanitize-build-targets:
	@cmake --build $(CLANG_BUILD_DIR) --target build.ninja > /dev/null
	@targets=$$(./scripts/test-targets.sh $(CLANG_BUILD_DIR) -L '$(SANITIZE_LABELS)') || exit 1; \
	  if [ -n '$(SANITIZE_TESTS)' ]; then \
	    more=$$(./scripts/test-targets.sh $(CLANG_BUILD_DIR) -L integration \
	      -R '$(SANITIZE_TESTS)') || exit 1; targets="$$targets $$more"; \
	  fi; \
	  cmake --build $(CLANG_BUILD_DIR) -j $(JOBS) --target etcd-registrar $$targets

# The clang build and its unit tests only (quick: no etcd, no tools).
thread-safety: clang-build
	@./scripts/sanitizer-reports.sh $(CLANG_BUILD_DIR) --clear
	@(cd $(CLANG_BUILD_DIR) && GTEST_FILTER='$(SANITIZE_GTEST_FILTER)' \
	  ctest --output-on-failure -j $(JOBS) -L unit); rc=$$?; \
	  ./scripts/sanitizer-reports.sh $(CLANG_BUILD_DIR) && exit $$rc

# The sanitizer build's suites (SANITIZE_LABELS at -j JOBS: they keep the cores busy; then the
# integration suites SANITIZE_TESTS at -j CTEST_JOBS: they wait), then its reports
# (scripts/sanitizer-reports.sh). `make sanitize-run SANITIZE_TESTS=.`: every
# integration suite.
sanitize: sanitize-build
	@./scripts/install-tools.sh
	@./scripts/build-compat.sh
	@$(MAKE) --no-print-directory sanitize-run

# A selection that matches no test fails (--no-tests=error) rather than passing silently.
sanitize-run:
	@./scripts/sanitizer-reports.sh $(CLANG_BUILD_DIR) --clear
	@(cd $(CLANG_BUILD_DIR) && export GTEST_FILTER='$(SANITIZE_GTEST_FILTER)' && \
	  ctest --output-on-failure --no-tests=error -j $(JOBS) -L '$(SANITIZE_LABELS)' $(CTEST_FLAGS); \
	  rc=$$?; if [ -n '$(SANITIZE_TESTS)' ]; then ctest --output-on-failure --no-tests=error \
	    -j $(CTEST_JOBS) \
	    -L integration -R '$(SANITIZE_TESTS)' $(CTEST_FLAGS) || rc=1; fi; exit $$rc); rc=$$?; \
	  ./scripts/sanitizer-reports.sh $(CLANG_BUILD_DIR) && exit $$rc

# clang-tidy on the files changed vs main (scripts/tidy.sh --all: the whole tree).
tidy: clang-build
	@./scripts/tidy.sh -p $(CLANG_BUILD_DIR)

# Each fuzz target for FUZZ_RUNS executions (bounded by FUZZ_MAX_TIME seconds each); one line of
# figures per target; a crash fails (its input is in $(FUZZ_BUILD_DIR)/fuzz/). Not part of test.
fuzz: deps
	@if [ ! -f $(FUZZ_BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(FUZZ_BUILD_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DER_FUZZ=ON \
	    -DER_BUILD_TESTS=OFF -DER_BUILD_BENCH=OFF; \
	fi
	@cmake --build $(FUZZ_BUILD_DIR) -j $(JOBS) --target fuzzers
	@./scripts/fuzz.sh $(FUZZ_BUILD_DIR) $(FUZZ_RUNS) $(FUZZ_MAX_TIME) $(FUZZ_TARGETS)

# The full fault soak: SOAK_FAULTS faults over about ten minutes on SOAK_REGISTRATIONS
# registrations, niced; prints a row per fault and the command that replays it. Not part of test
# (ctest's soak_short runs 10 faults).
soak: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target fault_soak etcd-registrar
	@cd $(BUILD_DIR) && ER_BINARY_DIR=$(abspath $(BUILD_DIR)) ER_SOURCE_DIR=$(CURDIR) \
	  nice -n 10 ./tests/soak/fault_soak --seed $(SOAK_SEED) --faults $(SOAK_FAULTS) \
	  --registrations $(SOAK_REGISTRATIONS) --etcd-version $(SOAK_ETCD) $(SOAK_FLAGS)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	@./scripts/install-tools.sh
	@./scripts/install-deps.sh --image
	@./scripts/build-compat.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L integration

# The Kubernetes mode on the local control plane (scripts/local-cluster.sh; reused when running),
# with crds/ and examples/ applied, and a local etcd for the registrations.
run: configure
	@./scripts/install-tools.sh
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target etcd-registrar
	@./scripts/run-local.sh $(BUILD_DIR) kube

# The manifest-folder mode on examples/ (no Kubernetes), with a local etcd.
run-manifests: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target etcd-registrar
	@./scripts/run-local.sh $(BUILD_DIR) manifests

bench: configure
	@./scripts/install-tools.sh
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target engine_bench process_bench etcd-registrar
	@./bench/run.sh $(BUILD_DIR)

# The Kubernetes-mode benchmark (bench/README.md): the real control plane needs the Go tools.
bench-kube: configure
	@./scripts/install-tools.sh
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target kube_bench etcd-registrar
	@$(BUILD_DIR)/bench/kube_bench --n 2000 --namespaces 20 --idle 30

# The container image etcd-registrar:<version> (docs/image.md): the base debian:bookworm-slim made
# with mmdebstrap when missing, then buildah bud of the Dockerfile (scripts/image.sh).
image:
	@./scripts/image.sh build

clean:
	rm -rf $(BUILD_DIR) $(CLANG_BUILD_DIR) $(FUZZ_BUILD_DIR)
