"""``xlm-hf reproduce``: a study of recipes — pretraining variants × fine-tuning seeds — and its report.

plan (`plan`: the steps and their directories) → run (`run`: one subprocess per step, resumable;
its ``main`` is the command) → report (`report`: tables and plots; `alignment`: the
translation-retrieval probe). ``python -m xlm_hf.reproduce`` runs the command too.
"""
