# The two commands of README: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test test-corpus lint

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/pgolf demo

lint: setup
	.venv/bin/ruff check bot tests benchmarks training
	.venv/bin/ruff format --check bot tests benchmarks
	.venv/bin/mypy

# The suite runs in parallel (pytest-xdist; tests that share a server or a port are pinned to one
# worker with xdist_group) inside a network namespace where only loopback exists.
PYTEST_WORKERS ?= auto
test: setup lint
	scripts/loopback.sh .venv/bin/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

# The extra suite: the tests marked `corpus`, against the real upstream fixtures
# (../shared/fixtures beside the repository, or FIXTURES_CORPUS=<folder>). Fails when absent.
FIXTURES_CORPUS ?= $(abspath ../shared/fixtures)
test-corpus: setup
	@test -d "$(FIXTURES_CORPUS)/parameter-golf/records" || { echo "test-corpus: no fixture corpus at $(FIXTURES_CORPUS) (set FIXTURES_CORPUS=<folder>)" >&2; exit 1; }
	FIXTURES_CORPUS="$(FIXTURES_CORPUS)" .venv/bin/python -m pytest -q -m corpus
