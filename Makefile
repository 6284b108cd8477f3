# The developer's manual: `make help` lists the targets.
SHELL := /bin/bash
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
GO ?= go
BIN := bin/receiver
# TEST_TIMEOUT bounds one package's tests.
TEST_TIMEOUT ?= 15m
# The browser test saves its dashboard screenshots here.
export TEST_ARTIFACTS_DIR ?= $(CURDIR)/test-artifacts

.PHONY: help build run run-smoke test test-short lint bench crash-test demo fuzz docker image-test manifests clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build a static binary into bin/receiver
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/receiver

# make run's listeners (override e.g. RUN_LISTEN_ADDR=127.0.0.1:18080).
RUN_LISTEN_ADDR ?= 127.0.0.1:8080
RUN_ADMIN_ADDR ?= 127.0.0.1:9090

run: build ## run the receiver on SQLite (data/) with a generated development secret
	@mkdir -p data
	@test -s data/dev-secret || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > data/dev-secret)
	@echo "receiver: webhooks on http://$(RUN_LISTEN_ADDR)/hooks/prolific, admin on http://$(RUN_ADMIN_ADDR)/"
	@echo "receiver: in another terminal, post a signed test event with:"
	@echo "  $(BIN) send -url http://$(RUN_LISTEN_ADDR)/hooks/prolific -secret-file data/dev-secret"
	env -u PROLIFIC_WEBHOOK_SECRET RECEIVER_LISTEN_ADDR=$(RUN_LISTEN_ADDR) RECEIVER_ADMIN_ADDR=$(RUN_ADMIN_ADDR) \
		PROLIFIC_WEBHOOK_SECRET_FILE=data/dev-secret \
		RECEIVER_STORE=sqlite:data/receiver.db RECEIVER_LOG_FORMAT=console ./$(BIN) serve

run-smoke: ## check that make run starts, stores a signed event and stops cleanly (free ports)
	bash scripts/run-smoke.sh

test: ## run every test with -race (and the allocation counts without it), then the deploy checks (alert-rule tests, dashboard, compose, Helm chart and manifests) (PostgreSQL tests need RECEIVER_TEST_POSTGRES_DSN)
	$(GO) vet ./...
	$(GO) test -race -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -run 'Allocations$$' ./internal/handlers ./internal/prolific ./internal/store
	bash deploy/check.sh

test-short: ## quick tests without -race
	$(GO) test -short ./...

lint: ## go vet, gofmt and staticcheck when installed
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	@if command -v staticcheck >/dev/null; then staticcheck ./...; else echo "staticcheck not installed: skipped"; fi

fuzz: ## run each fuzz target for FUZZTIME (default 20s)
	bash scripts/fuzz.sh $${FUZZTIME:-20s}

bench: ## measure throughput, latency and memory against a bare HTTP ceiling (writes bench/results.md)
	bash bench/run.sh

crash-test: ## kill -9 the receiver, cut or crash PostgreSQL, cut the disk's power under SQLite (FUSE, docs/powerloss.md), all under load; prove no acknowledged event is lost (CRASH_ROUNDS, POWER_ROUNDS)
	CRASH_ROUNDS=$${CRASH_ROUNDS:-10} POWER_ROUNDS=$${POWER_ROUNDS:-24} $(GO) test -count=1 -timeout 30m -run '^(TestCrash|TestCrashPowerLoss)$$' -v ./cmd/receiver/

demo: build ## run the fake Prolific, bootstrap the receiver against it and simulate a study, with the example rules live
	bash scripts/demo.sh

docker: ## build the container image
	docker build --build-arg VERSION=$(VERSION) -t prolific-receiver:$(VERSION) .

image-test: ## build the image from the Dockerfile with podman and run it (user, read-only root, /data, healthcheck, webhook, SIGTERM)
	bash scripts/image-test.sh

manifests: ## render deploy/kubernetes from the Helm chart deploy/helm/prolific-receiver
	cd deploy/helm/chartcheck && $(GO) run ./manifests

clean: ## remove build output (keeps data/)
	rm -rf bin
