# Thin wrapper over CMake/CTest. `make run` and `make test` install what they need first.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CTEST_FLAGS ?=
# The clang build: checks the thread-safety annotations (-Wthread-safety, errors like every
# warning of ours) and gives clang-tidy its compile commands (scripts/tidy.sh).
CLANG_BUILD_DIR ?= build-clang
# The fuzz build: clang 14, libFuzzer + ASan + UBSan, only the fuzz targets (tests/fuzz).
FUZZ_BUILD_DIR ?= build-fuzz
FUZZ_RUNS ?= 1000000
FUZZ_MAX_TIME ?= 1800
FUZZ_TARGETS ?= fuzz_kubeconfig fuzz_exec_credential fuzz_kube_status fuzz_watch_event

.PHONY: all deps configure build test unit integration run run-manifests bench image clean \
	thread-safety tidy fuzz bench-kube

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS); \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build thread-safety
	@./scripts/install-tools.sh
	@./scripts/build-compat.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

# Every library and test of ours built by clang++ with -Wthread-safety -Werror (benchmarks aside),
# and the unit tests run from that build (about 10 s; the g++ build runs every test).
thread-safety: deps
	@if [ ! -f $(CLANG_BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(CLANG_BUILD_DIR) -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DER_THREAD_SAFETY=ON \
	    -DER_BUILD_BENCH=OFF; \
	fi
	@cmake --build $(CLANG_BUILD_DIR) -j $(JOBS)
	@cd $(CLANG_BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

# clang-tidy on the files changed vs main (scripts/tidy.sh --all: the whole tree).
tidy: thread-safety
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

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	@./scripts/install-tools.sh
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
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target engine_bench
	@./bench/run.sh $(BUILD_DIR)

# The Kubernetes-mode benchmark (bench/README.md): the real control plane needs the Go tools.
bench-kube: configure
	@./scripts/install-tools.sh
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target kube_bench etcd-registrar
	@$(BUILD_DIR)/bench/kube_bench --n 2000 --namespaces 20 --idle 30

image:
	docker build -t etcd-registrar:dev .

clean:
	rm -rf $(BUILD_DIR) $(CLANG_BUILD_DIR) $(FUZZ_BUILD_DIR)
