# dispatcher developer tasks. `make test` is the command CI runs (.ci/run).
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)

.PHONY: build test vet fmt completions bench

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/dispatcher ./cmd/dispatcher

test: vet .ci/node_modules/.installed
	CI=$${CI:-true} $(GO) test -race -count=1 ./...

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

completions:
	$(GO) run ./cmd/dispatcher completion bash > completions/dispatcher.bash
	$(GO) run ./cmd/dispatcher completion zsh > completions/dispatcher.zsh
	$(GO) run ./cmd/dispatcher completion fish > completions/dispatcher.fish
	$(GO) run ./cmd/dispatcher completion powershell > completions/dispatcher.ps1

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Test-only npm packages (GitHub webhook examples and OpenAPI description, SARIF Multitool, DynamoDB Local, local-aws-sqs).
.ci/node_modules/.installed: .ci/package.json .ci/package-lock.json
	cd .ci && npm ci --no-audit --no-fund --loglevel=error
	touch $@
