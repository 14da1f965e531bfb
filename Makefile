# Every target is one line that calls the CLI (or pip / pytest); choices live in recipes.
# Variables: RECIPE= (a recipe YAML), DATA_DIR= (data directory), MODEL= (HF XLM dir), XNLI_DIR=,
# SUITE_DATA= (studies/suite_data.py's output),
# TORCH= (the torch requirement installed first; the default is the CPU build these machines hold),
# DEEPSPEED= (the deepspeed requirement installed last, against that torch).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
# DeepSpeed builds against the installed torch (its setup imports torch): hence no build isolation
# and a step of its own; DEEPSPEED= (empty) skips it, and its tests then skip with the reason.
DEEPSPEED ?= deepspeed>=0.16
BIN := $(VENV)/bin
export DATA_DIR MODEL XNLI_DIR SUITE_DATA

.PHONY: install test test-fast lint format vocab prepare-data pretrain finetune-xnli finetune evaluate reproduce bench clean

$(BIN)/xlm-hf: pyproject.toml
	$(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q "$(TORCH)" && $(BIN)/pip install -q -e ".[dev]" \
	  $(if $(DEEPSPEED),&& $(BIN)/pip install -q --no-build-isolation "$(DEEPSPEED)") && touch $@

install: $(BIN)/xlm-hf

test: $(BIN)/xlm-hf
	$(BIN)/pytest -q

test-fast: $(BIN)/xlm-hf
	$(BIN)/pytest -q -m "not slow and not realdata"

lint: $(BIN)/xlm-hf
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(BIN)/xlm-hf
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

vocab: $(BIN)/xlm-hf
	$(BIN)/xlm-hf vocab --config $(or $(RECIPE),recipes/vocab/sample.yaml)

prepare-data: $(BIN)/xlm-hf
	$(BIN)/xlm-hf prepare-data --config $(or $(RECIPE),recipes/pretrain/sample-mlm-tlm.yaml)

pretrain: $(BIN)/xlm-hf
	$(BIN)/xlm-hf pretrain --config $(or $(RECIPE),recipes/pretrain/sample-mlm-tlm.yaml)

# The sample's model comes from `make pretrain` (fine-tuning never pretrains): with the default
# recipe and no MODEL, it is made first when missing.
SAMPLE_MODEL := runs/pretrain/sample-mlm-tlm/config.json

finetune-xnli: $(BIN)/xlm-hf $(if $(RECIPE)$(MODEL),,$(SAMPLE_MODEL))
	$(BIN)/xlm-hf finetune-xnli --config $(or $(RECIPE),recipes/xnli/sample.yaml)

$(SAMPLE_MODEL): | $(BIN)/xlm-hf
	$(BIN)/xlm-hf pretrain --config recipes/pretrain/sample-mlm-tlm.yaml

finetune: $(BIN)/xlm-hf $(if $(RECIPE)$(MODEL),,$(SAMPLE_MODEL))
	$(BIN)/xlm-hf finetune --config $(or $(RECIPE),recipes/tasks/sample-ner.yaml)

evaluate: $(BIN)/xlm-hf $(if $(RECIPE)$(MODEL),,$(SAMPLE_MODEL))
	$(BIN)/xlm-hf evaluate --config $(or $(RECIPE),recipes/suites/sample.yaml)

reproduce: $(BIN)/xlm-hf
	$(BIN)/xlm-hf reproduce --config $(or $(RECIPE),recipes/reproduce/cpu-xnli15.yaml)

bench: $(BIN)/xlm-hf
	$(BIN)/python -m bench

clean:
	rm -rf runs
