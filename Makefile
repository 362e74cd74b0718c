# Two entry points do all set-up on a fresh machine: `make demo` and `make test`.
# Both install exactly the versions in requirements/lock.txt (hash-checked); see docs/development.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
LOCK   := requirements/lock.txt
BOOT   := requirements/bootstrap.txt
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# The lock is resolved for the machines the product runs on: CPython 3.11, x86_64 Linux, glibc >= 2.28.
LOCK_TARGET := --python-version 3.11 --python-platform x86_64-manylinux_2_28
UV_COMPILE  := $(BIN)/uv pip compile --quiet --generate-hashes $(LOCK_TARGET) --custom-compile-command 'make lock'
LATEST := .venv-latest
# The hot modules compiled with mypyc (obs/native.py lists them; build_native.py builds them into build/native/).
NATIVE := build/native/manifest.json
NATIVE_BUILD = $(BIN)/python build_native.py
# The focused hot-path tests, run a second time on the pure-Python modules (GATEWAY_PURE_PYTHON=1).
PURE_TESTS := tests/test_native.py tests/test_engine.py tests/test_strategy_session.py tests/test_latency.py \
	tests/ouch/test_codec.py tests/ouch/test_codec_accepted_core.py tests/ouch/test_adapter.py \
	tests/ouch/test_soupbin.py tests/ouch/test_soup_client.py tests/ouch/test_compare.py tests/ouch/test_accepted_mismatch.py \
	tests/risk/test_checks.py tests/risk/test_passes_new.py \
	tests/risk/test_throttle.py tests/risk/test_exposure.py tests/risk/test_failclosed.py tests/test_journal_contract.py \
	tests/test_journal_pack.py tests/ouch/test_flush_send_time.py \
	tests/test_journal_mmap.py tests/test_journal_pages.py tests/test_journal_descriptors.py tests/test_replay_heartbeats.py \
	tests/bench/test_call_budget.py \
	tests/fix/test_codec.py tests/fix/test_adapter.py tests/fix/test_store.py tests/fix/test_session.py tests/test_compiled_slices.py \
	tests/regressions/test_fix_damaged_store_record.py tests/test_fair_reads.py

.PHONY: demo test lint typecheck unit unit-pure venv native lock lock-upgrade test-latest clean bench-doc

$(STAMP): $(LOCK) $(BOOT) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r $(BOOT)
	$(PIP) install --quiet --require-hashes --no-deps --no-build-isolation -r $(LOCK)
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Built when missing or older than the venv or build_native.py; then `native` rebuilds whenever
# `build_native.py --check` fails: the same test obs/native.py makes at import (the manifest's hash of every
# runtime source, so an edited, added, deleted or renamed file counts, whatever its date). A stale build is
# never used: obs/native.py falls back to pure Python.
$(NATIVE): $(STAMP) build_native.py
	$(NATIVE_BUILD)

native: $(NATIVE)
	@$(BIN)/python build_native.py --check || $(NATIVE_BUILD)

venv: $(STAMP) native

demo: $(STAMP) native
	$(BIN)/gateway demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) native
	$(BIN)/pytest -q

unit-pure: $(STAMP)
	GATEWAY_PURE_PYTHON=1 $(BIN)/pytest -q $(PURE_TESTS)

test: lint typecheck unit unit-pure

# Re-resolve after editing dependencies in pyproject.toml or requirements/*.in: keeps every pin that still fits.
lock: $(STAMP)
	$(UV_COMPILE) requirements/bootstrap.in -o $(BOOT)
	$(UV_COMPILE) pyproject.toml requirements/bootstrap.in requirements/dev.in --all-extras -c $(BOOT) -o $(LOCK)

# Move every pin to the newest release (run `make test-latest` first to see what that breaks).
lock-upgrade: $(STAMP)
	$(UV_COMPILE) --upgrade requirements/bootstrap.in -o $(BOOT)
	$(UV_COMPILE) --upgrade pyproject.toml requirements/bootstrap.in requirements/dev.in --all-extras -c $(BOOT) -o $(LOCK)

# The whole suite against the newest releases, in a separate venv (the lock and .venv are not touched).
test-latest:
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip setuptools wheel
	$(LATEST)/bin/python -m pip install --quiet --upgrade --no-build-isolation -e '.[test,fix,bench,fuzz]'
	$(LATEST)/bin/python -m pip list --format=freeze > $(LATEST)/versions.txt
	$(LATEST)/bin/ruff check .
	$(LATEST)/bin/ruff format --check .
	$(LATEST)/bin/mypy
	GATEWAY_UNLOCKED=1 $(LATEST)/bin/pytest -q

# docs/performance.md's generated section, report.json and the plot, from one `gateway bench` run (~25 minutes;
# native first, so the timed runs use the current compiled modules; the header says which ran).
bench-doc: $(STAMP) native
	$(BIN)/gateway bench --repeat 2 --nice -20 --out docs/performance --doc docs/performance.md

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
