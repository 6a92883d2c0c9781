# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install demo test test-unit lint-cypher bench clean

$(BIN)/kgn-align: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch is pinned to the CPU build in pyproject; install it first so nothing pulls CUDA.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[test,fast]"
	touch $@

install: $(BIN)/kgn-align

# ARGS passes options to the demo, e.g. make demo ARGS="--server arcadedb --keep-server"
demo: install
	$(BIN)/kgn-align demo $(ARGS)

# The plugin's own Java tests first (seconds), then everything else; the integration tests
# start Neo4j (fetched by mvn) and the embedded ArcadeDB server themselves.
test: install
	mvn -q -B -f plugin/pom.xml test -Dkgn.build.dir=$(CURDIR)/build/plugin
	$(BIN)/python -m pytest -q

test-unit: install
	$(BIN)/python -m pytest -q tests/unit

bench: install
	$(BIN)/python benchmarks/load_bench.py

clean:
	rm -rf $(VENV) .pytest_cache build   # your servers and models stay in ~/.kgn-align
