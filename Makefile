# Thin wrapper over CMake. `make demo` and `make test` install the Debian
# packages the build needs (when run as root), configure, build and run.
BUILD ?= build
JOBS ?= $(shell nproc)
# golang-go: tests/test_pprof.sh reads the heap profiles with `go tool pprof`.
# mmv chase debfoster: tests/bdwgc/test_debian.sh runs them on the bdwgc shim.
DEB_PACKAGES = cmake gcc make pkg-config libatomic-ops-dev libunwind-dev \
               zlib1g-dev libgc-dev libmimalloc-dev golang-go mmv chase debfoster

.PHONY: all deps configure build demo test bench clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing (run as root or install them)"; exit 1; fi; \
	fi

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	GCTRACE=1 ./$(BUILD)/examples/showcase

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./bench/compare.sh $(BUILD)

clean:
	rm -rf $(BUILD)
