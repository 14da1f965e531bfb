"""Bad input through the CLI: one line naming the key or the file and line, exit status 2, no
traceback (unless --debug), and nothing left behind (output_dir, vocabulary, cache entries).

Every case fails before training starts, so these run in the default test run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import sample_xnli_recipe, write
from xlm_hf import SAMPLE_DIR
from xlm_hf.cli import main

SAMPLE_LINES = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()[:40]
NLI_LINES = (SAMPLE_DIR / "nli-en" / "sample.train.tsv").read_text(encoding="utf-8").splitlines()[:20]


def data_dir(tmp: Path, langs=("en", "fr")) -> Path:
    """A small data directory: mono/<lang>.txt for each language, para/en-fr.{en,fr}."""
    root = tmp / "data"
    for lang in langs:
        write(root / "mono" / f"{lang}.txt", "\n".join(SAMPLE_LINES) + "\n")
    write(root / "para" / "en-fr.en", "\n".join(SAMPLE_LINES[:10]) + "\n")
    write(root / "para" / "en-fr.fr", "\n".join(SAMPLE_LINES[10:20]) + "\n")
    return root


def pretrain_recipe(tmp: Path, tokenizer: Path, data_root: Path, **sections) -> Path:
    recipe = {
        "data": {
            "languages": ["en", "fr"],
            "objectives": ["mlm"],
            "data_dir": str(data_root),
            "max_seq_length": 32,
            "cache_dir": str(tmp / "cache"),
        },
        "model": {"tokenizer": str(tokenizer), "emb_dim": 16, "n_layers": 1, "n_heads": 2},
        "training": {"output_dir": str(tmp / "out"), "max_steps": 2, "disable_tqdm": True},
    }
    for name, values in sections.items():
        recipe.setdefault(name, {}).update(values)
    path = tmp / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def fails(capsys, argv: list[str]) -> str:
    """Run the CLI, expect exit status 2 and return its one-line error (without the prefix)."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    prefix = f"xlm-hf {argv[0]}: error: "
    assert last.startswith(prefix), last
    return last[len(prefix) :]


def nothing_left(tmp: Path) -> None:
    assert not (tmp / "out").exists(), "output_dir was created"
    cache = tmp / "cache"
    assert not cache.exists() or not any(cache.iterdir()), f"cache entries: {list(cache.iterdir())}"


# ----------------------------------------------------------------------------- pretraining inputs


def test_missing_data_dir(tmp_path, capsys, sample_vocab_dir):
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, tmp_path / "nowhere")
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message == f"data.data_dir: {tmp_path / 'nowhere'} is not a directory"
    nothing_left(tmp_path)


def test_language_without_a_file(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path, langs=("en",))
    message = fails(capsys, ["pretrain", "--config", str(pretrain_recipe(tmp_path, sample_vocab_dir, data))])
    assert message == f"data.data_dir: {data / 'mono' / 'fr.txt'} does not exist (needed for 'fr')"
    nothing_left(tmp_path)


