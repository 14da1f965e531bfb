"""From corpora to training sources: TLM directions, the sentence counts of the xlm mixture, masking settings."""

from __future__ import annotations

import pytest

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig
from xlm_hf.data.corpora import load_corpora
from xlm_hf.data.inputs import corpus_names
from xlm_hf.data.pretraining import build_pretraining_data, tlm_directions
from xlm_hf.data.sources import tlm_example


def test_directions_name_their_corpus():
    assert corpus_names(["en-fr", "fr-en", "de-en"], []) == ["en-fr", "de-en"]
    assert corpus_names(["fr-en", "en-de"], ["en-fr"]) == ["en-fr", "en-de"]  # data.para names the corpus
    assert tlm_directions(None, ["en-fr", "de-en"]) == [
        ("en-fr", "en-fr"),
        ("fr-en", "en-fr"),
        ("de-en", "de-en"),
        ("en-de", "de-en"),
    ]
    assert tlm_directions(["fr-en", "en-de"], ["en-fr", "de-en"]) == [("fr-en", "en-fr"), ("en-de", "de-en")]


@pytest.fixture(scope="module")
def sample_data(tmp_path_factory, sample_vocab_dir, sample_tokenizer):
    config = DataConfig(
        languages=["de", "en", "es", "fr"],
        objectives=["mlm", "tlm"],
        data_dir=str(SAMPLE_DIR),
        tlm_pairs=["en-fr", "fr-en", "de-en"],  # the sample has en-de files: de-en reads them the other way
        max_seq_length=32,
        valid_size=0.1,
        sample_alpha=0.5,
        mixture="xlm",
        cache_dir=str(tmp_path_factory.mktemp("cache")),
    )
    corpora = load_corpora(config, sample_vocab_dir)
    return corpora, build_pretraining_data(config, corpora, sample_tokenizer, batch_size=4, eval_batch_size=8)


def test_tlm_trains_the_listed_directions_each_corpus_read_once(sample_data, sample_tokenizer):
    corpora, data = sample_data
    assert list(corpora.para_train) == ["en-fr", "de-en"]
    tlm = {s.name: s for s in data.sources if s.objective == "tlm"}
    assert list(tlm) == ["en-fr", "fr-en", "de-en"]
    assert [v.name for v in data.validation if v.objective == "tlm"] == ["en-fr", "fr-en", "de-en"]
    lang2id = sample_tokenizer.lang2id

    def first_pair(corpus):
        store = corpora.para_train[corpus]
        return store.ids1[0].tolist(), store.ids2[0].tolist()

    def example(source):
        return {key: value.tolist() for key, value in source.examples[0].items()}

    en, fr = first_pair("en-fr")
    assert example(tlm["en-fr"]) == tlm_example(en, fr, lang2id["en"], lang2id["fr"])
    assert example(tlm["fr-en"]) == tlm_example(fr, en, lang2id["fr"], lang2id["en"])
    de, en = first_pair("de-en")
    assert example(tlm["de-en"])["langs"][1] == lang2id["de"]
    assert example(tlm["de-en"]) == tlm_example(de, en, lang2id["de"], lang2id["en"])
    # the xlm mixture weighs a direction by its corpus's pairs, a language by its sentences
    assert tlm["en-fr"].n_sentences == tlm["fr-en"].n_sentences == len(tlm["en-fr"].examples) > 0
    mlm = {s.name: s for s in data.sources if s.objective == "mlm"}
    for lang, source in mlm.items():  # each </s> of the stream: one per sentence, plus the opening
        # one, less the sentences of the tail shorter than a block (32 tokens), which is not trained
        sentences = len(corpora.mono_train[lang])
        assert sentences - 32 < source.n_sentences <= sentences + 1, lang


def test_masking_follows_the_original_by_default(sample_data):
    _, data = sample_data
    collate = next(s for s in data.sources if s.objective == "mlm").collate
    assert collate.predict_first_position is False
    weights = collate.word_weights
    assert weights[1] == 0 and weights[:14].sum() == 0 and (weights[14:] > 0).any()  # </s> weighs 0
