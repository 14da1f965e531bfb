"""The XLM vocabulary's fixed ids, and the label that marks a position as no target.

Every XLM vocabulary starts with the same 14 tokens, in this order (the original XLM code and the
published HF tokenizers agree): ``<s> </s> <pad> <unk> <special0> ... <special9>``. ``</s>``
separates and frames sentences, ``<special1>`` is the MLM mask.
"""

from __future__ import annotations

SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<unk>"] + [f"<special{i}>" for i in range(10)]
N_SPECIAL = len(SPECIAL_TOKENS)  # never drawn as random replacement tokens

BOS = SPECIAL_TOKENS.index("<s>")
EOS = SPECIAL_TOKENS.index("</s>")
PAD = SPECIAL_TOKENS.index("<pad>")
UNK = SPECIAL_TOKENS.index("<unk>")
MASK = SPECIAL_TOKENS.index("<special1>")

#: the label of a position that is not predicted (PyTorch's cross-entropy ``ignore_index``)
IGNORE_INDEX = -100
