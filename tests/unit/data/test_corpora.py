"""Corpora: inputs, seeded held-out split, the store reused, parallel checks, hub seam, workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

import xlm_hf.data.corpora as corpora
from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig
from xlm_hf.data import inputs, tokenise
from xlm_hf.data.corpora import load_corpora, split_rows
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
    assert len(data.para_train["en-fr"]) == 180 and len(data.para_train["en-fr"].ids2) == 180
    assert all(1 not in ids and 0 not in ids for ids in data.mono_train["en"].sentences())  # no specials


def test_second_run_reuses_the_cache(cache_dir, sample_vocab_dir, monkeypatch):
    first = load_corpora(_config(cache_dir), sample_vocab_dir, seed=0)
    assert (first.cache_hits, first.cache_misses) == (0, 3)

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again although the cache holds the result")

    monkeypatch.setattr(tokenise, "encode", no_tokenising)
    second = load_corpora(_config(cache_dir), sample_vocab_dir, seed=0)
    assert (second.cache_hits, second.cache_misses) == (3, 0)
    assert second.mono_train["fr"].sentences() == first.mono_train["fr"].sentences()
    monkeypatch.undo()
    third = load_corpora(_config(cache_dir), sample_vocab_dir, seed=1)  # another split: new entries
    assert third.cache_misses == 3


def test_split_is_seeded_and_disjoint():
    train, valid = split_rows(100, 0.1, 5000, "0-en")
    assert len(valid) == 10 and set(train).isdisjoint(valid) and len(train) + len(valid) == 100
    assert [a.tolist() for a in split_rows(100, 0.1, 5000, "0-en")] == [train.tolist(), valid.tolist()]
    assert valid.tolist() == [6, 32, 42, 62, 63, 68, 83, 87, 88, 89]  # as split_indices gave before the store
    assert len(split_rows(100, 30, 20, "s")[1]) == 20  # a count, capped by max_valid


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

    def fake_load_dataset(name, config_name, split, streaming):
        calls.append((name, config_name, split, streaming))
        if name == "wiki":
            return Dataset.from_dict({"text": [f"the hub sentence {i} ." for i in range(30)] + [""]})
        return Dataset.from_dict(
            {"translation": [{"en": f"hello {i}", "fr": f"bonjour {i}"} for i in range(20)]}
        )

    monkeypatch.setattr(inputs, "hub_load_dataset", fake_load_dataset)
    config = _config(
        cache_dir,
        data_dir=None,
        mono={"en": "hf:wiki:20231101.en", "fr": "hf:wiki:20231101.fr"},
        para={"en-fr": ["hf:opus:en-fr"]},
    )
    data = load_corpora(config, sample_vocab_dir)
    assert ("wiki", "20231101.en", "train", True) in calls and ("opus", "en-fr", "train", True) in calls
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


def _all_ids(data: corpora.Corpora) -> dict:
    return {
        (attr, key): store.sentences()
        for attr in ("mono_train", "mono_valid", "para_train", "para_valid")
        for key, store in getattr(data, attr).items()
    }


def test_one_language_shared_out_to_workers_gives_the_ids_of_one_process(
    tmp_path, sample_vocab_dir, monkeypatch
):
    pids = tmp_path / "pids"
    pids.mkdir()
    real = tokenise.encode

    def recording(texts, tokenizer_dir, lang, fast=True, preprocessing=None):
        (pids / str(os.getpid())).touch()  # forked workers inherit the patch: each leaves its pid
        return real(texts, tokenizer_dir, lang, fast, preprocessing)

    monkeypatch.setattr(tokenise, "encode", recording)
    monkeypatch.setattr(tokenise, "LINES_PER_CHUNK", 7)  # the sample's 320 lines make 46 chunks
    config = dict(languages=["en", "fr"], objectives=["mlm", "tlm"])
    pooled = load_corpora(_config(tmp_path / "pool", num_proc=3, **config), sample_vocab_dir)
    workers = {int(p.name) for p in pids.iterdir()}
    assert len(workers) == 3 and os.getpid() not in workers
    assert (pooled.cache_hits, pooled.cache_misses) == (0, 3)
    for p in pids.iterdir():
        p.unlink()
    monkeypatch.setattr(tokenise, "LINES_PER_CHUNK", 2000)
    serial = load_corpora(_config(tmp_path / "serial", num_proc=1, **config), sample_vocab_dir)
    assert {int(p.name) for p in pids.iterdir()} == {os.getpid()}
    assert _all_ids(pooled) == _all_ids(serial)


def test_a_worker_error_reaches_the_caller_and_leaves_no_half_written_entry(
    tmp_path, sample_vocab_dir, monkeypatch
):
    real = tokenise.encode

    def fails_for_fr(texts, tokenizer_dir, lang, *settings):
        if lang == "fr":
            raise ValueError("fr cannot be tokenised")
        return real(texts, tokenizer_dir, lang, *settings)

    monkeypatch.setattr(tokenise, "encode", fails_for_fr)  # inherited by the forked workers
    config = _config(tmp_path / "cache", num_proc=2, languages=["de", "en", "es", "fr"], objectives=["mlm"])
    with pytest.raises(ValueError, match="fr cannot be tokenised"):
        load_corpora(config, sample_vocab_dir)
    entries = list((tmp_path / "cache").iterdir())
    assert all(not p.name.startswith(".") for p in entries)  # no build folder left
    assert len(entries) == 3 and all((p / "store.json").exists() for p in entries)  # de, en, es kept
    monkeypatch.undo()
    again = load_corpora(config, sample_vocab_dir)  # a rerun continues: only fr is tokenised
    assert (again.cache_hits, again.cache_misses) == (3, 1)


def test_a_bad_input_found_while_reading_leaves_the_cache_as_it_was(tmp_path, sample_vocab_dir, monkeypatch):
    data = tmp_path / "data"
    (data / "mono").mkdir(parents=True)
    lines = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()
    (data / "mono" / "en.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    # past the first 64k characters the check reads, so only the tokenisation finds the bad byte
    fr = ("\n".join(lines * 3) + "\n").encode() + b"caf\xe9\n"
    (data / "mono" / "fr.txt").write_bytes(fr)
    config = _config(tmp_path / "cache", objectives=["mlm"], data_dir=str(data))
    with pytest.raises(corpora.DataError, match=rf"fr.txt:{3 * len(lines) + 1}: invalid UTF-8 \(byte 0xe9"):
        load_corpora(config, sample_vocab_dir)
    assert not (tmp_path / "cache").exists()  # en was committed, then removed with the folder made for it
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "keep.txt").write_text("x")
    with pytest.raises(corpora.DataError):
        load_corpora(config, sample_vocab_dir)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["keep.txt"]


WORKER_RUN = """
import sys
from xlm_hf.config.sections import DataConfig
from xlm_hf.data import tokenise
from xlm_hf.data.corpora import load_corpora
tokenise.LINES_PER_CHUNK = 16000  # each worker is busy with one chunk for many seconds
config = DataConfig(languages=["en"], data_dir=sys.argv[1], cache_dir=sys.argv[2], num_proc=2,
                    fast_tokenizer=False)
