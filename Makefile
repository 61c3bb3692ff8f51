# Switchboard developer targets. `make help` lists them.

GO        ?= go
BIN       := bin/switchboard
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# staticcheck 2026.2.2; the proxy knows it by its module version (a year-style @2026.2.2 does not resolve).
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# sudo only when we are not root (CI containers usually are).
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build web static release docker run cluster test bench bench-peer load load-cluster queue-bench fuzz fuzz-smoke flake screenshots lint deps clean help

all: build

help:
	@echo "make build   build $(BIN) (version $(VERSION))"
	@echo "make run     build, then run it on the embedded demo config"
	@echo "make release static binaries for $(PLATFORMS) in $(DIST)/, version $(VERSION), with SHA256SUMS"
	@echo "make docker  the container image $(IMAGE):$(VERSION) (Dockerfile)"
	@echo "make cluster build, then run three nodes and a NATS server (installed if missing) on this machine"
	@echo "make test    go test -race on everything, SIPp tests included (installs sipp if missing)"
	@echo "make bench   Go benchmarks, then the SIPp load run (make load)"
	@echo "make bench-peer  the same SIPp load through Kamailio + rtpengine and Switchboard, and the ratio"
	@echo "make load    SIPp load run only: rising call rates, then ~1,000 concurrent calls"
	@echo "make load-cluster  SIPp calls a second through two cluster nodes against one"
	@echo "make queue-bench  SIPp queue load: 50 calls/s from a trunk into a queue of 20 agents for 60 s"
	@echo "make fuzz    run each fuzzer for FUZZTIME (default 20s); make test runs each for FUZZSMOKE (2s)"
	@echo "make flake   the whole suite N times (default 5) while another copy loads the machine (.ci/flake)"
	@echo "make screenshots  write the web page's pictures to SCREENSHOTS (default bin/screenshots)"
	@echo "make lint    go vet and staticcheck"
	@echo "make deps    install SIPp, baresip, Chromium, fail2ban and linphonec if missing"
	@echo "make clean   remove bin/ and test caches"

build: web
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/switchboard

# The browser phone's SIP client: JsSIP from the npm registry at the version the lockfile pins,
# bundled by esbuild into one file the binary embeds (api/web/jssip.js; not committed).
WEB_BUNDLE := api/web/jssip.js
web: $(WEB_BUNDLE)

$(WEB_BUNDLE): web/phone/package-lock.json web/phone/entry.js
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: installing nodejs and npm"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }
	cd web/phone && npm ci --no-audit --no-fund --loglevel=error
	cd web/phone && OUT=../../$(WEB_BUNDLE) npm run --silent bundle # esbuild; the Dockerfile runs the same script

run: build
	./$(BIN)

# Release binaries: static (no cgo, so no libc to match), no paths of this machine (-trimpath),
# no VCS stamp that a checkout without .git (a Docker build) could not repeat, symbols
# stripped, the version stamped. Built twice from the same commit they are the same bytes
# (TestReleaseIsReproducible checks the recipe). The Dockerfile builds with `make static`.
PLATFORMS ?= linux/amd64 linux/arm64
DIST      ?= dist
RELEASE_FLAGS = -trimpath -buildvcs=false -ldflags "-s -w -X main.version=$(VERSION)"
OUT       ?= $(BIN)

# One static binary, OUT, for GOOS/GOARCH (default: this machine's), with whatever web bundle
# is there: release and the Dockerfile build the bundle first.
static:
	CGO_ENABLED=0 $(GO) build $(RELEASE_FLAGS) -o $(OUT) ./cmd/switchboard

release: web
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "--- $(DIST)/switchboard-$(VERSION)-$$os-$$arch"; \
		GOOS=$$os GOARCH=$$arch $(MAKE) --no-print-directory static OUT=$(DIST)/switchboard-$(VERSION)-$$os-$$arch; \
	done
	cd $(DIST) && sha256sum switchboard-* > SHA256SUMS && cat SHA256SUMS

IMAGE ?= switchboard
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

cluster: build
	contrib/cluster/run

# SIPp and baresip drive the whole-switch tests; CI machines may not have them. Each is
# installed from Debian only when missing (sip-tester for sipp, baresip-core for baresip).
deps:
	@if command -v sipp >/dev/null 2>&1; then \
		echo "sipp: $$(command -v sipp)"; \
	else \
		echo "sipp not found: installing sip-tester"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends sip-tester; \
	fi
	@if command -v baresip >/dev/null 2>&1; then \
		echo "baresip: $$(command -v baresip)"; \
	else \
		echo "baresip not found: installing baresip-core"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends baresip-core; \
	fi
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	else \
		echo "chromium not found: installing chromium and chromium-driver (the web page's browser tests)"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver; \
	fi
	@if command -v fail2ban-regex >/dev/null 2>&1; then \
		echo "fail2ban-regex: $$(command -v fail2ban-regex)"; \
	else \
		echo "fail2ban-regex not found: installing fail2ban (the log filter's test)"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fail2ban; \
	fi
	@if command -v linphonec >/dev/null 2>&1; then \
		echo "linphonec: $$(command -v linphonec)"; \
	else \
		echo "linphonec not found: installing linphone-cli (the Linphone presence test)"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends linphone-cli; \
	fi
	@if command -v ip >/dev/null 2>&1; then \
		echo "ip: $$(command -v ip)"; \
	else \
		echo "ip not found: installing iproute2 (the kernel relay's test with another machine in a network namespace)"; \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2; \
	fi

