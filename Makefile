# The README's two promises: `make demo` and `make test` do all set-up on a fresh machine.
# SELMA3D_ENGINE=podman runs them on Podman instead of Docker (docker/ensure-engine.sh sets it up).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-podman setup venv engine images browser lint clean

demo: setup
	$(BIN)/selma3d demo --out runs/demo

test: setup browser
	$(BIN)/python -m pytest

# The real-container suites that must hold on every engine, run again on Podman: the hostile
# containers (exec and invoke), the runner, the client corpus, the evaluation container and
# what it leaves after Ctrl-C or kill -9, `docker save` tarballs and images pinned by id (a
# hostile round, moved tags, builds stopped at build_timeout_s), a round killed and resumed, a
# round compared across both engines, a round through two `selma3d worker --engine podman`;
# then the demo round.
PODMAN_SUITES := tests/integration/test_hostile_outputs.py tests/integration/test_containers.py \
	tests/harness/containers/test_invoke.py tests/harness/containers/test_runner.py \
	tests/harness/containers/test_engine.py tests/harness/containers/test_isolation.py \
	tests/packaging/test_client_corpus.py \
	tests/integration/test_evaluation_container.py tests/integration/test_evaluation_orphans.py \
	tests/harness/containers/test_image_tarball.py tests/harness/containers/test_images.py \
	tests/integration/test_image_pinning.py tests/integration/test_hostile_round.py \
	tests/integration/test_round.py::test_a_killed_round_resumes_to_the_same_leaderboard \
	tests/integration/test_engines.py \
	tests/harness/rounds/cluster/test_dispatch.py::test_a_round_through_two_workers_gives_the_local_table

test-podman: venv
	SELMA3D_ENGINE=podman $(MAKE) engine images
	SELMA3D_ENGINE=podman $(BIN)/python -m pytest -m docker $(PODMAN_SUITES)
	SELMA3D_ENGINE=podman $(BIN)/selma3d demo --out runs/demo-podman

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
