# The whole test suite: vet, then every test with the race detector. The
# store conformance suite starts a throwaway PostgreSQL 15 cluster from the
# machine's binaries (initdb, pg_ctl); with CI=true a missing PostgreSQL is a
# failure, not a skip. The crash tests (20 trials of kill -9 on the server)
# run on their own, once on SQLite and once on PostgreSQL, and print their
# trial counts. The leader failover test (two servers on one PostgreSQL, the
# leader killed) runs in the main line: TestLeaderFailoverPostgres.
.PHONY: test build release bench vulncheck

# pipefail: a failing test must fail the target even when its output is
# filtered.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

CRASH = TestCrashRecovery

test:
	go vet ./...
	go test -race -count=1 -skip '$(CRASH)' ./...
	go test -race -count=1 -run '$(CRASH)$$' -v ./cmd/shipgate
	go test -race -count=1 -run '$(CRASH)Postgres$$' -v ./cmd/shipgate

build:
	go build -o bin/shipgate ./cmd/shipgate

# A binary to ship: built with the toolchain that fixes the standard-library
# vulnerabilities govulncheck finds reachable in go1.26.8 (docs/security.md,
# "Dependencies and govulncheck"). The go command fetches that toolchain
# through the module proxy.
RELEASE_GO = go1.26.10
release:
	GOTOOLCHAIN=$(RELEASE_GO) go build -trimpath -o bin/shipgate ./cmd/shipgate
	GOTOOLCHAIN=$(RELEASE_GO) go version -m bin/shipgate | head -1

# Benchmarks recorded in docs/benchmarks.md. bench-router needs wrk (and
# nginx for its reference row): apt-get install wrk nginx.
.PHONY: bench-judges bench-router bench-canary
bench-judges:
	go run ./cmd/shipgate bench judges
bench-router:
	go run ./cmd/shipgate bench router
bench-canary:
	go test -run '^$$' -bench 'BenchmarkCanaryAbort|BenchmarkRollback' -benchtime 1x ./cmd/shipgate
	go test -run '^$$' -bench . ./internal/router ./internal/analysis ./internal/judgesim

bench:
	go test -run '^$$' -bench . -benchtime 1x -count 1 . ./internal/sqlstore ./internal/httpapi

# Known vulnerabilities reachable from the code, against a database built
# locally from golang.org/x/vulndb (docs/security.md); about a minute cold.
vulncheck:
	scripts/vulncheck