def test_empty_file_of_one_language_writes_no_cache_entry_for_the_others(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    write(data / "mono" / "fr.txt", "\n  \n\ufeff\n")  # blank lines only
    message = fails(capsys, ["pretrain", "--config", str(pretrain_recipe(tmp_path, sample_vocab_dir, data))])
    assert message == f"data.data_dir: no text for 'fr' in {data / 'mono' / 'fr.txt'}"
    nothing_left(tmp_path)  # en was fine, but nothing is tokenised before every file is checked


def test_invalid_utf8_names_file_and_line(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    write(data / "mono" / "fr.txt", b"bonjour\nle caf\xe9 est bon\nfin\n")  # latin-1, not UTF-8
    message = fails(capsys, ["pretrain", "--config", str(pretrain_recipe(tmp_path, sample_vocab_dir, data))])
    assert message.startswith(
        f"{data / 'mono' / 'fr.txt'}:2: invalid UTF-8 (byte 0xe9 at byte 7 of the line); convert the file"
    )
    nothing_left(tmp_path)


def test_parallel_files_with_different_line_counts(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    write(data / "para" / "en-fr.fr", "\n".join(SAMPLE_LINES[10:19]) + "\n")
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data, data={"objectives": ["mlm", "tlm"]})
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    en, fr = data / "para" / "en-fr.en", data / "para" / "en-fr.fr"
    assert message == (
        f"data.para.en-fr: {en} has 10 lines but {fr} has 9; parallel files must be line-aligned"
    )
    nothing_left(tmp_path)


def test_tlm_without_parallel_data(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    for path in (data / "para").iterdir():
        path.unlink()
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data, data={"objectives": ["mlm", "tlm"]})
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message == f"data.tlm_pairs: no parallel files among ['en', 'fr'] in {data}/para"
    nothing_left(tmp_path)


def test_language_with_no_data_for_any_objective(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path)
    recipe = pretrain_recipe(
        tmp_path, sample_vocab_dir, data, data={"languages": ["de", "en", "fr"], "objectives": ["tlm"]}
    )
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message.startswith("data.languages: no data for ['de']")
    nothing_left(tmp_path)


def test_language_unknown_to_the_tokenizer(tmp_path, capsys, sample_vocab_dir):
    data = data_dir(tmp_path, langs=("en", "sw"))
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data, data={"languages": ["en", "sw"]})
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message == (
        f"data.languages: ['sw'] are not in the lang2id ['de', 'en', 'es', 'fr'] of the tokenizer "
        f"{sample_vocab_dir}"
    )
    nothing_left(tmp_path)


def _model_config_dir(tmp: Path, tokenizer, **changes) -> Path:
    """A model directory (config.json) made for `tokenizer`, with some fields changed."""
    from xlm_hf.config.sections import ModelConfig
    from xlm_hf.model.loading import build_config

    config = build_config(
        ModelConfig(emb_dim=16, n_layers=1, n_heads=2, max_position_embeddings=64), tokenizer
    )
    for key, value in changes.items():
        setattr(config, key, value)
    out = tmp / "model"
    config.save_pretrained(out)
    return out


@pytest.mark.parametrize(
    ("changes", "data", "expected"),
    [
        (
            {"lang2id": {"en": 0, "fr": 1}, "id2lang": {0: "en", 1: "fr"}},
            {},
            "model.model_name_or_path: the model's lang2id {'en': 0, 'fr': 1} differs from the tokenizer's "
            "{'de': 0, 'en': 1, 'es': 2, 'fr': 3}",
        ),
        (
            {"n_langs": 2},
            {},
            "model.model_name_or_path: the model has 2 language embeddings, too few for the ids of ['fr']",
        ),
        (
            {"max_position_embeddings": 16},
            {},
            "data.max_seq_length: sequences of 32 tokens do not fit the 16 positions of {model}",
        ),
        (
            {},
            {"objectives": ["mlm", "tlm"], "tlm_max_len": 80},
            "data.tlm_max_len: sequences of 82 tokens do not fit the 64 positions of {model}",
        ),
    ],
    ids=["lang2id-differs", "too-few-language-embeddings", "seq-len-over-positions", "tlm-over-positions"],
)
def test_model_directory_disagrees_with_the_recipe(
    tmp_path, capsys, sample_vocab_dir, sample_tokenizer, changes, data, expected
):
    model = _model_config_dir(tmp_path, sample_tokenizer, **changes)
    recipe = pretrain_recipe(
        tmp_path,
        sample_vocab_dir,
        data_dir(tmp_path),
        data=data,
        model={"model_name_or_path": str(model), "max_position_embeddings": 512},
    )
    assert fails(capsys, ["pretrain", "--config", str(recipe)]) == expected.replace("{model}", str(model))
    nothing_left(tmp_path)


# ----------------------------------------------------------------------------- recipes


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("data.languags=[en]", "data.languags: unknown key for section 'data'"),
        ("model.n_layers=two", "model.n_layers: expected an integer, got 'two'"),
        ("data.max_valid_lines=0", "data.max_valid_lines: must be >= 1"),
        ("data.max_lines_per_language=-5", "data.max_lines_per_language: must be >= 1"),
        ("training.per_device_train_batch_size=0", "training.per_device_train_batch_size: must be >= 1"),
        ("training.max_steps=0", "training.max_steps: pretraining streams are endless; set max_steps > 0"),
        ("data.max_seq_length=1024", "data.max_seq_length: longer than model.max_position_embeddings"),
        ("data.objectives=[tlm]", "data.para: tlm needs data_dir or data.para"),
    ],
)
def test_bad_recipe_values(tmp_path, capsys, sample_vocab_dir, override, expected):
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data_dir(tmp_path))
    if override.startswith("data.objectives"):
        override_args = [override, "data.data_dir=null"]
    else:
        override_args = [override]
    assert fails(capsys, ["pretrain", "--config", str(recipe), *override_args]) == expected
    nothing_left(tmp_path)


