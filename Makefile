# rmbench developer entry points. `make test` and `make demo` build their own venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_DISABLE_TELEMETRY := 1

.PHONY: install install-dev test demo lint bench clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

# torch is pinned to the CPU wheel so pip never pulls a multi-GB CUDA build. Our machines
# serve that wheel from pip's configured find-links; elsewhere pass the CPU index, e.g.
#   make test TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIP_ARGS ?=
# The vllm wheel without its dependencies: only its pure-Python request/response classes are
# used, by the vllm/ test stand-in (tests/judges/vllm_standin.py); without it the stand-in uses
# its own copies of them and tests/judges/test_vllm_standin.py skips.
VLLM_CLASSES ?= vllm==0.34.0
$(VENV)/.dev: $(VENV)/.core
	$(PY) -m pip install -q torch==2.13.0 $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q -e '.[hf,dev,lm-eval,vllm-classes,ray]'
	$(PY) -m pip install -q --no-deps '$(VLLM_CLASSES)' \
	  || echo "make: could not install $(VLLM_CLASSES); the vllm/ stand-in uses its copies of vLLM's classes" >&2
	touch $@

install: $(VENV)/.core

install-dev: $(VENV)/.dev

test: $(VENV)/.dev
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q $(PYTEST_ARGS)

demo: $(VENV)/.core
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/rmbench demo

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check rmbench tests bench

bench: $(VENV)/.dev
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) dist build .pytest_cache
