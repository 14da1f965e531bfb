"""The token store: its layout, dtypes, offsets past 2^31 (on sparse files), entries and indices."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig
from xlm_hf.data import corpora, store
from xlm_hf.data.batches import StridedBatches
from xlm_hf.data.sources import StreamBlocks, TlmExamples, select_pairs
from xlm_hf.data.store import (
    EOS,
    LineTokens,
    PairStore,
    TokenStore,
    cached_arrays,
    token_dtype,
    write_selection,
)
from xlm_hf.errors import ConfigError

BIG = 2**31 + 4096  # positions past what an int32 offset (Arrow's list offsets) can address


def test_layout_is_the_stream_with_int64_offsets():
    s = TokenStore.from_sentences([[7, 8, 9], [], [10]], dtype=np.uint16)
    assert s.tokens.tolist() == [1, 7, 8, 9, 1, 1, 10, 1] and s.offsets.tolist() == [0, 4, 5, 7]
    assert s.offsets.dtype == np.int64 and len(s) == 3 and s.n_tokens == 4
    assert [x.tolist() for x in (s[0], s[1], s[2])] == [[7, 8, 9], [], [10]]
    assert s.lengths().tolist() == [3, 0, 1]
    assert s.token_counts(12).tolist() == [0] * 7 + [1, 1, 1, 1, 0]  # the separators are not counted


def test_the_narrowest_dtype_for_the_vocabulary(tmp_path):
    assert token_dtype(65_536) == np.uint16 and token_dtype(65_537) == np.uint32
    lines = LineTokens(tmp_path / "x", np.dtype(np.uint16))
    with pytest.raises(ValueError, match="does not fit uint16"):
        lines.append(np.array([70_000]), np.array([1]))


def test_a_selection_is_written_as_a_store_and_mapped(tmp_path):
    lines = LineTokens(tmp_path / "all", np.dtype(np.uint32))
    lines.append(np.array([20, 21, 22, 70_000], dtype=np.int32), np.array([2, 0, 2]))
    lines.append(np.array([30], dtype=np.int32), np.array([1]))
    lines.close()
    assert write_selection(lines, np.array([0, 2, 3]), tmp_path / "train") == 3
    out = TokenStore.open(tmp_path / "train")
    assert isinstance(out.tokens, np.memmap) and out.tokens.dtype == np.uint32
    assert out.sentences() == [[20, 21], [22, 70_000], [30]]
    assert out.token_counts(70_001)[[20, 22, 30, 70_000, EOS]].tolist() == [1, 1, 1, 1, 0]
    assert write_selection(lines, np.array([], dtype=np.int64), tmp_path / "empty") == 0
    assert TokenStore.open(tmp_path / "empty").tokens.tolist() == [EOS]  # an empty store is one </s>


def _sparse(path: Path, dtype, size: int) -> np.memmap:
    """A file of `size` items that takes no disk space until written (a sparse file)."""
    with open(path, "wb") as f:
        f.truncate(size * np.dtype(dtype).itemsize)
    return np.memmap(path, dtype=dtype, mode="r+", shape=(size,))


def test_offsets_past_2_31_on_a_sparse_store(tmp_path):
    tokens = np.lib.format.open_memmap(tmp_path / "big.tokens.npy", mode="w+", dtype=np.uint16, shape=(BIG,))
    offsets = np.array([0, 2**31 + 10, 2**31 + 20, BIG - 1], dtype=np.int64)
    tokens[2**31 + 11 : 2**31 + 20] = np.arange(100, 109)
    tokens[2**31 + 21 : BIG - 1] = 500 + np.arange(BIG - 2**31 - 22) % 1000
    tokens[offsets] = EOS
    tokens.flush()
    np.save(tmp_path / "big.offsets.npy", offsets)
    big = TokenStore.open(tmp_path / "big")
    assert len(big) == 3 and big.lengths().tolist() == [2**31 + 9, 9, BIG - 2**31 - 22]
    assert big[1].tolist() == list(range(100, 109)) and big.n_tokens == BIG - 4

    blocks = StreamBlocks(big.tokens, 256, lang_id=0)  # MLM blocks: slices at positions past 2^31
    assert len(blocks) == BIG // 256
    last = blocks[len(blocks) - 1]["input_ids"]
    assert last.dtype == np.int64 and last.tolist() == big.tokens[BIG - 256 : BIG].astype(np.int64).tolist()
    batches = StridedBatches(len(blocks), 4096)  # every block in exactly one batch
    assert (np.sort(np.concatenate(list(batches))) == np.arange(len(blocks))).all()

    pairs = PairStore(big, big)  # TLM: example lengths and slices from the same offsets
    rows, lengths, n_long = select_pairs(pairs, max_len=100)
    assert rows.tolist() == [1] and lengths.tolist() == [9 + 9 + 4] and n_long == 2
    example = TlmExamples(pairs, (0, 1), max_len=100)[1]["input_ids"]
    assert example.tolist() == [1, *range(100, 109), 1, 1, *range(100, 109), 1]


def test_a_selection_past_2_31_tokens_gathers_the_right_ones(tmp_path):
    lines = LineTokens(tmp_path / "all", np.dtype(np.uint16))
    lines.close()  # then filled as if 2^31 + 16 tokens had been appended
    raw = _sparse(Path(f"{tmp_path}/all.lines.tokens"), np.uint16, 2**31 + 16)
    raw[2**31 : 2**31 + 16] = np.arange(16) + 40
    raw.flush()
    np.array([2**31, 6, 10], dtype=np.int64).tofile(f"{tmp_path}/all.lines.lengths")
    assert write_selection(lines, np.array([1, 2]), tmp_path / "tail") == 2
    tail = TokenStore.open(tmp_path / "tail")
    assert tail.sentences() == [list(range(40, 46)), list(range(46, 56))]
    assert os.stat(f"{tmp_path}/all.lines.tokens").st_blocks * 512 < 2**20  # nothing like 4 GB was written


def test_indices_are_kept_beside_the_store_and_mapped(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"rows": np.arange(5), "bounds": np.array([0, 2, 5])}

    first = cached_arrays(tmp_path, "tlm-x", compute)
    again = cached_arrays(tmp_path, "tlm-x", compute)
    assert len(calls) == 1 and isinstance(again["rows"], np.memmap)
    assert first["bounds"].tolist() == again["bounds"].tolist() == [0, 2, 5]
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["tlm-x"]


def test_an_entry_stopped_while_written_leaves_nothing(tmp_path, sample_vocab_dir, monkeypatch):
    def stopped(*args, **kwargs):
        raise SystemExit(143)  # what SIGTERM becomes while corpora are prepared

    monkeypatch.setattr(corpora, "write_selection", stopped)
    config = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(SystemExit):
        corpora.load_corpora(config, sample_vocab_dir)
    assert list((tmp_path / "cache").iterdir()) == []  # neither an entry nor its build folder


def test_an_entry_records_its_key_and_sizes(tmp_path, sample_vocab_dir):
    config = DataConfig(
        languages=["en", "fr"], objectives=["mlm", "tlm"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path)
    )
    data = corpora.load_corpora(config, sample_vocab_dir)
    entry = data.folders["para.en-fr"]
    meta = json.loads((entry / store.STORE_FILE).read_text())
    assert meta["dtype"] == "uint16" and meta["columns"] == ["ids1", "ids2"]
    assert meta["splits"]["train"]["sentences"] == len(data.para_train["en-fr"]) == 190
    assert json.loads((entry / "key.json").read_text())["name"] == "para.en-fr"
    assert sorted(p.name for p in entry.iterdir() if "lines" in p.name) == []  # the build files are gone


# ----------------------------------------------------------------------------- damaged entries


def _cut_short(folder: Path) -> str:
    path = folder / "train.input_ids.tokens.npy"
    os.truncate(path, path.stat().st_size // 2)
    return "train.input_ids.tokens.npy: "


def _changed(folder: Path) -> str:
    path = folder / "train.input_ids.tokens.npy"
    with open(path, "r+b") as f:  # the same size, other ids at the end
        f.seek(-8, os.SEEK_END)
        f.write(b"\x07\x00" * 4)
    return "differs from what was written (checksum)"


DAMAGE = {
    "file-cut-short": _cut_short,
    "file-missing": lambda f: ((f / "valid.input_ids.offsets.npy").unlink(), "offsets.npy: missing")[1],
    "content-changed": _changed,
    "store-json-corrupt": lambda f: ((f / store.STORE_FILE).write_text("{"), "store.json: unreadable")[1],
    "store-json-missing": lambda f: ((f / store.STORE_FILE).unlink(), "store.json: missing")[1],
    "key-json-corrupt": lambda f: ((f / "key.json").write_text("[1, 2"), "key.json: unreadable")[1],
    "key-json-of-another-entry": lambda f: (
        (f / "key.json").write_text(json.dumps({"name": "mono.fr"})),
        "records another entry's inputs",
    )[1],
}


def _entry_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.npy"))}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_entry_is_rebuilt_with_one_warning(tmp_path, sample_vocab_dir, caplog, damage):
    config = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    folder = corpora.load_corpora(config, sample_vocab_dir).folders["mono.en"]
    whole = _entry_bytes(folder)
    expected = DAMAGE[damage](folder)
    caplog.set_level("WARNING")
    again = corpora.load_corpora(config, sample_vocab_dir)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "damaged" in warnings[0] and expected in warnings[0], warnings
    assert again.folders["mono.en"] == folder and _entry_bytes(folder) == whole  # the same arrays
    assert again.cache_misses == 1 and sorted(p.name for p in folder.parent.iterdir()) == [folder.name]
    caplog.clear()
    corpora.load_corpora(config, sample_vocab_dir)  # whole again: no warning, nothing rebuilt
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_a_run_refuses_an_entry_built_ahead_and_prepare_data_rebuilds_it(tmp_path, sample_vocab_dir, caplog):
    config = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    folder = corpora.load_corpora(config, sample_vocab_dir, ahead=True).folders["mono.en"]
    whole = _entry_bytes(folder)
    _cut_short(folder)
    damaged = _entry_bytes(folder)
    with pytest.raises(ConfigError) as refused:  # a run: one line, nothing touched
        corpora.load_corpora(config, sample_vocab_dir)
    message = str(refused.value)
    assert message.startswith(f"data.cache_dir: {folder / 'train.input_ids.tokens.npy'}: ")
    assert "cut short" in message and "run `xlm-hf prepare-data` again" in message
    assert "\n" not in message and _entry_bytes(folder) == damaged
    caplog.set_level("WARNING")
    corpora.load_corpora(config, sample_vocab_dir, ahead=True)  # prepare-data rebuilds it
    assert _entry_bytes(folder) == whole and "rebuilding mono.en" in caplog.text


def test_an_entry_that_cannot_be_written_again_is_refused(tmp_path, sample_vocab_dir, monkeypatch):
    config = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    folder = corpora.load_corpora(config, sample_vocab_dir).folders["mono.en"]
    (folder / "train.input_ids.counts.npy").unlink()

    def read_only(path, key):
        raise ConfigError(f"{key}: {path}: cannot write in it (Read-only file system)")

    monkeypatch.setattr(corpora, "check_can_write", read_only)  # root writes anywhere: a read-only mount
    with pytest.raises(ConfigError, match="counts.npy: missing; the store cannot be written here"):
        corpora.load_corpora(config, sample_vocab_dir)


def test_entries_from_before_manifests_are_checked_by_their_headers(tmp_path, sample_vocab_dir):
    from xlm_hf.data.integrity import entry_problem

    config = DataConfig(languages=["en"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    folder = corpora.load_corpora(config, sample_vocab_dir).folders["mono.en"]
    key = json.loads((folder / "key.json").read_text())
    meta = json.loads((folder / store.STORE_FILE).read_text())
    del meta["files"]  # as an older xlm-hf wrote it
    (folder / store.STORE_FILE).write_text(json.dumps(meta))
    assert entry_problem(folder, key) is None
    path = folder / "valid.input_ids.tokens.npy"
    os.truncate(path, path.stat().st_size - 2)
    assert entry_problem(folder, key).endswith("(cut short)")


def test_a_damaged_index_is_computed_again(tmp_path, caplog):
    calls = []

    def compute():
        calls.append(1)
        return {"order": np.arange(1000, dtype=np.int64)}

    cached_arrays(tmp_path, "tlm-x", compute)
    path = tmp_path / "index" / "tlm-x" / "order.npy"
    os.truncate(path, 200)
    caplog.set_level("WARNING")
    again = cached_arrays(tmp_path, "tlm-x", compute)
    assert again["order"].tolist() == list(range(1000)) and len(calls) == 2
    assert "computing the index again" in caplog.text


def test_a_full_disk_while_the_store_is_written_is_one_line_and_leaves_nothing(
    tmp_path, sample_vocab_dir, monkeypatch
):
    import errno

    from xlm_hf.errors import StorageError

    config = DataConfig(languages=["en", "fr"], data_dir=str(SAMPLE_DIR), cache_dir=str(tmp_path / "cache"))
    corpora.load_corpora(DataConfig(**{**config.__dict__, "languages": ["en"]}), sample_vocab_dir)
    before = sorted(p.name for p in (tmp_path / "cache").iterdir())
    written = store.write_selection

    def full(lines, rows, prefix):
        if "fr" in str(lines.prefix) or prefix.name.startswith("valid"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return written(lines, rows, prefix)

    monkeypatch.setattr(corpora, "write_selection", full)
    with pytest.raises(StorageError) as refused:
        corpora.load_corpora(config, sample_vocab_dir)
    message = str(refused.value)
    assert message.startswith(
        f"data.cache_dir: no space left on the device of {tmp_path / 'cache'} while writing"
    )
    assert "\n" not in message
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == before  # no entry, no build folder
