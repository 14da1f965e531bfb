"""Recipes: typed sections, overrides, one-line errors naming the key, every shipped YAML valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlm_hf import SAMPLE_DIR
from xlm_hf.config.loader import build_section, interpolate, load_sections, parse_overrides, read_recipe_file
from xlm_hf.config.recipes import load_pretrain_recipe, load_xnli_recipe
from xlm_hf.config.sections import DataConfig, VocabConfig
from xlm_hf.config.training_args import PretrainingArguments
from xlm_hf.errors import ConfigError

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


def _error(fn, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message, "errors are one line"
    return message


def test_sections_are_typed_and_defaults_follow_xlm():
    data = build_section(DataConfig, {"languages": ["en", "fr"], "data_dir": "d"}, "data")
    assert data.objectives == ["mlm"] and data.max_seq_length == 256 and data.lang_sampling_alpha == 0.7
    assert (data.predict_first_position, data.sample_alpha_eos) == (False, False)  # the original's masking
    args = build_section(PretrainingArguments, {"learning_rate": "1e-4", "output_dir": "o"}, "training")
    assert args.learning_rate == 1e-4 and isinstance(args.learning_rate, float)
    assert (args.adam_beta1, args.adam_beta2, args.max_grad_norm) == (0.9, 0.98, 5.0)
    assert str(args.lr_scheduler_type.value) == "inverse_sqrt"


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "objectivs": ["mlm"]},
            "data.objectivs: unknown key",
        ),
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "max_seq_length": "long"},
            "data.max_seq_length: expected an integer",
        ),
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "objectives": ["mlm", "xlm"]},
            "data.objectives: unknown objective",
        ),
        (DataConfig, {"languages": "en", "data_dir": "d"}, "data.languages: expected a list"),
        (DataConfig, {"languages": ["en"], "data_dir": "d", "mlm_probability": 1.5}, "data.mlm_probability"),
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "tlm_long_pairs": "skip"},
            "data.tlm_long_pairs: 'skip' is not one of",
        ),
        (DataConfig, {"languages": ["en", "fr"], "data_dir": "d", "tlm_pairs": ["en-de"]}, "data.tlm_pairs"),
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "sample_alpha_eos": True},
            "data.sample_alpha_eos: weighs </s> for sample_alpha > 0",
        ),
        (DataConfig, {"data_dir": "d"}, "data.languages: required key is missing"),
        (
            DataConfig,
            {"languages": ["en", "fr"], "data_dir": "d", "tlm_pairs": ["en-fr", "en-fr"]},
            "data.tlm_pairs: has duplicates",
        ),
        (
            DataConfig,
            {"languages": ["en"], "data_dir": "d", "mixture": "cycle"},
            "data.mixture: 'cycle' is not one of 'sample', 'xlm'",
        ),
        (DataConfig, {"languages": ["en"], "objectives": ["mlm"]}, "data.data_dir"),
        (VocabConfig, {"languages": ["en"], "output_dir": "o", "data_dir": "d", "alpha": 0}, "vocab.alpha"),
        (
            VocabConfig,
            {"languages": ["en"], "output_dir": "o", "data_dir": "d", "lowercase_and_remove_accent": "yes"},
            "vocab.lowercase_and_remove_accent: expected true or false",
        ),
        (PretrainingArguments, {"max_steps": 1.5}, "training.max_steps: expected an integer"),
        (PretrainingArguments, {"no_such_field": 1}, "training.no_such_field: unknown key"),
    ],
)
def test_bad_values_fail_with_the_key(section, values, expected):
    name = {DataConfig: "data", VocabConfig: "vocab", PretrainingArguments: "training"}[section]
    assert expected in _error(build_section, section, values, name)


def test_overrides_all_spellings_and_yaml_values():
    assert parse_overrides(
        ["training.max_steps=10", "--data.languages", "[en, fr]", "--model.causal=true"]
    ) == {
        "training.max_steps": 10,
        "data.languages": ["en", "fr"],
        "model.causal": True,
    }
    assert "overrides are section.key=value" in _error(parse_overrides, ["max_steps=3"])
    assert "has no value" in _error(parse_overrides, ["--training.max_steps"])


def test_unquoted_yaml_no_means_the_string_no():
    args = build_section(PretrainingArguments, {"eval_strategy": False, "save_strategy": "no"}, "training")
    assert str(args.eval_strategy.value) == "no"


def test_override_wins_over_recipe_and_unknown_section_fails(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("vocab:\n  languages: [en]\n  output_dir: o\n  data_dir: d\n  alpha: 0.3\n")
    sections = load_sections(recipe, ["vocab.alpha=0.9"], {"vocab": VocabConfig})
    assert sections["vocab"].alpha == 0.9
    assert "traning: unknown section" in _error(
        load_sections, recipe, ["traning.seed=1"], {"vocab": VocabConfig}
    )


def test_bad_yaml_and_missing_file_name_the_place(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("data:\n  languages: [en\n")
    assert f"{bad}:" in _error(read_recipe_file, bad)
    assert "does not exist" in _error(read_recipe_file, tmp_path / "nope.yaml")


def test_environment_interpolation(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    assert interpolate("${DATA_DIR:-../shared/data}/mono", "k") == "../shared/data/mono"
    assert interpolate("${XLM_HF_SAMPLE}", "k") == str(SAMPLE_DIR)
    monkeypatch.setenv("XNLI_DIR", "/x")
    assert interpolate("${XNLI_DIR:-${XLM_HF_SAMPLE}/xnli}", "k") == "/x"
    monkeypatch.delenv("XNLI_DIR")
    assert interpolate("${XNLI_DIR:-${XLM_HF_SAMPLE}/xnli}", "k") == f"{SAMPLE_DIR}/xnli"
    assert "data.data_dir: environment variable NOPE_DIR is not set" in _error(
        interpolate, "${NOPE_DIR}", "data.data_dir"
    )


def test_cross_section_checks(tmp_path):
    recipe = RECIPES / "pretrain" / "sample-mlm-tlm.yaml"
    assert "data.max_seq_length" in _error(load_pretrain_recipe, recipe, ["data.max_seq_length=1024"])
    assert "training.max_steps" in _error(load_pretrain_recipe, recipe, ["training.max_steps=-1"])
    assert "data.languages" in _error(load_pretrain_recipe, recipe, ["data.languages=[en, ru]"])


def _recipe_files(kind: str) -> list[Path]:
    return sorted((RECIPES / kind).glob("*.yaml"))


@pytest.mark.parametrize("path", _recipe_files("pretrain"), ids=lambda p: p.name)
def test_every_pretraining_recipe_parses_and_validates(path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data")
    recipe = load_pretrain_recipe(path)
    assert recipe.training.max_steps > 0
    assert (
        path.read_text().startswith("# xlm-hf pretrain --config")
        or "accelerate launch" in path.read_text().splitlines()[0]
    )


@pytest.mark.parametrize("path", _recipe_files("tasks"), ids=lambda p: p.name)
def test_every_task_recipe_parses_and_opens_with_its_command(path, monkeypatch):
    from xlm_hf.config.recipes import load_task_recipe

    monkeypatch.setenv("DATA_DIR", "/data")
    recipe = load_task_recipe(str(path))
    assert recipe.task.name == path.stem and recipe.task.languages
    assert path.read_text().startswith(f"# xlm-hf finetune --config recipes/tasks/{path.name}")


@pytest.mark.parametrize("path", _recipe_files("suites"), ids=lambda p: p.name)
def test_every_suite_names_task_recipes_that_parse(path, monkeypatch):
    from xlm_hf.suite import load_suite

    monkeypatch.setenv("DATA_DIR", "/data")
    monkeypatch.chdir(RECIPES.parent)
    suite = load_suite(str(path))
    assert suite.tasks and all((RECIPES.parent / recipe).is_file() for recipe in suite.tasks.values())


@pytest.mark.parametrize("path", sorted((RECIPES / "pretrain").glob("xlm-*.yaml")), ids=lambda p: p.name)
def test_paper_pretraining_recipes_run_the_original_cycle(path):
    data = load_pretrain_recipe(path).data
    assert data.mixture == "xlm"
    if "tlm" in data.objectives:  # the original's --mlm_steps: each English-centred pair, both ways
        others = [lang for lang in data.languages if lang != "en"]
        assert data.tlm_pairs == [f"en-{x}" for x in others] + [f"{x}-en" for x in others]
        assert sorted(data.para) == sorted(f"en-{x}" for x in others)


@pytest.mark.parametrize("path", _recipe_files("xnli"), ids=lambda p: p.name)
def test_every_xnli_recipe_parses_and_validates(path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data")
    recipe = load_xnli_recipe(path)
    assert recipe.xnli.languages
    assert path.read_text().startswith("# ")


def test_paper_xnli_recipe_resolves_to_the_originals_protocol(monkeypatch):
    from transformers import Trainer

    monkeypatch.delenv("MODEL", raising=False)
    recipe = load_xnli_recipe(RECIPES / "xnli" / "xlm-xnli15-paper.yaml")
    xnli, args = recipe.xnli, recipe.training
    assert args.max_grad_norm == 0  # no clipping (HF's default clips at 1.0)
    assert (xnli.classifier_dropout, xnli.linear_init) == (0.0, "xlm")
    assert (args.learning_rate, args.per_device_train_batch_size, xnli.max_seq_length) == (2.5e-5, 8, 256)
    assert str(args.lr_scheduler_type.value) == "constant" and args.warmup_steps == 0
    assert (args.eval_steps, args.save_steps, args.max_steps) == (2500, 2500, 250 * 20000 // 8)
    optimizer, kwargs = Trainer.get_optimizer_cls_and_kwargs(args)
    assert optimizer.__name__ == "AdamW" and args.weight_decay == 0  # AdamW without decay: Adam
    assert kwargs["lr"] == 2.5e-5 and kwargs["betas"] == (0.9, 0.999) and kwargs["eps"] == 1e-8
    assert xnli.model_name_or_path == "FacebookAI/xlm-mlm-tlm-xnli15-1024" and xnli.mode == "zero-shot"
    message = _error(
        load_xnli_recipe, RECIPES / "xnli" / "xlm-xnli15-paper.yaml", ["xnli.classifier_dropout=1"]
    )
    assert message == "xnli.classifier_dropout: must be in [0, 1)"


@pytest.mark.parametrize("path", _recipe_files("vocab"), ids=lambda p: p.name)
def test_every_vocab_recipe_parses(path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", "/data")
    assert load_sections(path, [], {"vocab": VocabConfig})["vocab"].languages


ACCELERATE_CONFIGS = {
    "cpu.yaml": ("NO", "no"),
    "single-gpu-bf16.yaml": ("NO", "bf16"),
    "multi-gpu-ddp-bf16.yaml": ("MULTI_GPU", "bf16"),
    "multi-gpu-ddp-fp16.yaml": ("MULTI_GPU", "fp16"),
    "fsdp.yaml": ("FSDP", "bf16"),
    "fsdp-cpu.yaml": ("FSDP", "no"),
    "deepspeed-zero2.yaml": ("DEEPSPEED", "bf16"),
    "deepspeed-cpu.yaml": ("DEEPSPEED", "no"),
    "multi-node.yaml": ("MULTI_GPU", "bf16"),
}


def test_the_promised_accelerate_configs_are_shipped():
    assert {p.name for p in _recipe_files("accelerate")} == set(ACCELERATE_CONFIGS)


@pytest.mark.parametrize("path", _recipe_files("accelerate"), ids=lambda p: p.name)
def test_every_accelerate_config_loads_with_accelerates_own_loader(path):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(path))
    distributed, precision = ACCELERATE_CONFIGS[path.name]
    assert (str(config.distributed_type).split(".")[-1], str(config.mixed_precision)) == (
        distributed,
        precision,
    )
    header = "".join(line for line in path.read_text().splitlines(keepends=True) if line.startswith("#"))
    assert f"accelerate launch --config_file recipes/accelerate/{path.name}" in header


def test_recipe_directories_are_not_empty():
    for kind in ("pretrain", "xnli", "vocab", "accelerate"):
        assert _recipe_files(kind), kind


def header_command(path: Path) -> tuple[dict[str, str], str, list[str]]:
    """(environment, command, arguments) of the command a recipe's first line shows.

    ``# [VAR=value ...] xlm-hf COMMAND ARGS  (make ...)`` or ``# accelerate launch ... -m
    xlm_hf.MODULE ARGS``; the ``(make ...)`` note after two spaces is not part of the command.
    """
    import shlex

    line = path.read_text().splitlines()[0].removeprefix("#").strip()
    tokens = shlex.split(line.split("  (")[0])
    env = {}
    while tokens and "=" in tokens[0] and "." not in tokens[0].split("=")[0]:
        key, value = tokens.pop(0).split("=", 1)
        env[key] = value
    if tokens[:1] == ["xlm-hf"]:
        return env, tokens[1], tokens[2:]
    assert tokens[:2] == ["accelerate", "launch"], f"{path.name}: the first line shows no command"
    config_file = tokens[tokens.index("--config_file") + 1]
    assert (RECIPES.parent / config_file).is_file(), f"{path.name}: no accelerate config {config_file}"
    module = tokens[tokens.index("-m") + 1]
    commands = {"xlm_hf.pretrain": "pretrain", "xlm_hf.finetune_xnli": "finetune-xnli"}
    return env, commands[module], tokens[tokens.index("-m") + 2 :]


RUNNABLE = [p for kind in ("pretrain", "xnli", "vocab", "reproduce") for p in _recipe_files(kind)]


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_header_is_a_command_that_loads_the_recipe(path, monkeypatch):
    """The first line of a recipe is a command a user copies: it must parse, name this recipe,
    and its overrides and environment must load it (the way `main` would, up to the work)."""
    from xlm_hf.launch import parse_command_line
    from xlm_hf.reproduce.plan import load_study

    env, command, argv = header_command(path)
    monkeypatch.chdir(RECIPES.parent)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    config, overrides, _ = parse_command_line(command, "", argv, resumable=command != "vocab")
    assert (RECIPES.parent / config).resolve() == path.resolve()
    loaders = {
        "pretrain": load_pretrain_recipe,
        "finetune-xnli": load_xnli_recipe,
        "reproduce": load_study,
        "vocab": lambda c, o: load_sections(
            c, o, {"vocab": VocabConfig}, ignore=("data", "model", "training")
        ),
    }
    assert loaders[command](config, overrides)


def test_a_header_with_the_environment_after_the_recipe_is_caught(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("# xlm-hf vocab --config bad.yaml DATA_DIR=../shared/data\nvocab: {}\n")
    env, command, argv = header_command(recipe)
    from xlm_hf.launch import parse_command_line

    _, overrides, _ = parse_command_line(command, "", argv, resumable=False)
    assert "DATA_DIR" in _error(load_sections, recipe, overrides, {"vocab": VocabConfig})


def test_nested_overrides_reach_into_mappings(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data:\n  languages: [en, fr]\n  mono: {fr: fr.txt}\n  para: {en-fr: [a.en, a.fr]}\n")
    overrides = parse_overrides(["data.mono.en=corpora/en/*.txt", "data.para.en-de=[b.en, b.de]"])
    data = load_sections(recipe, overrides, {"data": DataConfig})["data"]
    assert data.mono == {"fr": "fr.txt", "en": "corpora/en/*.txt"}
    assert data.para == {"en-fr": ["a.en", "a.fr"], "en-de": ["b.en", "b.de"]}
    assert "not a mapping" in _error(load_sections, recipe, ["data.languages.en=x"], {"data": DataConfig})
    assert "section.key=value" in _error(parse_overrides, ["data..mono=x"])


def test_recipe_bytes_and_paths_give_one_line(tmp_path):
    (tmp_path / "latin1.yaml").write_bytes(b"vocab:\n  languages: [en]\n# caf\xe9\n")
    assert "latin1.yaml:3: not valid UTF-8 (byte 0xe9)" in _error(read_recipe_file, tmp_path / "latin1.yaml")
    assert "is a directory" in _error(read_recipe_file, tmp_path)


def test_a_nested_section_is_built_and_checked(tmp_path):
    from xlm_hf.config.loader import coerce
    from xlm_hf.config.sections import StudyConfig, TwinConfig

    english = tmp_path / "en.txt"
    english.write_text("Hello.\n")
    twin = coerce({"english": [str(english)], "heldout_lines": 5}, TwinConfig | None, "study.twin")
    assert isinstance(twin, TwinConfig) and twin.heldout_lines == 5 and twin.tlm_lines == 15000
    assert coerce(None, TwinConfig | None, "study.twin") is None
    with pytest.raises(ConfigError, match=r"^study\.twin\.heldout_line: unknown key"):
        coerce({"english": [str(english)], "heldout_line": 5}, TwinConfig, "study.twin")
    assert StudyConfig.__dataclass_fields__["twin"].default is None


def test_xnli_train_takes_a_list_of_sets(tmp_path):
    from xlm_hf.config.sections import XnliConfig

    one = XnliConfig(model_name_or_path="m", train="a.tsv", eval="e")
    two = XnliConfig(model_name_or_path="m", train=["a.tsv", "b.tsv"], eval="e")
    assert one.train_sources == ["a.tsv"] and two.train_sources == ["a.tsv", "b.tsv"]
    with pytest.raises(ConfigError, match=r"^xnli\.train: must name at least one"):
        XnliConfig(model_name_or_path="m", train=[], eval="e")
