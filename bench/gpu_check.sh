#!/usr/bin/env bash
# GPU check, under 5 minutes on one GPU machine: `bash bench/gpu_check.sh` (OUT=dir keeps the runs).
# Pretrains the same model with fp32, bf16, fp16 and bf16 + SDPA attention on one GPU through `accelerate launch` and the
# shipped configs, then with DDP over every GPU when there are several, and prints a table of
# training tokens/s (evaluation excluded), peak GPU memory and the final training loss.
# Sizes: MODEL_ARGS / STEPS / BATCH override them (e.g. a tiny model for a dry run on a CPU);
# RUNS picks runs (default: fp32 bf16 fp16 bf16-sdpa ddp).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-check}
STEPS=${STEPS:-60}
BATCH=${BATCH:-64}
MODEL_ARGS=${MODEL_ARGS:-"model.emb_dim=1024 model.n_layers=12 model.n_heads=8 model.max_position_embeddings=512"}
PY=${PYTHON:-python3}
LAUNCH="$PY -m accelerate.commands.launch"
N_GPUS=$($PY -c "import torch; print(torch.cuda.device_count())")
mkdir -p "$OUT"
echo "GPUs: $N_GPUS; torch $($PY -c 'import torch; print(torch.__version__)'); $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"

# the sample vocabulary and tokenised corpora are built once, before the timed runs
$PY -m xlm_hf.cli vocab --config recipes/vocab/sample.yaml >/dev/null

run() {  # name, accelerate config, extra launch flags (recipe overrides in RECIPE_ARGS)
    local name=$1 config=$2; shift 2
    echo "== $name"
    $LAUNCH --config_file "recipes/accelerate/$config" "$@" -m xlm_hf.pretrain \
        --config recipes/pretrain/sample-mlm-tlm.yaml $MODEL_ARGS ${RECIPE_ARGS:-} \
        data.max_seq_length=256 data.tlm_max_len=120 \
        training.output_dir="$OUT/$name" training.max_steps="$STEPS" training.warmup_steps=10 \
        training.per_device_train_batch_size="$BATCH" training.eval_strategy=no training.save_strategy=no \
        training.logging_steps=20 training.disable_tqdm=true \
        > "$OUT/$name.log" 2>&1 || { tail -30 "$OUT/$name.log"; exit 1; }
}

want() { [[ " $RUNS " == *" $1 "* ]]; }  # RUNS="bf16 bf16-sdpa" runs a subset
RUNS=${RUNS:-"fp32 bf16 fp16 bf16-sdpa ddp"}
want fp32 && run fp32 single-gpu-bf16.yaml --mixed_precision no
want bf16 && run bf16 single-gpu-bf16.yaml
want fp16 && run fp16 single-gpu-bf16.yaml --mixed_precision fp16
want bf16-sdpa && RECIPE_ARGS=model.attention=sdpa run bf16-sdpa single-gpu-bf16.yaml
if want ddp && [ "$N_GPUS" -gt 1 ]; then
    run "ddp${N_GPUS}-bf16" multi-gpu-ddp-bf16.yaml --num_processes "$N_GPUS"
fi

$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = []
for path in sorted(out.glob("*/results.json"), key=lambda p: p.stat().st_mtime):
    r = json.loads(path.read_text())
    rows.append((path.parent.name, r["mixed_precision"], r["world_size"], r["train_tokens_per_second"],
                 r["peak_memory_mb"], r["train_loss"]))
base = next((row[3] for row in rows if row[0] == "fp32"), None)
print(f"{'run':<12} {'precision':<9} {'procs':>5} {'tokens/s':>10} {'vs fp32':>8} {'peak MB':>9} {'loss':>7}")
for name, prec, world, tps, mem, loss in rows:
    ratio = f"{tps / base:.2f}x" if base else "-"
    print(f"{name:<12} {prec:<9} {world:>5} {tps:>10.0f} {ratio:>8} {mem:>9.0f} {loss:>7.3f}")
json.dump([dict(zip(["run", "precision", "procs", "tokens_per_second", "peak_memory_mb", "train_loss"], r)) for r in rows],
          open(out / "gpu_check.json", "w"), indent=1)
PY
