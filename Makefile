# Samvær sync. `make test` is what CI runs (through .ci/run); `make bench` prints benchmark
# figures beside their baselines measured in the same run.

BUF_VERSION            := v1.75.0
PROTOC_GEN_GO_VERSION  := v1.36.12
CONNECT_GEN_VERSION    := v1.21.1
GOBIN                  ?= $(shell go env GOPATH)/bin

# RAPID_CHECKS: cases per property test (read by the tests; make test-long runs many more).
RAPID_CHECKS ?= 30
# RAPID_SEED: the seed make test draws the e2e property tests' cases from, so a CI failure can be
# reproduced exactly; the checks are the same. make test-long draws new seeds every run: that is
# where new schedules are explored (a rare failure it found is open in the issue tracker).
RAPID_SEED ?= 20261201
# The PostgreSQL server the second pass of make test makes its databases on (one per test's data
# directory, dropped after): the store tests, the end-to-end tests and the convergence property
# test run once on SQLite and once on PostgreSQL. scripts/test-postgres.sh starts one if missing.
SAMVAER_TEST_POSTGRES ?= postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable

.PHONY: all build test test-long bench loadtest generate checkgenerate tools lint run deps bindcheck

all: lint test

build:
	go build -o bin/samvaer ./cmd/samvaer

# deps installs the Debian packages the tests use when they are missing (as root, as on CI):
# pdftotext reads exported PDFs back, Chromium runs the browser tests, jq and curl run the
# README's walk-through as written, PostgreSQL serves the tests' PostgreSQL pass.
deps:
	@scripts/test-postgres.sh
	@missing=""; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v jq >/dev/null || missing="$$missing jq"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi

test: deps
	RAPID_CHECKS=$(RAPID_CHECKS) RAPID_SEED=$(RAPID_SEED) go test -race -count=1 -timeout 20m ./...
	SAMVAER_TEST_POSTGRES='$(SAMVAER_TEST_POSTGRES)' RAPID_CHECKS=$(RAPID_CHECKS) RAPID_SEED=$(RAPID_SEED) go test -race -count=1 -timeout 20m ./server/ ./e2e/

# About ten times the cases of make test: each convergence case starts, kills and restores real
# processes (seconds a case under -race on two cores), so 1,000 would take hours.
test-long: deps
	RAPID_CHECKS=300 go test -race -count=1 -timeout 150m -run 'Property|Convergence|CommitOrder' ./...
	SAMVAER_TEST_POSTGRES='$(SAMVAER_TEST_POSTGRES)' RAPID_CHECKS=300 go test -race -count=1 -timeout 150m -run 'Property|Convergence|CommitOrder' ./e2e/

# Each benchmark reports its figure beside a baseline measured in the same run (ratio-* metrics).
# The push and no-op sync benchmarks run a second time on PostgreSQL, beside COPY into the same
# database as the raw baseline.
bench: deps
	go test -run '^$$' -bench . -benchtime 3x -timeout 60m ./e2e/
	go test -run '^$$' -bench . ./syncer/ ./clientlib/ ./server/
	SAMVAER_TEST_POSTGRES='$(SAMVAER_TEST_POSTGRES)' go test -run '^$$' -bench 'BenchmarkPush$$|BenchmarkNoopSync' -benchtime 1x -timeout 60m ./e2e/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1)
	go vet ./...

run:
	go run ./cmd/samvaer serve

tools:
	GOBIN=$(GOBIN) go install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)
	GOBIN=$(GOBIN) go install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(GOBIN) go install connectrpc.com/connect/cmd/protoc-gen-connect-go@$(CONNECT_GEN_VERSION)
	GOBIN=$(GOBIN) go install golang.org/x/mobile/cmd/gobind # the version go.mod pins

# bindcheck fails when clientlib/mobile cannot be bound for Android (Java) and iOS (Objective-C).
bindcheck:
	@out=$$(mktemp -d) && trap 'rm -rf "$$out"' EXIT && \
	PATH="$(GOBIN):$$PATH" gobind -lang=go,java,objc -outdir "$$out" ./clientlib/mobile 2>&1 | tee "$$out/log" && \
	! grep -q . "$$out/log" && test -s "$$out/java/mobile/App.java" && test -s "$$out/src/gobind/Mobile.objc.h" && \
	echo "gobind: clientlib/mobile binds to Java and Objective-C"

generate:
	PATH="$(GOBIN):$$PATH" buf lint
	rm -rf gen
	PATH="$(GOBIN):$$PATH" buf generate

# checkgenerate fails when the committed generated code differs from what the protos produce.
checkgenerate: generate
	@git diff --exit-code --stat -- gen || (echo "generated code is stale: run make generate and commit"; exit 1)
	@test -z "$$(git status --porcelain -- gen)" || (git status --porcelain -- gen; echo "generated files not committed"; exit 1)

# The load test (docs/benchmarks.md, "Load test"): LOAD_TABLETS simulated tablets, each holding a
# Subscribe stream and syncing LOAD_CHANGES observations every LOAD_INTERVAL, for LOAD_DURATION of
# steady state against two server instances on PostgreSQL and then one on SQLite, over loopback.
# Bounded: at most a few minutes of setup and LOAD_DURATION per target. Not run by make test.
LOAD_TABLETS  ?= 1000
LOAD_INTERVAL ?= 5s
LOAD_CHANGES  ?= 3
LOAD_DURATION ?= 60s

loadtest: deps
	SAMVAER_LOAD=1 SAMVAER_TEST_POSTGRES='$(SAMVAER_TEST_POSTGRES)' SAMVAER_LOAD_TABLETS=$(LOAD_TABLETS) \
	SAMVAER_LOAD_INTERVAL=$(LOAD_INTERVAL) SAMVAER_LOAD_CHANGES=$(LOAD_CHANGES) SAMVAER_LOAD_DURATION=$(LOAD_DURATION) \
	go test -count=1 -timeout 30m -run '^TestLoad$$' -v ./e2e/
