"""Synthetic data for the GPU check: topic-structured Zipf sentences as the toolkit packs them,
TLM pairs and XNLI-like pairs, so that the GPU machine needs neither Moses nor `datasets`."""

from __future__ import annotations

from typing import Any

from bench.gpu_training.runs import Sizes
from xlm_hf.text.special_tokens import BOS, EOS, MASK, N_SPECIAL, PAD, SPECIAL_TOKENS, UNK


def sentences(n_tokens: int, base_vocab: int, seed: int, topics: int = 64):
    """(token ids of all sentences concatenated, each sentence's length, each sentence's topic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    words = base_vocab - N_SPECIAL
    cdf = np.cumsum(1.0 / np.arange(1, words + 1))
    cdf /= cdf[-1]  # Zipf's law over a topic's own ranking of the words
    rankings = np.stack([rng.permutation(words) for _ in range(topics)]) + N_SPECIAL
    lengths = rng.integers(8, 41, n_tokens // 8 + 1)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), n_tokens)) + 1]
    topic = rng.integers(0, topics, len(lengths))
    ranks = np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), words - 1)
    return rankings[np.repeat(topic, lengths), ranks], lengths, topic


def stream_blocks(sizes: Sizes, n_blocks: int):
    from xlm_hf.data.sources import pack_flat

    ids, lengths, _ = sentences(n_blocks * sizes.seq, sizes.base_vocab, seed=0)
    return pack_flat(ids, lengths, sizes.seq)[:n_blocks]


def xnli_pairs(sizes: Sizes, n_pairs: int) -> list[dict[str, Any]]:
    """``</s> premise </s> hypothesis </s>`` pairs; label = (hypothesis topic - premise topic) mod 3."""
    import numpy as np

    ids, lengths, topic = sentences(n_pairs * 2 * 24, sizes.base_vocab, seed=1)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    limit = sizes.xnli_max_len - 3
    pairs = []
    for i in range(0, min(len(lengths) - 1, 2 * n_pairs), 2):
        premise = ids[starts[i] : starts[i + 1]].tolist()[: limit // 2 + limit % 2]
        hypothesis = ids[starts[i + 1] : starts[i + 2]].tolist()[: limit // 2]
        input_ids = [EOS, *premise, EOS, *hypothesis, EOS]
        label = int((topic[i + 1] - topic[i]) % 3)
        pairs.append({"input_ids": input_ids, "langs": [0] * len(input_ids), "labels": label})
    return pairs


def word_tokenizer(vocab: int):
    """A tokenizer whose ids are the model's, for HF's collators (the data are ids already)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    words = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    words.update({f"w{i}": i for i in range(N_SPECIAL, vocab)})
    backend = Tokenizer(WordLevel(words, unk_token="<unk>"))
    backend.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        mask_token="<special1>",
        model_input_names=["input_ids", "attention_mask"],
    )


class ListDataset:
    """A map-style dataset over a list (the plain `Trainer` path samples and collates it)."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def model_config(sizes: Sizes, num_labels: int | None = None):
    from transformers import XLMConfig

    extra = {"num_labels": num_labels} if num_labels else {}
    return XLMConfig(
        vocab_size=sizes.vocab,
        emb_dim=sizes.emb_dim,
        n_layers=sizes.n_layers,
        n_heads=sizes.n_heads,
        dropout=0.1,
        attention_dropout=0.1,
        gelu_activation=True,
        max_position_embeddings=512,
        n_langs=1,
        embed_init_std=sizes.emb_dim**-0.5,
        pad_token_id=PAD,
        eos_token_id=EOS,
        bos_token_id=BOS,
        unk_index=UNK,
        mask_index=MASK,
        mask_token_id=MASK,
        **extra,
    )


def tlm_pairs(sizes: Sizes, n_pairs: int) -> tuple[list[list[int]], list[list[int]]]:
    """Sentence pairs for TLM batches (``</s> A </s> </s> B </s>``, 20-84 tokens: padded batches)."""
    ids, lengths, _ = sentences(n_pairs * 2 * 26, sizes.base_vocab, seed=2)
    starts = [0, *lengths.cumsum().tolist()]
    rows = [ids[starts[i] : starts[i + 1]].tolist() for i in range(len(lengths))]
    return rows[0 : 2 * n_pairs : 2], rows[1 : 2 * n_pairs : 2]
