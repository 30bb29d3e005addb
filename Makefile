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

test: setup lint
	.venv/bin/python -m pytest -q

# The extra suite: the tests marked `corpus`, against the real upstream fixtures
# (../shared/fixtures beside the repository, or FIXTURES_CORPUS=<folder>). Fails when absent.
FIXTURES_CORPUS ?= $(abspath ../shared/fixtures)
test-corpus: setup
	@test -d "$(FIXTURES_CORPUS)/parameter-golf/records" || { echo "test-corpus: no fixture corpus at $(FIXTURES_CORPUS) (set FIXTURES_CORPUS=<folder>)" >&2; exit 1; }
	FIXTURES_CORPUS="$(FIXTURES_CORPUS)" .venv/bin/python -m pytest -q -m corpus