test: deps web
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz-smoke

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(MAKE) load
	$(MAKE) queue-bench
	$(MAKE) load-cluster

# Calls a second through two nodes (caller at one, callees at the other) against one node.
load-cluster: deps build
	SWITCHBOARD_LOAD_CLUSTER=1 SWITCHBOARD_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m -run '^TestLoadCluster$$' -v ./cmd/switchboard

# The load run uses the optimised binary (no -race), as deployed.
load: deps build
	SWITCHBOARD_LOAD=1 SWITCHBOARD_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 10m -run '^TestLoad$$' -v ./cmd/switchboard

# The yardstick of issue 15: the same SIPp load through Kamailio + rtpengine (Debian's packages,
# installed when missing, configured by testdata/peer/kamailio.cfg) and through Switchboard.
# Knobs: SWITCHBOARD_PEER_{RATES,STEP,HOLD,DIR}.
bench-peer: deps build
	@command -v kamailio >/dev/null && command -v rtpengine >/dev/null || { \
		$(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends kamailio rtpengine-daemon; }
	SWITCHBOARD_BENCH_PEER=1 SWITCHBOARD_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 20m -run '^TestBenchPeer$$' -v ./cmd/switchboard

# The queue load run (TestQueueLoad): knobs SWITCHBOARD_QUEUE_LOAD_{RATE,SECONDS,AGENTS,TALK_MS,WRAPUP_MS}.
queue-bench: deps build
	SWITCHBOARD_QUEUE_LOAD=1 SWITCHBOARD_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 15m -run '^TestQueueLoad$$' -v ./cmd/switchboard

# Each fuzzer explores for FUZZTIME from its seed corpus (bodies real phones send); the seeds
# alone run as ordinary tests in make test. New interesting inputs are minimised for at most
# 100 runs, not the default 60 s, which would eat a short run.
FUZZTIME ?= 20s
FUZZERS  := ./sip:FuzzGate ./sip:FuzzSwitchSurvives ./sip:FuzzParseReplaces ./sip:FuzzParseReferTo \
	./sip:FuzzDNDFromPIDF ./sip:FuzzPIDFRoundTrip ./sip:FuzzParseSetDND ./sip:FuzzDTMFFromInfo ./sip:FuzzDialogInfo \
	./sip/digest:FuzzVerify ./media:FuzzReadWAV ./media:FuzzRewriteOffer ./media:FuzzReadAudio \
	./config:FuzzParse ./api:FuzzAPIBodies
# make test runs every fuzzer for FUZZSMOKE on one core: new code meets random input at once.
# A count, not a time: a time-limited run whose deadline falls while the seed corpus is still
# being replayed fails with "context deadline exceeded" (a slow CI machine did), and a count is
# the same work on every machine (~50 s for all of them here).
FUZZSMOKE ?= 1000x
fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZSMOKE) FUZZPARALLEL=1 FUZZTIMEOUT=10m

FUZZPARALLEL ?= $(shell nproc)
# go test's 10-minute limit would end a long fuzzing run (`make fuzz FUZZTIME=1h`) in a panic;
# the smoke run in make test keeps a limit so that a hang fails rather than stalls.
FUZZTIMEOUT ?= 0
fuzz:
	@set -e; for f in $(FUZZERS); do \
		echo "--- $${f#*:} ($${f%%:*}, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x -parallel $(FUZZPARALLEL) -timeout $(FUZZTIMEOUT) $${f%%:*}; \
	done

# Flake check: N full runs under background load (see .ci/flake). Slow: ~N x 6 min.
N ?= 5
flake: deps
	.ci/flake $(N)

# The screenshot tests make pictures rather than check much, so make test skips them; they run
# when SWITCHBOARD_SCREENSHOTS names the folder to write to.
SCREENSHOTS ?= $(CURDIR)/bin/screenshots
screenshots: deps
	SWITCHBOARD_SCREENSHOTS=$(SCREENSHOTS) $(GO) test -count=1 -run 'TestWebScreenshots|TestWebCallTurnsCalleeRedThenGreen' -v ./api ./cmd/switchboard
	@echo "pictures in $(SCREENSHOTS)"

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin $(DIST) $(WEB_BUNDLE) web/phone/node_modules
	$(GO) clean -testcache
