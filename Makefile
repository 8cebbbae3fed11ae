# The two commands a newcomer needs: `make run` and `make test`.
# Everything else here is a step of those two, or a separate long-running target.
JOBS ?= $(shell nproc)
BUILD ?= build
SAN_BUILD ?= build-asan
# `make install`: where (PREFIX) and under which staging root (DESTDIR).
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all deps build run test test-fast test-san npm-deps bench soak fuzz clean install uninstall

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

# Starts the embedded default: noa-server on 127.0.0.1:3100 over ./data and
# noa-shipper (127.0.0.1:9080) tailing this host's logs into it.
run: build
	exec bash scripts/run.sh $(BUILD)/bin

# npm ci again whenever the lock file is newer than what node_modules holds.
npm-deps: deps
	@if [ -f tests/npm/package-lock.json ]; then \
		cd tests/npm && { [ node_modules/.package-lock.json -nt package-lock.json ] || \
			npm ci --no-audit --no-fund --loglevel=error; }; fi

# Every test: unit, fuzz-corpus replay and integration in the normal build, then the
# unit and decoder tests, and the server's integration tests but the long crash run,
# again under AddressSanitizer + UndefinedBehaviorSanitizer (leaks are errors).
test: build npm-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600
	$(MAKE) --no-print-directory test-san

test-san: deps npm-deps
	cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DNOA_ASAN=ON -DNOA_UBSAN=ON -DNOA_BENCH=OFF >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -L 'unit|fuzz|integration' -E 'integration.crash'

# Benchmarks print figures; they are never part of `make test`.
bench: build
	bash bench/run.sh

soak: build npm-deps
	NOA_SOAK=1 NOA_BIN=$(CURDIR)/$(BUILD)/bin NOA_SRC=$(CURDIR) /usr/bin/python3 tests/integration/test_crash.py

fuzz: deps
	CC=clang cmake -S . -B build-fuzz -DNOA_FUZZ=ON -DNOA_BENCH=OFF -DNOA_ASAN=ON >/dev/null
	cmake --build build-fuzz -j $(JOBS)

# Builds, then installs programs, systemd units, /etc/noa configuration (kept
# when already there and changed: the new default goes to <file>.new), rules,
# dashboards and docs; see docs/install.md. PREFIX=/usr puts the configuration
# in /etc/noa, any other prefix in $(PREFIX)/etc/noa.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

# Removes what the last `make install` installed (build/install_manifest.txt;
# give the same DESTDIR), but the configuration under etc/noa and the data in
# /var/lib/noa*.
uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "no $(BUILD)/install_manifest.txt: nothing installed from this build"; exit 1; }
	@grep -v '/etc/noa/' $(BUILD)/install_manifest.txt | while read -r f; do \
		f="$(DESTDIR)$$f"; if [ -f "$$f" ] || [ -L "$$f" ]; then echo "rm $$f"; rm -f "$$f"; fi; done

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-fuzz
