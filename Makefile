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

# llama-cpp-python (the llamacpp extra) is published as source only. It is compiled here once,
# portable (GGML_NATIVE=OFF: AVX2 kernels; a native build enables AMX on recent Xeons, whose
# kernels crash there, llama.cpp #20824) and without the multimodal library (LLAVA_BUILD=OFF:
# rmbench judges text, and the build is shorter: bench/RESULTS.md). The wheel is kept in
# LLAMA_WHEELS so that a new venv installs it in seconds; it goes in first, so that nothing builds it again from source.
# A failed build only makes the llama.cpp tests skip (they say why).
# Faster builds for your CPU: docs/laptop.md.
LLAMA_CPP_VERSION ?= 0.3.36
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF
LLAMA_WHEELS ?= $(HOME)/.cache/rmbench/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(shell printf '%s' '$(LLAMA_CMAKE_ARGS)' | cksum | cut -d' ' -f1)
$(VENV)/.llama: $(VENV)/.dev
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building llama-cpp-python $(LLAMA_CPP_VERSION) with $(LLAMA_CMAKE_ARGS) (several minutes, once)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc 2>/dev/null || echo 2) \
	    $(PY) -m pip wheel -q --no-deps --no-cache-dir -w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_CPP_VERSION) \
	    || echo "could not build llama-cpp-python: the llama.cpp tests will skip"; \
	fi
	@if ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  $(PY) -m pip install -q --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl && \
	  $(PY) -m pip install -q -e '.[llamacpp,test-model]' && touch $@; \
	fi

install: $(VENV)/.core

install-dev: $(VENV)/.dev $(VENV)/.llama

# The whole suite, slow tests included, on one pytest-xdist worker per core (at most 4; two on the
# 2-core CI machine). Work stealing keeps both busy while the long real-model tests run.
# PYTEST_WORKERS=0 runs everything in this one process (easier to debug): bench/RESULTS.md.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)
# Bytecode caches are written even where PYTHONDONTWRITEBYTECODE is set: without them every worker
# compiles every module again, and pytest rewrites the asserts of every test module again, on
# every run (about 4 s of CPU per worker).
test: $(VENV)/.dev $(VENV)/.llama
	PYTHONDONTWRITEBYTECODE= HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q \
	  -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

demo: $(VENV)/.core
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(VENV)/bin/rmbench demo

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check rmbench tests bench

bench: $(VENV)/.dev $(VENV)/.llama
	HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(PY) bench/run_all.py

clean:
	rm -rf $(VENV) dist build .pytest_cache