load_corpora(config, sys.argv[3])
"""


def _children_when_tokenising(proc: subprocess.Popen, timeout: float = 120) -> list:
    import psutil

    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        children = parent.children()
        if len(children) >= 2:
            time.sleep(1.0)  # well inside the tokenisation (the reference tokenizer: ~1k lines/s)
            return parent.children()
        time.sleep(0.1)
    raise AssertionError("the workers never started")


def _big_corpus(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "mono").mkdir(parents=True)
    lines = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()
    (data / "mono" / "en.txt").write_text("\n".join(lines * 200) + "\n", encoding="utf-8")  # 64k lines
    return data


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_stopping_the_preparation_stops_its_workers_and_writes_no_entry(tmp_path, sample_vocab_dir, signum):
    import psutil

    data, cache = _big_corpus(tmp_path), tmp_path / "cache"
    proc = subprocess.Popen([sys.executable, "-c", WORKER_RUN, str(data), str(cache), str(sample_vocab_dir)])
    workers = _children_when_tokenising(proc)
    os.kill(proc.pid, signum)
    assert proc.wait(timeout=30) == (128 + signum if signum == signal.SIGTERM else -signum)
    gone, alive = psutil.wait_procs(workers, timeout=5)
    assert not alive, f"workers still running 5 s after the parent: {alive}"
    leftovers = [p.name for p in cache.iterdir()]
    if signum == signal.SIGTERM:  # the build folder is removed on the way out
        assert leftovers == []
    else:  # nothing could run: a build folder (never an entry) stays, and the next run clears it
        assert len(leftovers) == 1 and leftovers[0].startswith(".")
        corpora.remove_stale_temporaries(cache)
        assert list(cache.iterdir()) == []


def test_one_progress_bar_for_the_whole_preparation(tmp_path, sample_vocab_dir, capfd):
    config = _config(tmp_path / "cache", languages=["de", "en", "fr"], tlm_pairs=["en-fr"], num_proc=2)
    load_corpora(config, sample_vocab_dir)
    err = capfd.readouterr().err
    assert "Saving the dataset" not in err and "Map" not in err
    bars = [line for line in err.split("\n") if "lines/s" in line]
    assert len(bars) == 1, err  # redrawn in place (\r), closed once
    assert bars[0].rsplit("\r", 1)[-1].startswith("tokenise para.en-fr: 100%")
    assert f"{320 * 3 + 200:,} lines" in bars[0]


def test_the_store_is_built_ahead_of_a_run(tmp_path, sample_vocab_dir, capsys, monkeypatch):
    from xlm_hf import prepare_data as prepare

    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"data: {{languages: [en, fr], objectives: [mlm, tlm], data_dir: {SAMPLE_DIR}, cache_dir: {tmp_path / 'c'}}}\n"
        f"model: {{tokenizer: {sample_vocab_dir}}}\n"
        f"training: {{output_dir: {tmp_path / 'out'}}}\n"
    )
    assert prepare.main(["--config", str(recipe)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["mono.en", "mono.fr", "para.en-fr"]
    assert lines[-1].endswith("MiB in 3 entries") and not (tmp_path / "out").exists()
    monkeypatch.setattr(tokenise, "encode", lambda *a, **k: pytest.fail("tokenised again"))
    config = DataConfig(
        languages=["en", "fr"],
        objectives=["mlm", "tlm"],
        data_dir=str(SAMPLE_DIR),
        cache_dir=str(tmp_path / "c"),
    )
    assert load_corpora(config, sample_vocab_dir, seed=42).cache_hits == 3  # what the run (seed 42) maps
    assert prepare.main(["--config", str(recipe), "data.languages=[en, xx]"]) == 2
    assert capsys.readouterr().err.startswith("xlm-hf prepare-data: error: data.")


def test_tokens_per_second_never_divides_by_almost_nothing():
    from xlm_hf.pretrain import tokens_per_second

    assert tokens_per_second(6032, 8.0) == 754.0  # seconds in training steps, evaluation left out
    assert tokens_per_second(6032, 1e-9) is None  # was 6.0e12: no rate from no time
    assert tokens_per_second(0, 0.0) is None


def test_a_cap_on_lines_tokenises_only_the_lines_it_keeps(tmp_path, sample_vocab_dir, monkeypatch):
    encoded = []
    real = tokenise.encode

    def counting(texts, tokenizer_dir, lang, fast=True, preprocessing=None):
        encoded.extend(texts)
        return real(texts, tokenizer_dir, lang, fast, preprocessing)

    monkeypatch.setattr(tokenise, "encode", counting)

    def fake_load_dataset(name, config_name, split, streaming):  # a translation holding a line break
        rows = [{"en": f"hello {i}\nthere", "fr": f"bonjour {i}"} for i in range(40)]
        return Dataset.from_dict({"translation": rows})

    monkeypatch.setattr(inputs, "hub_load_dataset", fake_load_dataset)
    settings = dict(languages=["en", "fr"], para={"en-fr": ["hf:opus:en-fr"]}, num_proc=1)
    capped = load_corpora(
        _config(tmp_path / "capped", max_lines_per_language=50, **settings), sample_vocab_dir
    )
    # 50 training lines and the 32 held out of each language's 320, 36 + 4 pairs (two sides each)
    assert len(encoded) == 2 * (50 + 32) + 2 * (36 + 4)
    whole = load_corpora(_config(tmp_path / "whole", **settings), sample_vocab_dir)
    for attr in ("mono_train", "para_train"):
        for key, store in getattr(capped, attr).items():
            full = getattr(whole, attr)[key].sentences()
            got = store.sentences()
            assert (got == full[:50]) if attr == "mono_train" else (got == full), key
    assert _all_ids(capped)[("mono_valid", "en")] == _all_ids(whole)[("mono_valid", "en")]
