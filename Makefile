# svcresearch — every target sets up .venv first when it is missing or out of date.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup git-filter lab reproduce test benchmark lock default-study clean-outputs

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	@touch $(STAMP)

setup: $(STAMP) git-filter ## Create .venv, install the pinned dependencies, set up the notebook git filter

# Notebooks enter git stripped of outputs (.gitattributes: notebooks/*.ipynb filter=svcresearch-strip);
# this registers the filter's command in .git/config. Outside a git work tree it does nothing.
git-filter: $(STAMP)
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config filter.svcresearch-strip.clean "'$(abspath $(BIN))/python' -m svcresearch.nbstrip" && \
	  echo "git: notebooks are stripped of outputs on commit (filter svcresearch-strip)"; \
	fi

lab: setup ## Open the notebooks in JupyterLab on the active study (STUDY=PATH to switch study first)
	$(BIN)/python -m svcresearch.lab $(if $(STUDY),--study "$(STUDY)")

reproduce: $(STAMP) git-filter ## Clean the active study (default data/raw), execute every notebook, fill reports/
	$(BIN)/svcresearch reproduce

test: $(STAMP) git-filter ## Run the whole test suite (includes headless notebook execution)
	$(BIN)/python -m pytest -q

benchmark: $(STAMP) ## Run the speed benchmarks in benchmarks/ (slow; not part of the tests)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

.PHONY: recovery
recovery: $(STAMP) ## Parameter recovery: 1,000 replicated default studies -> reports/tables/parameter_recovery.csv (resumable; about 40 min on 2 idle cores)
	$(BIN)/python -m svcresearch.recovery --replications $(or $(REPLICATIONS),1000)

.PHONY: correction-recovery
correction-recovery: $(STAMP) ## Coder-error correction over 500 replicated default studies (true codes / naive / MC-SIMEX) -> reports/tables/correction_recovery.csv (resumable; about 55 min on 2 idle cores)
	$(BIN)/python -m svcresearch.recovery --replications 0 --correction $(or $(REPLICATIONS),500)

default-study: $(STAMP) ## Regenerate the simulated default study in data/raw (seed 20261122)
	$(BIN)/svcresearch simulate --encounters 2400 --seed 20261122 --out data/raw --force

lock: ## Re-resolve dependencies in a scratch venv and rewrite requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	.lock-venv/bin/python -m pip freeze --exclude-editable | sort > requirements.lock
	rm -rf .lock-venv

clean-outputs: ## Remove generated data/processed and reports (never touches data/raw)
	find data/processed -mindepth 1 ! -name README.md -delete
	find reports -type f ! -name .gitkeep -delete
