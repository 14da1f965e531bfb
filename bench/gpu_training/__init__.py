"""GPU training, side by side in one run: xlm-hf's GPU path against HF's way (``bash bench/gpu_check.sh``).

First a preflight on the device (a tiny model: the fused path's loss and gradients against HF's,
eager and compiled; whether its attention layouts reach the flash and memory-efficient kernels;
the host syncs of one fused step), then the rows (each run a fresh subprocess, so compile
caches, memory peaks and crashes stay its own):

- ``mlm-95k``: the paper's model (emb 1024, 12 layers, 8 heads, GELU, dropout 0.1), MLM on packed
  streams of 256 tokens, 64 per step, bf16 autocast with fp32 master weights, a 95k vocabulary
  padded as ``make bench`` pads it (the ids in use are those of a 3k vocabulary; the rest never
  occur, but the output layer has all 95k rows). ``xlm_hf``: `PretrainTrainer` over
  `MixtureBatches` and `MaskingCollator`, `XLMWithTargetedLMHead` on the fused path
  (``training_kernels: fused``, which ``auto`` picks on CUDA; ``compile: auto``). ``hf``: what
  HF's ``run_mlm.py`` does: the same blocks as a dataset, `DataCollatorForLanguageModeling`,
  `XLMWithLMHeadModel` (logits at every position) and a plain `Trainer`, same hyperparameters.
- ``xnli``: sentence-pair classification, 32 pairs per step: `TaskTrainer`, `ClassificationCollator`
  (bucketed lengths) and `FusedXLMForSequenceClassification` against a plain `Trainer`,
  `DataCollatorWithPadding` and `XLMForSequenceClassification`, the same model.
- extras, each run when its whole allowance of time is left: ``mlm-tlm-hf-forward-sdpa`` and
  ``-eager`` (the toolkit's GPU runs before the fused path: `PretrainTrainer` on an MLM + TLM
  mixture with HF's forward, ``model.attention: sdpa`` or ``eager``: the configuration in which
  SDPA was slower; the profiles and sync counts say why), then ``mlm-95k-eager`` and
  ``xnli-eager`` (the fused path without ``torch.compile``: what compiling adds; an uncompiled
  twin runs first when its compiled run failed), and ``xnli-cudagraphs`` (the layer compiled with
  ``mode="reduce-overhead"``: CUDA graphs, an experiment for host-bound XNLI steps that no recipe
  offers yet). TLM pairs are 20-84 tokens, so those batches pad.

Data: synthetic, so that the GPU machine needs neither Moses nor ``datasets``: sentences of 8-40
tokens, each on one of 64 topics whose tokens follow a Zipf law over their own ranking of the 3k
ids (predicting a masked token needs its context), joined into streams with ``</s>`` as the
toolkit packs them; XNLI pairs whose label is the topic offset between premise and hypothesis.
Both paths read the same blocks or pairs; the order and masks are each trainer's own.

Each run: `Sizes.warmup` steps (``torch.compile`` happens in the first; `compile_seconds` is the
warm-up time beyond that of steady steps), `Sizes.timed` timed steps (CUDA synchronised at both
ends), one step
under ``torch.cuda.set_sync_debug_mode("warn")`` (host syncs counted, with where they come from),
one under the torch profiler (top operators by device time, and the device's busy share of the
step's wall time). tokens/s counts non-pad input tokens (summed on the device by a forward hook,
read once at the end). MFU = FLOPs per token (``make bench``'s formula, `bench.pretraining`) x
tokens/s / the GPU's dense bf16 peak (989 TFLOP/s for an H100 or H200). Peak memory is
``torch.cuda.max_memory_allocated`` through the timed steps. The loss is the mean logged over the
last `Sizes.log_every` of them. All runs together stay within ``GPU_CHECK_BUDGET`` seconds (450).

``GPU_CHECK_TINY=1``: a tiny model and a few steps, which runs on a CPU (the tests do this).
"""
