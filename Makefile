# The two commands of the README: `make run` and `make test`. Everything else is their plumbing.
SHELL := /bin/bash
VENV := .venv

.PHONY: run test bench lint format

$(VENV)/.run-installed: requirements.txt
	scripts/bootstrap.sh requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt
	scripts/bootstrap.sh requirements-dev.txt
	touch $(VENV)/.run-installed $@

.env:
	python3 scripts/write_env.py .env

run: $(VENV)/.run-installed .env  ## serve the portal with demo data on http://127.0.0.1:8000
	scripts/run.sh

test: $(VENV)/.dev-installed  ## install what the tests need, start PostgreSQL and Redis, run every test
	scripts/test.sh

bench: $(VENV)/.dev-installed  ## run every benchmark side by side, write docs/benchmarks.md and .json
	scripts/bench.sh $(ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.dev-installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
