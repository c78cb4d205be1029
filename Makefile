# Thin wrapper over CMake/CTest. `make run` and `make test` install what they need first.
BUILD_DIR ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)
CTEST_FLAGS ?=

.PHONY: all deps configure build test unit integration run bench image clean

all: build

deps:
	@./scripts/install-deps.sh

configure: deps
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS); \
	fi

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@./scripts/install-tools.sh
	@./scripts/build-compat.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_FLAGS)

unit: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	@./scripts/install-tools.sh
	@./scripts/build-compat.sh
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L integration

run: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target etcd-registrar
	@./scripts/run-local.sh $(BUILD_DIR)

bench: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS) --target engine_bench
	@./bench/run.sh $(BUILD_DIR)

image:
	docker build -t etcd-registrar:dev .

clean:
	rm -rf $(BUILD_DIR)
