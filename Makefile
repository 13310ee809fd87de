# The test command README.md names; CI (.ci/run) runs it.
GO ?= go

.PHONY: test build vet fmt bench

test: vet
	$(GO) test -race -timeout 25m ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo 'gofmt: files above need formatting'; exit 1)
	$(GO) vet ./...

build:
	$(GO) build -o bin/sipht ./cmd/sipht

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...
