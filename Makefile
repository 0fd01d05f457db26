# The whole test suite: vet, then every test with the race detector. The
# store conformance suite starts a throwaway PostgreSQL 15 cluster from the
# machine's binaries (initdb, pg_ctl); with CI=true a missing PostgreSQL is a
# failure, not a skip.
.PHONY: test build bench

test:
	go vet ./...
	go test -race -count=1 ./...

build:
	go build -o bin/shipgate ./cmd/shipgate

# Benchmarks recorded in docs/benchmarks.md.
bench:
	go test -run '^$$' -bench . -benchtime 1x -count 1 . ./internal/sqlstore ./internal/httpapi