def test_debug_shows_the_traceback(tmp_path, capsys, sample_vocab_dir):
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, tmp_path / "nowhere")
    for argv in (
        ["pretrain", "--debug", "--config", str(recipe)],
        ["pretrain", "--config", str(recipe), "--debug"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "ConfigError" in err
        assert err.strip().splitlines()[-1].startswith("xlm-hf pretrain: error: data.data_dir:")


# ----------------------------------------------------------------------------- output_dir


def test_output_dir_of_another_run_is_refused(tmp_path, capsys, sample_vocab_dir):
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
    from xlm_hf.training import run_dir

    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data_dir(tmp_path))
    other = load_recipe(recipe, ["training.learning_rate=0.5"])
    run_dir.record(other)  # as if a run with another learning rate had started there
    before = sorted(p.name for p in (tmp_path / "out").iterdir())
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message == (
        f"training.output_dir: {tmp_path / 'out'} holds a different run (training.learning_rate is 0.5 "
        "there, 0.0001 here); choose another output_dir, or set training.overwrite_output_dir=true"
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == before == ["run.json"]
    assert not (tmp_path / "cache").exists()  # refused before any work


def test_unrelated_directory_is_refused(tmp_path, capsys, sample_vocab_dir):
    write(tmp_path / "out" / "notes.txt", "my thesis\n")
    recipe = pretrain_recipe(tmp_path, sample_vocab_dir, data_dir(tmp_path))
    message = fails(capsys, ["pretrain", "--config", str(recipe)])
    assert message == (
        f"training.output_dir: {tmp_path / 'out'} is not empty and holds no run.json (not a run of this "
        "recipe); choose another output_dir, or set training.overwrite_output_dir=true"
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["notes.txt"]


# ----------------------------------------------------------------------------- XNLI inputs


def xnli_recipe(tmp: Path, model: Path, **xnli) -> Path:
    training = {"output_dir": str(tmp / "out"), "num_train_epochs": 1, "disable_tqdm": True}
    return sample_xnli_recipe(tmp, model, training, **xnli)


def _train_file(tmp: Path, lines: list[str]) -> Path:
    return write(tmp / "train.tsv", "\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            lambda rows: rows[:2] + ["a premise\tno label"] + rows[2:],
            "{f}:3: expected 3 tab-separated columns",
        ),
        (lambda rows: rows[:4] + ["a premise\ta hypothesis\tmaybe"], "{f}:5: unknown label 'maybe'"),
        (lambda rows: ["premise\thypo"] + rows, "{f}:1: header has no column 'label' (found: premise, hypo)"),
    ],
    ids=["wrong-columns", "unknown-label", "missing-header-column"],
)
def test_bad_xnli_training_file(tmp_path, capsys, tiny_model, edit, expected):
    train = _train_file(tmp_path, edit(list(NLI_LINES)))
    message = fails(
        capsys, ["finetune-xnli", "--config", str(xnli_recipe(tmp_path, tiny_model, train=str(train)))]
    )
    assert message.startswith("xnli.train: " + expected.format(f=train)), message
    assert not (tmp_path / "out").exists()


def test_xnli_training_file_in_latin1(tmp_path, capsys, tiny_model):
    train = write(tmp_path / "train.tsv", "\n".join(NLI_LINES[:3]).encode() + b"\ncaf\xe9\tx\tneutral\n")
    message = fails(
        capsys, ["finetune-xnli", "--config", str(xnli_recipe(tmp_path, tiny_model, train=str(train)))]
    )
    assert message.startswith(f"xnli.train: {train}:4: invalid UTF-8 (byte 0xe9 at byte 4 of the line)")


def test_xnli_eval_language_without_data_and_empty_eval_file(tmp_path, capsys, tiny_model):
    evaluation = tmp_path / "xnli"
    write(evaluation / "dev" / "en.tsv", "\n".join(NLI_LINES) + "\n")
    recipe = xnli_recipe(tmp_path, tiny_model, eval=str(evaluation))
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]) == (
        f"xnli.languages: no dev data for ['fr'] in {evaluation}"
    )
    write(evaluation / "dev" / "fr.tsv", "premise\thypothesis\tlabel\n")
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]) == (
        f"xnli.eval: {evaluation / 'dev' / 'fr.tsv'}: no examples (the file is empty or holds only a header)"
    )
    assert not (tmp_path / "out").exists()


def test_xnli_model_checks(tmp_path, capsys, tiny_model):
    recipe = xnli_recipe(tmp_path, tiny_model, max_seq_length=128)
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]) == (
        f"xnli.max_seq_length: 128 is more than the 64 positions of {tiny_model}"
    )
    recipe = xnli_recipe(tmp_path, tiny_model, languages=["en", "sw"])
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]).startswith(
        "xnli.model_name_or_path: languages ['sw'] are not in the model's lang2id"
    )
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe), "xnli.max_train_examples=0"]) == (
        "xnli.max_train_examples: must be >= 1"
    )
    assert not (tmp_path / "out").exists()


