"""How input files are read: strict UTF-8 with file:line errors, BOM, CRLF, blank and long lines,
parallel alignment; and the output-directory guard (run.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.sections import DataConfig, VocabConfig
from xlm_hf.data.corpora import load_corpora
from xlm_hf.data.inputs import mono_lines, parallel_lines
from xlm_hf.data.textfiles import is_blank, read_text_lines
from xlm_hf.errors import ConfigError, DataError, XlmHfError
from xlm_hf.training import run_dir
from xlm_hf.xnli.data import read_pair_tsv


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_reader_handles_bom_crlf_and_keeps_blank_lines(tmp_path):
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfone\r\n\r\ntwo\xe2\x80\xa8still two\rstill\n  \nlast")
    assert read_text_lines(path) == ["one", "", "two\u2028still two\rstill", "  ", "last"]
    assert list(mono_lines([str(path)], "data.mono.en")) == [
        "one",
        "two\u2028still two\rstill",
        "last",
    ]  # blank lines dropped, U+2028 and lone CR kept


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"ok\nok\nabc\xc3(\n", ":3: invalid UTF-8 (byte 0xc3 at byte 4 of the line)"),
        (b"ok\r\n\r\n\xe2\x82\n", ":3: invalid UTF-8 (byte 0xe2 at byte 1 of the line)"),  # truncated
    ],
)
def test_invalid_utf8_fails_with_file_line_and_byte(tmp_path, data, where):
    path = write(tmp_path / "bad.txt", data)
    with pytest.raises(DataError) as info:
        read_text_lines(path)
    assert str(info.value).startswith(f"{path}{where}; convert the file to UTF-8")
    assert isinstance(info.value, XlmHfError) and "\n" not in str(info.value)


def test_utf16_is_named(tmp_path):
    path = write(tmp_path / "bad.txt", "hi\nthere\n".encode("utf-16"))
    with pytest.raises(DataError) as info:
        read_text_lines(path)
    assert str(info.value) == (
        f"{path}: UTF-16 (byte-order mark 0xff 0xfe), not UTF-8; convert it with `iconv -f utf-16 -t utf-8`"
    )


def test_unreadable_path_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=rf"^{tmp_path}: cannot read \("):
        read_text_lines(tmp_path)  # a directory


def test_blank_means_whitespace_and_invisible_characters_only():
    assert is_blank("") and is_blank(" \t\u3000\ufeff\u200b\r") and is_blank("\x0c\x1c\u2028")
    assert not is_blank(" a ") and not is_blank("\u00ad x")


def test_parallel_blank_lines_drop_the_pair_and_keep_alignment(tmp_path, sample_vocab_dir):
    en = write(tmp_path / "p.en", b"\xef\xbb\xbfone\r\n\r\nthree\r\nfour\r\n")
    fr = write(tmp_path / "p.fr", b"un\ndeux\n\ntrois quatre\n")
    pairs = list(parallel_lines([str(en), str(fr)], "en-fr", "data.para.en-fr"))
    assert pairs == [("one", "un"), ("four", "trois quatre")]
    empty = write(tmp_path / "e.fr", b"\n\n \n \n")
    config = DataConfig(
        languages=["en", "fr"],
        objectives=["tlm"],
        para={"en-fr": [str(en), str(empty)]},
        cache_dir=str(tmp_path / "c"),
    )
    with pytest.raises(ConfigError, match=r"^data.para.en-fr: no sentence pairs in .*p.en, .*e.fr$"):
        load_corpora(config, sample_vocab_dir)
    assert not (tmp_path / "c").exists()


def test_crlf_bom_and_blank_lines_give_the_same_tokens_as_a_clean_file(tmp_path, sample_vocab_dir):
    lines = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()[:30]
    clean = tmp_path / "clean"
    messy = tmp_path / "messy"
    for root, data in (
        (clean, "\n".join(lines).encode() + b"\n"),
        (messy, b"\xef\xbb\xbf\r\n" + b"\r\n \r\n".join(line.encode() for line in lines) + b"\r\n\r\n"),
    ):
        (root / "mono").mkdir(parents=True)
        write(root / "mono" / "en.txt", data)
    out = {}
    for root in (clean, messy):
        config = DataConfig(languages=["en"], data_dir=str(root), valid_size=3, cache_dir=str(tmp_path / "c"))
        corpora = load_corpora(config, sample_vocab_dir)
        out[root.name] = corpora.mono_train["en"].sentences() + corpora.mono_valid["en"].sentences()
    assert len(out["clean"]) == 30 and out["messy"] == out["clean"]
    assert all(ids for ids in out["clean"])  # no empty sentence (it would add a bare </s>)


def test_a_very_long_line_is_one_sentence_cut_into_blocks(tmp_path, sample_vocab_dir):
    from xlm_hf.data.sources import StreamBlocks

    (tmp_path / "mono").mkdir()
    long_line = " ".join(["the weather is nice today ."] * 2000)  # 12 000 words, 70 kB
    write(tmp_path / "mono" / "en.txt", f"short line .\n{long_line}\nanother short line .\n".encode())
    config = DataConfig(languages=["en"], data_dir=str(tmp_path), valid_size=1, cache_dir=str(tmp_path / "c"))
    corpora = load_corpora(config, sample_vocab_dir)
    train, valid = corpora.mono_train["en"], corpora.mono_valid["en"]
    lengths = sorted([*train.lengths(), *valid.lengths()])
    assert len(lengths) == 3 and lengths[-1] >= 12000
    blocks = StreamBlocks(train.tokens, 64, lang_id=0)
    assert len(blocks[0]["input_ids"]) == 64 and len(blocks) >= 12000 // 64


def test_line_of_control_characters_gives_no_row(tmp_path, sample_vocab_dir):
    (tmp_path / "mono").mkdir()
    write(tmp_path / "mono" / "en.txt", b"hello world .\n\x01\x02\x7f\ngood bye .\n")
    config = DataConfig(languages=["en"], data_dir=str(tmp_path), valid_size=1, cache_dir=str(tmp_path / "c"))
    corpora = load_corpora(config, sample_vocab_dir)
    rows = corpora.mono_train["en"].sentences() + corpora.mono_valid["en"].sentences()
    assert len(rows) == 2 and all(rows)


def test_vocabulary_from_a_bom_crlf_file_has_no_bom_or_cr_token(tmp_path):
    from xlm_hf.vocab import build_vocab

    lines = (SAMPLE_DIR / "mono" / "fr.txt").read_text(encoding="utf-8").splitlines()[:80]
    (tmp_path / "mono").mkdir()
    write(tmp_path / "mono" / "fr.txt", b"\xef\xbb\xbf" + "\r\n\r\n".join(lines).encode() + b"\r\n")
    out = build_vocab(
        VocabConfig(
            languages=["fr"],
            data_dir=str(tmp_path),
            output_dir=str(tmp_path / "v"),
            vocab_size=300,
            sentences_per_language=80,
        )
    )
    vocab = json.loads((out / "vocab.json").read_text(encoding="utf-8"))
    assert not [t for t in vocab if "\ufeff" in t or "\r" in t or t.strip() != t]


def test_vocab_with_invalid_utf8_leaves_no_directory(tmp_path):
    from xlm_hf.vocab import build_vocab

    (tmp_path / "mono").mkdir()
    bad = write(tmp_path / "mono" / "fr.txt", b"bonjour\ncaf\xe9\n")
    config = VocabConfig(languages=["fr"], data_dir=str(tmp_path), output_dir=str(tmp_path / "v"))
    with pytest.raises(DataError, match=rf"^{bad}:2: invalid UTF-8"):
        build_vocab(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mono"]


def test_xnli_tsv_with_bom_crlf_and_blank_lines_counts_every_line(tmp_path):
    path = write(
        tmp_path / "en.tsv",
        b"\xef\xbb\xbfpremise\thypothesis\tlabel\r\n\r\nA man .\tA person .\tentailment\r\n\r\nx\ty\tyes\r\n",
    )
    with pytest.raises(DataError, match=rf"^{path}:5: unknown label 'yes'"):
        read_pair_tsv(path)
    write(path, b"\xef\xbb\xbfpremise\thypothesis\tlabel\r\nA man .\tA person .\tentailment\r\n\r\n")
    assert read_pair_tsv(path) == [{"premise": "A man .", "hypothesis": "A person .", "label": 0}]


# ----------------------------------------------------------------------------- run.json


def _recipe(tmp_path, **training):
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe

    overrides = {
        "data.languages": ["en"],
        "data.data_dir": str(SAMPLE_DIR),
        "model.tokenizer": "tok",
        "training.output_dir": str(tmp_path / "out"),
        "training.max_steps": 10,
        **{f"training.{k}": v for k, v in training.items()},
    }
    return load_recipe(None, overrides)


def test_output_dir_guard(tmp_path):
    recipe = _recipe(tmp_path)
    run_dir.check(recipe)  # missing: fine
    (tmp_path / "out").mkdir()
    run_dir.check(recipe)  # empty: fine
    run_dir.record(recipe)
    run_dir.check(_recipe(tmp_path, max_steps=20, save_steps=5))  # same run, longer: fine
    other = _recipe(tmp_path, seed=7)
    with pytest.raises(ConfigError, match=r"holds a different run \(training.seed is 42 there, 7 here\)"):
        run_dir.check(other)
    with pytest.raises(ConfigError, match="holds a different run"):
        run_dir.check(_recipe(tmp_path, seed=7, resume_from_checkpoint="last"))  # not someone else's
    run_dir.check(_recipe(tmp_path, seed=7, overwrite_output_dir=True))


def test_output_dir_guard_without_run_json(tmp_path):
    (tmp_path / "out" / "checkpoint-5").mkdir(parents=True)  # e.g. a run of an older xlm-hf
    with pytest.raises(ConfigError, match="is not empty and holds no run.json"):
        run_dir.check(_recipe(tmp_path))
    run_dir.check(_recipe(tmp_path, resume_from_checkpoint="last"))
    run_dir.check(_recipe(tmp_path, overwrite_output_dir=True))
    (tmp_path / "out" / "run.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"run.json is unreadable"):
        run_dir.check(_recipe(tmp_path))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        run_dir.check(_recipe(tmp_path, output_dir=str(tmp_path / "file")))


def _compressed(kind: str, data: bytes) -> bytes:
    import bz2
    import gzip
    import lzma

    if kind == "zst":
        zstandard = pytest.importorskip("zstandard")
        return zstandard.ZstdCompressor().compress(data)
    return {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](data)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zst"])
def test_compressed_corpora_read_like_plain_text(tmp_path, sample_vocab_dir, kind):
    plain = (SAMPLE_DIR / "mono" / "en.txt").read_bytes()
    path = write(
        tmp_path / f"en.txt.{kind}", _compressed(kind, b"\xef\xbb\xbf" + plain.replace(b"\n", b"\r\n"))
    )
    assert read_text_lines(path) == read_text_lines(SAMPLE_DIR / "mono" / "en.txt")
    stores = {}
    for name, source in (("plain", SAMPLE_DIR / "mono" / "en.txt"), ("packed", path)):
        config = DataConfig(languages=["en"], mono={"en": str(source)}, cache_dir=str(tmp_path / name))
        stores[name] = load_corpora(config, sample_vocab_dir).mono_train["en"].sentences()
    assert stores["packed"] == stores["plain"] and len(stores["plain"]) > 300


def test_a_compressed_file_is_recognised_by_its_bytes_not_its_name(tmp_path):
    import gzip

    path = write(tmp_path / "corpus.txt", gzip.compress(b"un\ndeux\n"))
    assert read_text_lines(path) == ["un", "deux"]


def test_reading_streams_a_file_line_by_line(tmp_path):
    from xlm_hf.data.textfiles import iter_text_lines

    path = write(tmp_path / "a.txt", b"one\ntwo\n" + b"x" * 100 + b"\n\xff\n")
    lines = iter_text_lines(path)
    assert [next(lines), next(lines)] == ["one", "two"]  # read before the bad byte further on is seen
    with pytest.raises(DataError, match=":4: invalid UTF-8"):
        list(lines)
