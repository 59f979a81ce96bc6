# skiff's verbs. `make help` lists them.
SHELL := /bin/bash
GO ?= go
BIN := bin
GOFLAGS_BUILD := -trimpath
TEST_TIMEOUT ?= 60m

.DEFAULT_GOAL := help

.PHONY: help
help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the Debian packages skiff needs (containerd, runc, CNI plugins, iptables, etcd)
	@./scripts/install-deps.sh

.PHONY: build
build: ## Build skiffd and skiff into bin/
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/ ./cmd/skiffd ./cmd/skiff

.PHONY: test
test: deps ## Run all tests: unit, integration (real etcd) and e2e (root: containerd, CNI, iptables)
	$(GO) vet ./...
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

.PHONY: e2e
e2e: deps build ## Run only the end-to-end tests (root)
	$(GO) test -timeout $(TEST_TIMEOUT) -count=1 -v ./test/e2e/...

BENCH_AREAS := api sched plugin reconcile pod net proxy
.PHONY: bench
bench: $(addprefix bench-,$(BENCH_AREAS)) ## Run every benchmark; prints BENCH <name> <value> <unit> lines

.PHONY: bench-%
bench-%: ## Run one benchmark area, e.g. make bench-api
	@SKIFF_BENCH=1 $(GO) test -count=1 -timeout 15m -run '^TestBench' -v ./test/bench/$*/... | grep -E '^BENCH |^(FAIL|ok|---)' 

.PHONY: wasm
WASM_EXAMPLES := zone-pref app-limit require-requests
wasm: ## Build the WASM example plugins into bin/wasm/ and the process example into bin/plugins/
	@mkdir -p $(BIN)/wasm $(BIN)/plugins
	@for x in $(WASM_EXAMPLES); do \
		echo "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o $(BIN)/wasm/$$x.wasm ./wasm-examples/$$x"; \
		GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $(BIN)/wasm/$$x.wasm ./wasm-examples/$$x || exit 1; \
	done
	$(GO) build -o $(BIN)/plugins/zone-pref-process ./wasm-examples/zone-pref/process

.PHONY: run
run: build ## Run a one-node cluster in the foreground (data in /var/lib/skiff)
	sudo $(BIN)/skiffd server

.PHONY: up
up: deps build ## Bring up a one-node cluster in the background and deploy the example app
	./scripts/up.sh

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN)
