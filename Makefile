# The two commands of README: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint

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
