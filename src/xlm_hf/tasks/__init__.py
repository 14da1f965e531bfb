"""Cross-lingual tasks for ``xlm-hf finetune`` and ``xlm-hf evaluate``: sentence and pair
classification, token classification (NER), extractive QA and sentence retrieval, each read from
local files or the hub, encoded the XLM way, scored per language. `kinds` names what each type
does; XNLI is the ``pair-classification`` preset `presets.xnli`."""