def test_run_json_is_written_with_the_settings(tmp_path, sample_vocab_dir):
    from xlm_hf.config.recipes import load_pretrain_recipe as load_recipe
    from xlm_hf.training import run_dir

    recipe = load_recipe(pretrain_recipe(tmp_path, sample_vocab_dir, data_dir(tmp_path)))
    run_dir.record(recipe)
    saved = json.loads((tmp_path / "out" / "run.json").read_text())
    assert saved["settings"]["data.languages"] == ["en", "fr"]
    assert saved["settings"]["training.learning_rate"] == 1e-4
    assert "training.max_steps" not in saved["settings"] and "data.cache_dir" not in saved["settings"]


def test_broken_model_directory(tmp_path, capsys, sample_vocab_dir, tiny_model):
    model = tmp_path / "broken"
    write(model / "config.json", "{not json")
    recipe = pretrain_recipe(
        tmp_path, sample_vocab_dir, data_dir(tmp_path), model={"model_name_or_path": str(model)}
    )
    assert fails(capsys, ["pretrain", "--config", str(recipe)]).startswith(
        f"model.model_name_or_path: cannot load {model} ("
    )
    nothing_left(tmp_path)
    recipe = xnli_recipe(tmp_path, model)
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]).startswith(
        f"xnli.model_name_or_path: cannot load {model} ("
    )
    assert not (tmp_path / "out").exists()


def test_hub_dataset_that_cannot_be_loaded(tmp_path, capsys, sample_vocab_dir, monkeypatch):
    import xlm_hf.data.inputs as inputs

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub\n(offline mode is on)")

    monkeypatch.setattr(inputs, "hub_load_dataset", offline)
    recipe = pretrain_recipe(
        tmp_path, sample_vocab_dir, data_dir(tmp_path), data={"mono": {"fr": "hf:someone/corpus:fr"}}
    )
    assert fails(capsys, ["pretrain", "--config", str(recipe)]) == (
        "data.mono.fr: cannot load the hub dataset 'hf:someone/corpus:fr' "
        "(Couldn't reach the Hugging Face Hub (offline mode is on))"
    )
    nothing_left(tmp_path)  # en, a local file, is not tokenised before the hub is found unreachable


def test_vocab_on_a_bad_file_leaves_no_vocabulary(tmp_path, capsys):
    bad = write(tmp_path / "data" / "mono" / "fr.txt", b"bonjour\n\xff\xfe\n")
    write(tmp_path / "data" / "mono" / "en.txt", "hello\n")
    recipe = tmp_path / "vocab.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "vocab": {
                    "languages": ["en", "fr"],
                    "data_dir": str(tmp_path / "data"),
                    "output_dir": str(tmp_path / "v"),
                }
            }
        )
    )
    assert fails(capsys, ["vocab", "--config", str(recipe)]).startswith(
        f"{bad}:2: invalid UTF-8 (byte 0xff at byte 1 of the line)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "vocab.yaml"]


def test_missing_data_is_found_before_a_vocabulary_is_learned(tmp_path, capsys):
    data = data_dir(tmp_path)
    for path in (data / "para").iterdir():
        path.unlink()
    vocab = {"languages": ["en", "fr"], "data_dir": str(data), "output_dir": str(tmp_path / "vocab")}
    recipe = pretrain_recipe(
        tmp_path, tmp_path / "vocab", data, vocab=vocab, data={"objectives": ["mlm", "tlm"]}
    )
    assert fails(capsys, ["pretrain", "--config", str(recipe)]).startswith(
        "data.tlm_pairs: no parallel files"
    )
    nothing_left(tmp_path)
    assert not (tmp_path / "vocab").exists()


@pytest.mark.parametrize(
    ("xnli", "expected"),
    [
        ({"train": "{tmp}/nope.tsv"}, "xnli.train: {tmp}/nope.tsv: not a file, nor a directory holding"),
        ({"train": "{tmp}/empty.tsv"}, "xnli.train: no training examples in {tmp}/empty.tsv"),
        ({"eval": "{tmp}/nowhere"}, "xnli.eval: {tmp}/nowhere: neither a dev/<lang>.tsv directory nor"),
    ],
    ids=["missing-train", "empty-train", "missing-eval"],
)
def test_missing_or_empty_xnli_inputs(tmp_path, capsys, tiny_model, xnli, expected):
    write(tmp_path / "empty.tsv", "\n\n")
    recipe = xnli_recipe(tmp_path, tiny_model, **{k: v.format(tmp=tmp_path) for k, v in xnli.items()})
    assert fails(capsys, ["finetune-xnli", "--config", str(recipe)]).startswith(expected.format(tmp=tmp_path))
    assert not (tmp_path / "out").exists()
