# The README's two promises: `make demo` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test setup venv engine images browser lint clean

demo: setup
	$(BIN)/selma3d demo --out runs/demo

test: setup browser
	$(BIN)/python -m pytest

setup: venv engine images

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,deep]'
	touch $(STAMP)

engine:
	bash docker/ensure-engine.sh

images: venv engine
	bash docker/build-images.sh

# Headless Chromium renders the HTML report in the tests.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the report tests"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) runs docker/.cache
