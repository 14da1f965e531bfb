#!/usr/bin/env bash
# The GPU measurement (issue 15), in one run of at most 7.5 minutes on one H200, compile included:
#     GPU_CHECK_OUT=dir bash bench/gpu_check.sh
# xlm-hf's GPU path (fused attention, one compiled layer, no host sync, target-only loss, fused
# AdamW, bf16) against HF's way (`XLMWithLMHeadModel` + `Trainer`, as run_mlm does) on the paper's
# model at a 95k vocabulary, and XNLI fine-tuning against a plain `Trainer` +
# `XLMForSequenceClassification`: tokens/s, MFU, peak GPU memory, loss, host syncs per step and a
# profile of each path. Writes bench/gpu_results.json (and, with GPU_CHECK_OUT, a copy and the
# runs' log there) and prints the README table. See bench/gpu_training/ (runs.py) for what each row runs.
#   GPU_CHECK_TINY=1     a tiny model and a few steps: runs on a CPU (the tests use it)
#   GPU_CHECK_RUNS="mlm-95k xnli:hf"   a subset of runs (add "preflight" to keep it);  GPU_CHECK_BUDGET=450   seconds for all runs
#   GPU_CHECK_RESULTS=path             where the results file goes
#   GPU_CHECK_TRACE=dir                each run's profiled step as dir/trace-<run>-<path>.json.gz
# Needs torch, transformers, accelerate, tokenizers and numpy only (no datasets, no Moses).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec "${PYTHON:-python3}" -m bench.gpu_training
