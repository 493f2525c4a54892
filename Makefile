# pairpad: `make run` and `make test` are all a new machine with Go needs.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/pairpad/pairpad/shared/buildinfo.Version=$(VERSION)
# The Go modules are the ones go.work uses (./shared, ./services/api, ...); their
# packages, leaving out any Go file an npm package ships in a node_modules folder.
MODULE_DIRS = $(shell $(GO) work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
MODULES = $(shell $(GO) list $(addsuffix /...,$(MODULE_DIRS)) | grep -v /node_modules/)
NATSCLI_VERSION := v0.3.0
# staticcheck 2026.2.2, the release for Go 1.26
STATICCHECK_VERSION := v0.8.2
BIN := $(CURDIR)/bin
export PATH := $(BIN):$(PATH)

.PHONY: run test test-deps test-go test-js test-fuzz fuzz bench bench-ab build editor lint tools images clean

## run: the all-in-one (api + realtime + janitor + embedded NATS) on :3001
run: editor
	$(GO) run -ldflags "$(LDFLAGS)" ./deploy/local/cmd/pairpad

## editor: the demo page's editor bundle (CodeMirror 6 and its languages from npm, per
## clients/js/package-lock.json, bundled by esbuild) into clients/js/dist/, which the binaries embed
EDITOR_BUNDLE := clients/js/dist/editor.js
editor: $(EDITOR_BUNDLE)

$(EDITOR_BUNDLE): clients/js/package-lock.json clients/js/build.mjs $(wildcard clients/js/*.js clients/js/bundle/*.js)
	npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
	node clients/js/build.mjs

## test: installs what the tests need, lints, then runs every test with -race
test: test-deps lint test-go test-fuzz test-js

test-go:
	$(GO) test -race -count=1 -timeout 30m $(MODULES)

## test-fuzz: every fuzz target for 2,000 executions (the seed corpora already run in test-go)
test-fuzz:
	bash scripts/fuzz.sh 2000x

## fuzz: every fuzz target for FUZZTIME seconds each (default 60)
FUZZTIME ?= 60
fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

## test-js: the client package's unit tests (node --test) and the browser tests (Playwright driving Debian's Chromium):
## the demo page, a whole interview on it (three people), and the React + Monaco example built with Vite
test-js:
	cd clients/js && node --test test/
	cd tests/browser && PAIRPAD_BIN=$(BIN)/pairpad node --test e2e.test.mjs
	cd tests/browser && PAIRPAD_BIN=$(BIN)/pairpad node --test interview.test.mjs
	cd tests/browser && PAIRPAD_BIN=$(BIN)/pairpad node --test monaco.test.mjs

## test-deps: npm packages of the test clients (from their lockfiles), Chromium, the nats CLI
test-deps: tools build
	npm ci --prefix testclients/socketio --no-audit --no-fund --loglevel=error
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	npm ci --prefix clients/js --no-audit --no-fund --loglevel=error
	npm ci --prefix examples/react-monaco --no-audit --no-fund --loglevel=error
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium"; \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; fi; }

## tools: the nats CLI and staticcheck at pinned versions, into bin/
tools: $(BIN)/nats $(BIN)/staticcheck

$(BIN)/nats:
	GOBIN=$(BIN) $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)

$(BIN)/staticcheck:
	GOBIN=$(BIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## build: static binaries into bin/ (with the editor bundle)
build: editor
	mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/api ./services/api/cmd/api
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/realtime ./services/realtime/cmd/realtime
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/janitor ./services/janitor/cmd/janitor
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/pairpad ./deploy/local/cmd/pairpad

## images: OCI image tarballs bin/images/<process>.tar, no Docker (crane push / docker load them)
images: build
	SOURCE_DATE_EPOCH=$$(git log -1 --format=%ct 2>/dev/null || echo 0) \
	$(GO) run ./deploy/images/cmd/mkimage -version $(VERSION) -bin $(BIN) -out $(BIN)/images api realtime janitor

## bench: every issue-16 target against freshly built servers, the floor (a bare relay) beside each latency
## figure, targets 1 and 4 as the median of 3 pairs of windows (~30 min on a quiet 2-core machine, ~37 by
## the runner's estimate; see docs/benchmarks.md); results in bench/results/, plots in docs/benchmarks/
bench:
	$(GO) run ./bench/cmd/benchrun -out bench/results -plots docs/benchmarks

## bench-ab: the all-in-one with NATS_IN_PROCESS=false against the default, interview-light 1,000x3, three
## 30 s runs a side, alternating (~5 min); medians in bench/results/ (other settings: benchrun -ab-env)
bench-ab:
	$(GO) run ./bench/cmd/benchrun -only interview-ab -out bench/results -plots ""

## lint: no tracked file over 1 MB, gofmt, go vet and staticcheck
lint: $(BIN)/staticcheck
	@big=$$(git ls-files -z | xargs -0 -r stat -c '%s %n' 2>/dev/null | awk '$$1 > 1048576 { sub(/^[0-9]+ /, ""); print }'); \
	if [ -n "$$big" ]; then echo "tracked files over 1 MB (build outputs belong in bin/ or .gitignore):"; echo "$$big"; exit 1; fi
	@out=$$(git ls-files -z '*.go' | xargs -0 -r gofmt -l); if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi
	$(GO) vet $(MODULES)
	$(BIN)/staticcheck $(MODULES)

clean:
	rm -rf $(BIN) .data
