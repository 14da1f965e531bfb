"""Bad corpora and cache locations through the CLI: exit status 2, one line naming the file or key,
and the cache and output_dir byte-for-byte as they were (a listing with sizes and hashes).

The cache is primed first with the entry of a good language, so "unchanged" means something:
a failing run must neither add an entry, nor remove or alter the one that was there.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import write
from tests.integration.test_bad_input_cli import SAMPLE_LINES, data_dir, fails, pretrain_recipe
from xlm_hf.config.sections import DataConfig
from xlm_hf.data.corpora import load_corpora


def listing(root: Path) -> dict[str, tuple[int, str]] | None:
    """Every file and folder under `root` with its size and hash (None when `root` is absent)."""
    if not root.exists():
        return None
    out = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        out[key] = (
            (0, "dir")
            if path.is_dir()
            else (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        )
    return out


@pytest.fixture
def primed(tmp_path, sample_vocab_dir) -> Path:
    """A data directory whose English is already in the cache (the run's seed is training.seed, 42)."""
    data = data_dir(tmp_path)
    config = DataConfig(
        languages=["en"], data_dir=str(data), max_seq_length=32, cache_dir=str(tmp_path / "cache")
    )
    assert load_corpora(config, sample_vocab_dir, seed=42).cache_misses == 1
    return data


def fails_leaving_all_as_it_was(capsys, tmp_path: Path, recipe: Path, *overrides: str) -> str:
    before = listing(tmp_path / "cache"), listing(tmp_path / "out")
    message = fails(capsys, ["pretrain", "--config", str(recipe), *overrides])
    assert (listing(tmp_path / "cache"), listing(tmp_path / "out")) == before
    return message


def test_a_dangling_symbolic_link_is_named_as_one(tmp_path, capsys, sample_vocab_dir, primed):
    fr = primed / "mono" / "fr.txt"
    fr.unlink()
    fr.symlink_to(tmp_path / "moved" / "fr.txt")
    message = fails_leaving_all_as_it_was(
        capsys, tmp_path, pretrain_recipe(tmp_path, sample_vocab_dir, primed)
    )
    assert (
        message
        == f"{fr}: a dangling symbolic link (it points to {tmp_path / 'moved' / 'fr.txt'}, which does not exist)"
    )
    link = tmp_path / "corpus-link.txt"
    link.symlink_to(tmp_path / "nowhere.txt")
    recipe = pretrain_recipe(
        tmp_path,
        sample_vocab_dir,
        primed,
        data={"mono": {"fr": [str(primed / "mono" / "en.txt"), str(link)]}},
    )
    assert fails_leaving_all_as_it_was(capsys, tmp_path, recipe).startswith(
        f"{link}: a dangling symbolic link"
    )


def test_a_file_of_control_characters_only(tmp_path, capsys, sample_vocab_dir, primed):
    fr = write(primed / "mono" / "fr.txt", b"\x01\x02\n\x00\x00\x00\n\x7f\x1b\xe2\x80\x8b\n")
    message = fails_leaving_all_as_it_was(
        capsys, tmp_path, pretrain_recipe(tmp_path, sample_vocab_dir, primed)
    )
    assert message == f"{fr}: no line gives a token (every line holds only control characters)"


def test_a_large_file_of_control_characters_is_found_while_tokenising(
    tmp_path, capsys, sample_vocab_dir, primed
):
    fr = write(primed / "mono" / "fr.txt", b"\x01\x02\x03\x04\n" * 20_000)  # past what is checked up front
    message = fails_leaving_all_as_it_was(
        capsys, tmp_path, pretrain_recipe(tmp_path, sample_vocab_dir, primed)
    )
    assert message == f"{fr}: no line gives a token (every line holds only control characters)"


def test_a_cache_location_that_cannot_be_made(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    blocker = write(tmp_path / "blocker", "a file where the cache should go\n")
    vocab = {"languages": ["en", "fr"], "data_dir": str(data), "output_dir": str(tmp_path / "vocab")}
    recipe = pretrain_recipe(tmp_path, tmp_path / "vocab", data, vocab=vocab)
    before = listing(tmp_path)
    message = fails(capsys, ["pretrain", "--config", str(recipe), f"data.cache_dir={blocker}/cache"])
    assert message == f"data.cache_dir: cannot create {blocker}/cache: {blocker} is a file, not a directory"
    message = fails(capsys, ["pretrain", "--config", str(recipe), "data.cache_dir=/proc/xlm-hf/cache"])
    assert message.startswith("data.cache_dir: /proc/xlm-hf/cache: cannot create it in /proc (")
    assert listing(tmp_path) == before  # refused before the vocabulary was learned


def test_an_unreachable_hub_corpus_beside_a_local_one(
    tmp_path, capsys, sample_vocab_dir, primed, monkeypatch
):
    import xlm_hf.data.inputs as inputs

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    monkeypatch.setattr(inputs, "hub_load_dataset", offline)
    write(primed / "mono" / "de.txt", "\n".join(SAMPLE_LINES) + "\n")  # a local language still to tokenise
    recipe = pretrain_recipe(
        tmp_path,
        sample_vocab_dir,
        primed,
        data={"languages": ["de", "en", "fr"], "mono": {"fr": "hf:someone/corpus:fr"}},
    )
    message = fails_leaving_all_as_it_was(capsys, tmp_path, recipe)
    assert (
        message
        == "data.mono.fr: cannot load the hub dataset 'hf:someone/corpus:fr' (Couldn't reach the Hugging Face Hub)"
    )


def _zip(text: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("fr.txt", text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("fr.txt", _zip(b"bonjour\n"), "{f}: a zip archive: extract it (unzip) and give the text files"),
        (
            "fr.txt.zst",
            b"\x28\xb5\x2f\xfd" + b"\x00" * 16,
            "{f}: zstd-compressed, and the zstandard package is not installed "
            "(pip install zstandard, or decompress it: zstd -d)",
        ),
        ("fr.txt", b"\x04\x22\x4d\x18" + b"\x00" * 16, "{f}: lz4-compressed: decompress it (lz4 -d)"),
        (
            "fr.txt.gz",
            gzip.compress("\n".join(SAMPLE_LINES).encode())[:-20],
            "{f}: the gzip data is corrupt or cut short (",
        ),
        ("fr.txt.bz2", bz2.compress(b"bonjour\n")[:20], "{f}: the bzip2 data is corrupt or cut short ("),
    ],
    ids=["zip", "zstd-without-zstandard", "lz4", "truncated-gzip", "truncated-bzip2"],
)
def test_compression_we_cannot_read_is_named(
    tmp_path, capsys, sample_vocab_dir, primed, monkeypatch, name, data, expected
):
    monkeypatch.setitem(sys.modules, "zstandard", None)  # as where it is not installed
    (primed / "mono" / "fr.txt").unlink()
    fr = write(primed / "mono" / name, data)
    message = fails_leaving_all_as_it_was(
        capsys, tmp_path, pretrain_recipe(tmp_path, sample_vocab_dir, primed)
    )
    assert message.startswith(expected.format(f=fr)), message
    assert "iconv" not in message


def test_vocabulary_files_given_as_a_path_a_glob_or_a_list(tmp_path, capsys):
    from xlm_hf.cli import main

    corpora = tmp_path / "corpora"
    write(corpora / "en" / "a.txt", "\n".join(SAMPLE_LINES[:20]) + "\n")
    write(corpora / "en" / "b.txt.gz", gzip.compress(("\n".join(SAMPLE_LINES[20:]) + "\n").encode()))
    write(corpora / "fr.txt", "\n".join(SAMPLE_LINES[5:30]) + "\n")
    common = ["vocab.languages=[en, fr]", "vocab.vocab_size=200", "vocab.sentences_per_language=40"]
    files = [f"vocab.files={{en: '{corpora}/en/*', fr: {corpora}/fr.txt}}"]
    recipe = write(tmp_path / "vocab.yaml", f"vocab:\n  output_dir: {tmp_path / 'v1'}\n")
    assert main(["vocab", "--config", str(recipe), *common, *files]) == 0
    files = [f"vocab.files={{en: [{corpora}/en/a.txt, {corpora}/en/b.txt.gz], fr: [{corpora}/fr.txt]}}"]
    assert (
        main(["vocab", "--config", str(recipe), *common, *files, f"vocab.output_dir={tmp_path / 'v2'}"]) == 0
    )
    assert (tmp_path / "v1" / "vocab.json").read_bytes() == (tmp_path / "v2" / "vocab.json").read_bytes()
    meta = [json.loads((tmp_path / v / "xlm_hf_vocab.json").read_text()) for v in ("v1", "v2")]
    assert meta[0]["settings"].pop("files") != meta[1]["settings"].pop("files")  # the recipe's own words
    assert meta[0] == meta[1]  # the same lines, counts and settings otherwise
    capsys.readouterr()
    files = [f"vocab.files={{en: '{corpora}/de/*', fr: {corpora}/fr.txt}}"]
    message = fails(
        capsys, ["vocab", "--config", str(recipe), *common, *files, f"vocab.output_dir={tmp_path / 'v3'}"]
    )
    assert message == f"vocab.files.en: no file matches {corpora}/de/*"
    assert not (tmp_path / "v3").exists()


def test_a_read_only_store_serves_a_run_that_finds_every_entry(
    tmp_path, sample_vocab_dir, primed, monkeypatch
):
    import xlm_hf.data.corpora as corpora
    from xlm_hf.errors import ConfigError

    def read_only(path, key):  # what a read-only mount answers (root writes in a chmod 555 folder)
        raise ConfigError(f"{key}: {path}: cannot write in it (Read-only file system)")

    monkeypatch.setattr(corpora, "check_can_write", read_only)
    config = DataConfig(
        languages=["en"], data_dir=str(primed), max_seq_length=32, cache_dir=str(tmp_path / "cache")
    )
    assert load_corpora(config, sample_vocab_dir, seed=42).cache_hits == 1
    config.languages = ["en", "fr"]
    with pytest.raises(ConfigError) as info:
        load_corpora(config, sample_vocab_dir, seed=42)
    assert str(info.value) == (
        f"data.cache_dir: {tmp_path / 'cache'}: cannot write in it (Read-only file system); "
        "it lacks mono.fr (see the README: the store)"
    )
