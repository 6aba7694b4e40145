# The two commands in the README: `make run` and `make test`. Both install
# what is missing first (Debian packages via scripts/install-deps).
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-unit test-asan test-tsan bench fuzz fuzz-long check-source clean

all: build

deps:
	@scripts/install-deps

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS)

# The console's vendor files come from npm (web/node_modules, from the
# committed lock file): fetched here when missing, so `make build` alone
# serves a whole console. The Debian packages are `make deps`' job.
build: $(BUILD)/Makefile
	@scripts/install-deps --web
	cmake --build $(BUILD) -j $(JOBS)

run: deps build
	scripts/demo

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole suite again under AddressSanitizer and UndefinedBehaviorSanitizer.
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCUSTOMS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

# The tracking tests under ThreadSanitizer: its pipeline hands messages,
# documents and replies between threads. A report fails the test (the
# harness reads the servers' output).
test-tsan: deps
	cmake -S . -B $(TSAN_BUILD) -DCUSTOMS_TSAN=ON -DCMAKE_BUILD_TYPE=Debug $(CMAKE_FLAGS)
	cmake --build $(TSAN_BUILD) -j $(JOBS)
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -R '^test_track'

bench: export CUSTOMS_BENCH = 1
bench: deps build
	bench/run

# libFuzzer targets with their seed corpora (tests/fuzz/corpus/<target>).
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCUSTOMS_FUZZ=ON -DCUSTOMS_TESTS=ON $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	tests/fuzz/run $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Before a release: every fuzz target for 10 minutes (CI runs each briefly).
# What the short runs miss shows up here: 90 s found fuzz_track_decode's
# duplicate-member finding, now a seed.
FUZZ_LONG_SECONDS ?= 600
fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_LONG_SECONDS)

# The source habits (also a ctest, so make test runs it).
check-source:
	scripts/check-source

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
