# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
OUT ?= out

.PHONY: demo test install clean

$(BIN)/elsewhere: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# The CPU build of torch first, so that the dependency below is already met.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/elsewhere

demo: install
	$(BIN)/elsewhere generate --out $(OUT)/dataset --size small --overwrite

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) $(OUT)
