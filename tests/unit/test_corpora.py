"""Corpora: sources, seeded held-out split, cached tokenisation reused, parallel checks, hub seam."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset

import xlm_hf.data.corpora as corpora
from xlm_hf import SAMPLE_DIR
from xlm_hf.config import DataConfig
from xlm_hf.data.corpora import load_corpora, split_indices
from xlm_hf.errors import ConfigError


def _config(cache_dir, **kwargs) -> DataConfig:
    values = {
        "languages": ["en", "fr"],
        "objectives": ["mlm", "tlm"],
        "data_dir": str(SAMPLE_DIR),
        "valid_size": 0.1,
        "cache_dir": str(cache_dir),
    }
    return DataConfig(**{**values, **kwargs})


def test_data_dir_convention_and_split(cache_dir, sample_vocab_dir):
    data = load_corpora(_config(cache_dir), sample_vocab_dir, seed=0)
    assert set(data.mono_train) == {"en", "fr"} and list(data.para_train) == ["en-fr"]
    assert len(data.mono_train["en"]) + len(data.mono_valid["en"]) == 320
    assert len(data.mono_valid["en"]) == 32
    assert len(data.para_train["en-fr"]) == 180 and data.para_train["en-fr"].column_names == ["ids1", "ids2"]
    assert all(1 not in ids and 0 not in ids for ids in data.mono_train["en"]["input_ids"])  # no specials


def test_second_run_reuses_the_cache(cache_dir, sample_vocab_dir, monkeypatch):
    first = load_corpora(_config(cache_dir), sample_vocab_dir, seed=0)
    assert (first.cache_hits, first.cache_misses) == (0, 3)

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again although the cache holds the result")

    monkeypatch.setattr(corpora, "encode", no_tokenising)
    second = load_corpora(_config(cache_dir), sample_vocab_dir, seed=0)
    assert (second.cache_hits, second.cache_misses) == (3, 0)
    assert second.mono_train["fr"]["input_ids"] == first.mono_train["fr"]["input_ids"]
    monkeypatch.undo()
    third = load_corpora(_config(cache_dir), sample_vocab_dir, seed=1)  # another split: new entries
    assert third.cache_misses == 3


def test_split_is_seeded_and_disjoint():
    train, valid = split_indices(100, 0.1, 5000, "0-en")
    assert len(valid) == 10 and set(train).isdisjoint(valid) and len(train) + len(valid) == 100
    assert split_indices(100, 0.1, 5000, "0-en") == (train, valid)
    assert len(split_indices(100, 30, 20, "s")[1]) == 20  # a count, capped by max_valid


def test_parallel_files_must_align(tmp_path, cache_dir, sample_vocab_dir):
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n")
    (tmp_path / "a.fr").write_text("un\ndeux\n")
    config = _config(
        cache_dir,
        objectives=["tlm"],
        data_dir=None,
        para={"en-fr": [str(tmp_path / "a.en"), str(tmp_path / "a.fr")]},
    )
    with pytest.raises(ConfigError, match=r"data.para.en-fr: .*a.en has 3 lines but .*a.fr has 2"):
        load_corpora(config, sample_vocab_dir)


def test_explicit_globs_and_missing_files(tmp_path, cache_dir, sample_vocab_dir):
    for i in range(2):
        (tmp_path / f"en-{i}.txt").write_text(
            "\n".join(f"sentence {i} number {j} ." for j in range(20)) + "\n"
        )
    config = _config(
        cache_dir,
        languages=["en"],
        objectives=["mlm"],
        data_dir=None,
        mono={"en": str(tmp_path / "en-*.txt")},
    )
    data = load_corpora(config, sample_vocab_dir)
    assert len(data.mono_train["en"]) + len(data.mono_valid["en"]) == 40
    bad = _config(
        cache_dir, languages=["en"], objectives=["mlm"], data_dir=None, mono={"en": str(tmp_path / "x*")}
    )
    with pytest.raises(ConfigError, match="data.mono.en: no file matches"):
        load_corpora(bad, sample_vocab_dir)


def test_hub_sources_go_through_the_seam(cache_dir, sample_vocab_dir, monkeypatch):
    calls = []

    def fake_load_dataset(name, config_name, split):
        calls.append((name, config_name, split))
        if name == "wiki":
            return Dataset.from_dict({"text": [f"the hub sentence {i} ." for i in range(30)] + [""]})
        return Dataset.from_dict(
            {"translation": [{"en": f"hello {i}", "fr": f"bonjour {i}"} for i in range(20)]}
        )

    monkeypatch.setattr(corpora, "hub_load_dataset", fake_load_dataset)
    config = _config(
        cache_dir,
        data_dir=None,
        mono={"en": "hf:wiki:20231101.en", "fr": "hf:wiki:20231101.fr"},
        para={"en-fr": ["hf:opus:en-fr"]},
    )
    data = load_corpora(config, sample_vocab_dir)
    assert ("wiki", "20231101.en", "train") in calls and ("opus", "en-fr", "train") in calls
    assert len(data.mono_train["en"]) + len(data.mono_valid["en"]) == 30  # the empty row is dropped
    assert len(data.para_train["en-fr"]) + len(data.para_valid["en-fr"]) == 20


def test_parallel_lines_split_only_on_newlines(tmp_path, cache_dir, sample_vocab_dir):
    (tmp_path / "a.en").write_text("one\u2028still one\ntwo\n", encoding="utf-8")
    (tmp_path / "a.fr").write_text("un\ndeux", encoding="utf-8")  # no final newline: still 2 lines
    config = _config(
        cache_dir,
        objectives=["tlm"],
        data_dir=None,
        valid_size=1,
        para={"en-fr": [str(tmp_path / "a.en"), str(tmp_path / "a.fr")]},
    )
    data = load_corpora(config, sample_vocab_dir)
    assert len(data.para_train["en-fr"]) + len(data.para_valid["en-fr"]) == 2


def test_mono_must_cover_every_language_without_a_data_dir(tmp_path):
    with pytest.raises(ConfigError, match=r"data.mono: no text for \['fr'\]"):
        DataConfig(languages=["en", "fr"], mono={"en": "x.txt"})


def _all_ids(data: corpora.Corpora) -> dict:
    return {
        (attr, key): ds.to_dict()
        for attr in ("mono_train", "mono_valid", "para_train", "para_valid")
        for key, ds in getattr(data, attr).items()
    }


def test_languages_tokenised_in_a_pool_equal_one_by_one(tmp_path, sample_vocab_dir, monkeypatch):
    built = []
    real = corpora.build_in_pool
    monkeypatch.setattr(
        corpora, "build_in_pool", lambda jobs, n: built.append((len(jobs), n)) or real(jobs, n)
    )
    config = dict(languages=["de", "en", "es", "fr"], objectives=["mlm", "tlm"], tlm_pairs=["en-fr"])
    pooled = load_corpora(_config(tmp_path / "pool", num_proc=2, **config), sample_vocab_dir)
    assert built == [(5, 2)]  # four languages and a pair, over two processes
    assert (pooled.cache_hits, pooled.cache_misses) == (0, 5)
    serial = load_corpora(_config(tmp_path / "serial", num_proc=1, **config), sample_vocab_dir)
    assert built == [(5, 2)] and _all_ids(pooled) == _all_ids(serial)
    again = load_corpora(_config(tmp_path / "pool", num_proc=2, **config), sample_vocab_dir)
    assert (again.cache_hits, again.cache_misses) == (5, 0)


def test_a_worker_error_reaches_the_caller_and_leaves_no_entry(tmp_path, sample_vocab_dir, monkeypatch):
    real = corpora.encode

    def fails_for_fr(texts, tokenizer_dir, lang, *settings):
        if lang == "fr":
            raise ValueError("fr cannot be tokenised")
        return real(texts, tokenizer_dir, lang, *settings)

    monkeypatch.setattr(corpora, "encode", fails_for_fr)  # inherited by the forked workers
    config = _config(tmp_path / "cache", num_proc=2, languages=["de", "en", "es", "fr"], objectives=["mlm"])
    with pytest.raises(ValueError, match="fr cannot be tokenised"):
        load_corpora(config, sample_vocab_dir)
    entries = [p for p in (tmp_path / "cache").iterdir()]
    assert all(not p.name.startswith(".") for p in entries)  # no half-written folder
    assert len(entries) <= 3 and all((p / "dataset_dict.json").exists() for p in entries)


def test_pool_size(monkeypatch):
    monkeypatch.setattr(corpora, "available_cores", lambda: 16)
    big = corpora.MIN_LINES_FOR_POOL
    assert corpora.pool_size(None, [big, big]) == 2  # one process per language, up to the cores
    assert corpora.pool_size(None, [big] * 20) == corpora.MAX_AUTO_PROCESSES
    assert corpora.pool_size(None, [10, 10]) is None  # small corpora: one by one
    assert corpora.pool_size(None, [10 * big]) is None  # one language: its lines are split instead
    assert corpora.pool_size(3, [10, 10, 10, 10]) == 3  # an explicit count is used
    assert corpora.pool_size(1, [big, big]) is None
    monkeypatch.setattr(corpora, "_IN_POOL_WORKER", True)
    assert corpora.pool_size(None, [big, big]) is None and corpora.process_count(4, 100) is None


def test_a_pool_worker_leaves_on_sigterm_and_removes_the_entry_it_was_writing(tmp_path, monkeypatch):
    from datasets import DatasetDict

    # in a process of its own: SIGTERM ends it through SystemExit (status 143, not killed by -15)
    worker = "from xlm_hf.data import corpora; import os, signal; corpora._init_pool_worker(); "
    worker += "os.kill(os.getpid(), signal.SIGTERM); import time; time.sleep(30)"
    assert subprocess.run([sys.executable, "-c", worker], timeout=120).returncode == 128 + signal.SIGTERM

    def stopped_while_saving(self, path, *args, **kwargs):
        (Path(path) / "half-written").write_text("x")
        raise SystemExit(143)

    monkeypatch.setattr(DatasetDict, "save_to_disk", stopped_while_saving)
    data = DatasetDict({"train": Dataset.from_dict({"input_ids": [[5, 6]]})})
    with pytest.raises(SystemExit):
        corpora.cached_tokenise({"name": "mono.en"}, tmp_path, lambda: data)
    assert list(tmp_path.iterdir()) == []  # neither an entry nor its temporary folder
