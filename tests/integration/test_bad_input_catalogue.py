"""The catalogue of bad input, through the real command line in a subprocess.

Every case builds its inputs in a fresh workspace, runs ``python -m xlm_hf COMMAND ...`` and
checks what the README promises: exit status 2, one error line naming the key or the file, no
traceback, and the workspace — output directories, the tokenisation cache, every input — byte for
byte as it was (a listing of every file with its size and SHA-256, before and after).

To add a case, append a `Case` to `CASES`: a name, the command, a function that writes its inputs
into the workspace and returns the arguments after the command, and a fragment of the message.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import write
from xlm_hf import SAMPLE_DIR

pytestmark = pytest.mark.slow

SAMPLE_LINES = (SAMPLE_DIR / "mono" / "en.txt").read_text(encoding="utf-8").splitlines()[:40]
NLI_ROWS = (SAMPLE_DIR / "nli-en" / "sample.train.tsv").read_text(encoding="utf-8").splitlines()[:20]


class Workspace:
    """A folder with a small data directory, a tokenizer, a tiny model and recipe writers."""

    def __init__(self, root: Path, vocab: Path, model: Path) -> None:
        self.root = root
        self.data = root / "data"
        for lang in ("en", "fr"):
            self.write(f"data/mono/{lang}.txt", "\n".join(SAMPLE_LINES) + "\n")
        self.write("data/para/en-fr.en", "\n".join(SAMPLE_LINES[:10]) + "\n")
        self.write("data/para/en-fr.fr", "\n".join(SAMPLE_LINES[10:20]) + "\n")
        self.vocab = root / "vocab"
        shutil.copytree(vocab, self.vocab)
        self.model = root / "model"
        shutil.copytree(model, self.model)
        self.out = root / "out"
        self.cache = root / "cache"

    def write(self, relative: str, text: str | bytes) -> Path:
        return write(self.root / relative, text)

    def pretrain(self, **sections) -> list[str]:
        """``--config`` of a tiny MLM recipe on the workspace data (sections update it)."""
        recipe = {
            "data": {
                "languages": ["en", "fr"],
                "objectives": ["mlm"],
                "data_dir": str(self.data),
                "max_seq_length": 32,
                "cache_dir": str(self.cache),
            },
            "model": {"tokenizer": str(self.vocab), "emb_dim": 16, "n_layers": 1, "n_heads": 2},
            "training": {"output_dir": str(self.out), "max_steps": 2, "disable_tqdm": True},
        }
        for name, values in sections.items():
            if values is None:
                recipe.pop(name, None)
            else:
                recipe.setdefault(name, {}).update(values)
        return ["--config", str(self.write("pretrain.yaml", yaml.safe_dump(recipe)))]

    def xnli(self, **xnli) -> list[str]:
        recipe = {
            "xnli": {
                "model_name_or_path": str(self.model),
                "train": str(SAMPLE_DIR / "nli-en" / "sample.train.tsv"),
                "eval": str(SAMPLE_DIR / "xnli"),
                "languages": ["en", "fr"],
                "max_seq_length": 64,
                **xnli,
            },
            "training": {"output_dir": str(self.out), "num_train_epochs": 1, "disable_tqdm": True},
        }
        return ["--config", str(self.write("xnli.yaml", yaml.safe_dump(recipe)))]

    def task(self, **task) -> list[str]:
        """``--config`` of a `xlm-hf finetune` recipe on the tiny model (`task` fills the section)."""
        recipe = {
            "task": {
                "model_name_or_path": str(self.model),
                "languages": ["en", "fr"],
                "max_seq_length": 64,
                **task,
            },
            "training": {"output_dir": str(self.out), "num_train_epochs": 1, "disable_tqdm": True},
        }
        return ["--config", str(self.write("task.yaml", yaml.safe_dump(recipe)))]

    def previous_run(self, learning_rate: float = 1e-3) -> None:
        """An output directory holding another run's `run.json` (and a checkpoint-like folder)."""
        settings = {"training.learning_rate": learning_rate, "data.languages": ["en", "fr"]}
        self.write("out/run.json", json.dumps({"fingerprint": "x", "settings": settings}))


@dataclass
class Case:
    name: str
    command: str
    inputs: Callable[[Workspace], list[str]]  # writes the inputs, returns the arguments
    expect: str  # a fragment of the error line
    env: dict[str, str] | None = None


def _truncated_weights(ws: Workspace) -> None:
    weights = ws.model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


NER = "Anna\tB-PER\nlives\tO\nin\tO\nOslo\tB-LOC\n.\tO\n"


def _ner(ws: Workspace, train: str = NER, dev: str = NER) -> list[str]:
    ws.write("ner/train-en.tsv", train)
    for lang in ("en", "fr"):
        ws.write(f"ner/dev-{lang}.tsv", dev)
    return ws.task(
        type="token-classification",
        train=str(ws.root / "ner/train-en.tsv"),
        eval=str(ws.root / "ner/{split}-{lang}.tsv"),
    )


def _squad(question: dict | None, context: str = "Anna lives in Oslo.") -> str:
    paragraph = {"context": context, "qas": [question] if question else []}
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [paragraph]}]})


def _qa(ws: Workspace, train: str) -> list[str]:
    good = _squad({"id": "q1", "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 14}]})
    ws.write("qa/train-en.json", train)
    for lang in ("en", "fr"):
        ws.write(f"qa/dev-{lang}.json", good)
    return ws.task(
        type="extractive-qa",
        train=str(ws.root / "qa/train-en.json"),
        eval=str(ws.root / "qa/{split}-{lang}.json"),
        doc_stride=16,
        max_query_length=16,
    )


def _retrieval(ws: Workspace) -> list[str]:
    ws.write("tatoeba/fr-en.fr", "Bonjour.\nMerci.\n")
    ws.write("tatoeba/fr-en.en", "Hello.\n")
    return ws.task(type="retrieval", eval=str(ws.root / "tatoeba/{lang}-en.{side}"))


def _store_built_ahead(ws: Workspace, damage: Callable[[Path], object]) -> list[str]:
    """The workspace's store built ahead (`xlm-hf prepare-data`), then its mono.fr entry damaged."""
    from xlm_hf.cli import main

    argv = ws.pretrain()
    assert main(["prepare-data", *argv]) == 0
    entry = next(
        p for p in ws.cache.iterdir() if json.loads((p / "key.json").read_text())["name"] == "mono.fr"
    )
    damage(entry)
    return argv


def _cut_short(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


CASES = [
    # --- task recipes (xlm-hf finetune)
    Case(
        "task-type-unknown",
        "finetune",
        lambda ws: ws.task(type="summarization", train="x.tsv", eval="y.tsv"),
        "task.type",
    ),
    Case(
        "conll-three-columns",
        "finetune",
        lambda ws: _ner(ws, train=NER + "\nOslo\tB-LOC\textra\n"),
        "train-en.tsv:7: expected 2 tab-separated columns (token, tag), found 3",
    ),
    Case(
        "conll-unknown-tag",
        "finetune",
        lambda ws: _ner(ws, dev="Anna\tB-XYZ\n"),
        "dev-en.tsv:1: unknown tag 'B-XYZ'",
    ),
    Case(
        "qa-answer-start-wrong",
        "finetune",
        lambda ws: _qa(
            ws, _squad({"id": "q9", "question": "Where?", "answers": [{"text": "Oslo", "answer_start": 3}]})
        ),
        "(q9): answer 'Oslo' is not the context's text at answer_start 3",
    ),
    Case(
        "qa-context-without-questions",
        "finetune",
        lambda ws: _qa(ws, _squad(None)),
        "paragraphs[0]: a context without questions",
    ),
    Case(
        "retrieval-unequal-sides",
        "finetune",
        _retrieval,
        "fr-en.en: 1 lines, but",
    ),
    # --- the recipe file and the command line
    Case(
        "recipe-not-utf8",
        "pretrain",
        lambda ws: ["--config", str(ws.write("r.yaml", b"# caf\xe9\ndata: {}\n"))],
        "not valid UTF-8",
    ),
    Case("config-is-a-directory", "pretrain", lambda ws: ["--config", str(ws.data)], "is a directory"),
    Case(
        "config-missing",
        "finetune-xnli",
        lambda ws: ["--config", str(ws.root / "nope.yaml")],
        "does not exist",
    ),
    Case(
        "recipe-invalid-yaml",
        "pretrain",
        lambda ws: ["--config", str(ws.write("r.yaml", "data: [en\n"))],
        "invalid YAML",
    ),
    Case(
        "recipe-empty",
        "pretrain",
        lambda ws: ["--config", str(ws.write("r.yaml", ""))],
        "required key is missing",
    ),
    Case(
        "unknown-key",
        "pretrain",
        lambda ws: ws.pretrain(data={"objectivs": ["mlm"]}),
        "data.objectivs: unknown key",
    ),
    Case(
        "wrong-type",
        "pretrain",
        lambda ws: [*ws.pretrain(), "model.n_layers=two"],
        "model.n_layers: expected an integer",
    ),
    Case(
        "override-without-section",
        "pretrain",
        lambda ws: [*ws.pretrain(), "max_steps=3"],
        "overrides are section.key=value",
    ),
    Case(
        "nested-override-into-a-list",
        "pretrain",
        lambda ws: [*ws.pretrain(), "data.languages.en=x"],
        "not a mapping",
    ),
    # --- input files
    Case(
        "mono-file-missing",
        "pretrain",
        lambda ws: [*ws.pretrain(), "data.languages=[en, fr, sw]"],
        "does not exist (needed for 'sw')",
    ),
    Case(
        "mono-file-blank",
        "pretrain",
        lambda ws: (ws.write("data/mono/fr.txt", "\n \n"), ws.pretrain())[1],
        "no text for 'fr'",
    ),
    Case(
        "corpus-invalid-utf8",
        "pretrain",
        lambda ws: (ws.write("data/mono/fr.txt", b"bonjour\ncaf\xe9 noir\n"), ws.pretrain())[1],
        "invalid UTF-8",
    ),
    Case(
        "parallel-files-misaligned",
        "pretrain",
        lambda ws: (ws.write("data/para/en-fr.fr", "un\ndeux\n"), ws.pretrain(data={"objectives": ["tlm"]}))[
            1
        ],
        "has 10 lines but",
    ),
    Case(
        "tlm-without-parallel-files",
        "pretrain",
        lambda ws: (shutil.rmtree(ws.data / "para"), ws.pretrain(data={"objectives": ["tlm"]}))[1],
        "data.tlm_pairs: no parallel files",
    ),
    Case(
        "tlm-language-without-a-pair",
        "pretrain",
        lambda ws: ws.pretrain(data={"languages": ["en", "fr", "de"], "objectives": ["tlm"]}),
        "data.languages: no data for ['de']",
    ),
    Case(
        "corpus-is-a-dangling-link",
        "pretrain",
        lambda ws: (
            (ws.data / "mono" / "fr.txt").unlink(),
            (ws.data / "mono" / "fr.txt").symlink_to(ws.root / "moved" / "fr.txt"),
            ws.pretrain(),
        )[2],
        "dangling symbolic link",
    ),
    Case(
        "corpus-of-control-characters",
        "pretrain",
        lambda ws: (ws.write("data/mono/fr.txt", "\x00\x01\x02\n\x07\x08\n" * 20), ws.pretrain())[1],
        "no line gives a token",
    ),
    Case(
        "corpus-is-a-zip-archive",
        "pretrain",
        lambda ws: (ws.write("data/mono/fr.txt", b"PK\x03\x04" + bytes(200)), ws.pretrain())[1],
        "zip archive",
    ),
    Case(
        "corpus-gzip-cut-short",
        "pretrain",
        lambda ws: (
            (ws.data / "mono" / "fr.txt").unlink(),
            ws.write("data/mono/fr.txt.gz", gzip.compress(("\n".join(SAMPLE_LINES) + "\n").encode())[:60]),
            ws.pretrain(),
        )[2],
        "corrupt or cut short",
    ),
    Case(
        "hub-corpus-unreachable-beside-a-local-one",
        "pretrain",
        lambda ws: ws.pretrain(data={"mono": {"fr": "hf:someone/corpus:fr"}}),
        "data.mono.fr: cannot load the hub dataset",
    ),
    # --- output locations
    Case(
        "output-dir-is-a-file",
        "pretrain",
        lambda ws: (ws.write("out", "not a directory"), ws.pretrain())[1],
        "exists and is not a directory",
    ),
    Case(
        "output-dir-impossible",
        "pretrain",
        lambda ws: ws.pretrain(training={"output_dir": "/proc/xlm-hf/out"}),
        "cannot create it in /proc",
    ),
    Case(
        "output-dir-holds-another-run",
        "pretrain",
        lambda ws: (ws.previous_run(), ws.pretrain())[1],
        "holds a different run",
    ),
    Case(
        "output-dir-not-a-run",
        "pretrain",
        lambda ws: (ws.write("out/notes.txt", "mine"), ws.pretrain())[1],
        "holds no run.json",
    ),
    Case(
        "xnli-output-dir-is-a-file",
        "finetune-xnli",
        lambda ws: (ws.write("out", "not a directory"), ws.xnli())[1],
        "exists and is not a directory",
    ),
    Case(
        "cache-dir-under-a-file",
        "pretrain",
        lambda ws: (
            ws.write("afile", "x"),
            ws.pretrain(data={"cache_dir": str(ws.root / "afile" / "cache")}),
        )[1],
        "data.cache_dir: cannot create",
    ),
    Case(
        "cache-dir-impossible",
        "pretrain",
        lambda ws: ws.pretrain(data={"cache_dir": "/proc/xlm-hf/cache"}),
        "cannot create it in /proc",
    ),
    # --- a damaged store that a run must not rebuild (built ahead by prepare-data)
    Case(
        "store-built-ahead-file-cut-short",
        "pretrain",
        lambda ws: _store_built_ahead(ws, lambda e: _cut_short(e / "train.input_ids.tokens.npy")),
        "train.input_ids.tokens.npy: ",
    ),
    Case(
        "store-built-ahead-file-missing",
        "pretrain",
        lambda ws: _store_built_ahead(ws, lambda e: (e / "valid.input_ids.offsets.npy").unlink()),
        "valid.input_ids.offsets.npy: missing; mono.fr was built ahead by `xlm-hf prepare-data`",
    ),
    Case(
        "store-built-ahead-metadata-corrupt",
        "pretrain",
        lambda ws: _store_built_ahead(ws, lambda e: (e / "store.json").write_text('{"dtype": ')),
        "store.json: unreadable (JSONDecodeError); mono.fr was built ahead",
    ),
    Case(
        "store-built-ahead-content-changed",
        "pretrain",
        lambda ws: _store_built_ahead(
            ws,
            lambda e: (e / "train.input_ids.counts.npy").write_bytes(
                (e / "train.input_ids.counts.npy").read_bytes()[:-8] + bytes(8)
            ),
        ),
        "counts.npy: its content differs from what was written (checksum)",
    ),
    # --- tokenizer and model directories
    Case(
        "tokenizer-without-merges",
        "pretrain",
        lambda ws: ((ws.vocab / "merges.txt").unlink(), ws.pretrain())[1],
        "has no merges.txt",
    ),
    Case(
        "tokenizer-looks-like-a-hub-id",
        "pretrain",
        lambda ws: ws.pretrain(model={"tokenizer": "myvocab/sample"}),
        "not a local directory",
    ),
    Case(
        "tokenizer-learned-with-other-settings",
        "pretrain",
        lambda ws: ws.pretrain(
            model={"tokenizer": None, "emb_dim": 16, "n_layers": 1, "n_heads": 2},
            vocab={
                "languages": ["de", "en", "es", "fr"],
                "data_dir": str(SAMPLE_DIR),
                "output_dir": str(ws.vocab),
                "sentences_per_language": 2000,
                "valid_fraction": 0.1,
                "vocab_size": 999,
            },
        ),
        "vocab.vocab_size: ",
    ),
    Case(
        "language-not-in-tokenizer",
        "pretrain",
        lambda ws: (ws.write("data/mono/sw.txt", "habari\n"), ws.pretrain(data={"languages": ["en", "sw"]}))[
            1
        ],
        "are not in the lang2id",
    ),
    Case(
        "model-weights-truncated",
        "pretrain",
        lambda ws: (
            _truncated_weights(ws),
            ws.pretrain(model={"model_name_or_path": str(ws.model), "tokenizer": str(ws.model)}),
        )[1],
        "model.model_name_or_path: cannot load",
    ),
    Case(
        "xnli-model-weights-truncated",
        "finetune-xnli",
        lambda ws: (_truncated_weights(ws), ws.xnli())[1],
        "xnli.model_name_or_path: cannot load",
    ),
    Case(
        "xnli-model-without-merges",
        "finetune-xnli",
        lambda ws: ((ws.model / "merges.txt").unlink(), ws.xnli())[1],
        "has no merges.txt",
    ),
    Case(
        "model-lang2id-differs",
        "pretrain",
        lambda ws: (
            _edit_json(ws.model / "config.json", lang2id={"en": 0, "fr": 1}),
            ws.pretrain(model={"model_name_or_path": str(ws.model), "tokenizer": str(ws.model)}),
        )[1],
        "differs from the tokenizer's",
    ),
    Case(
        "sequences-longer-than-the-model",
        "pretrain",
        lambda ws: ws.pretrain(
            model={"model_name_or_path": str(ws.model), "tokenizer": str(ws.model)},
            data={"max_seq_length": 128},
        ),
        "do not fit the 64 positions",
    ),
    Case(
        "model-with-too-few-language-embeddings",
        "pretrain",
        lambda ws: (
            _edit_json(ws.model / "config.json", n_langs=2),
            ws.pretrain(model={"model_name_or_path": str(ws.model), "tokenizer": str(ws.model)}),
        )[1],
        "language embeddings, too few for the ids of",
    ),
    # --- resuming
    Case(
        "resume-from-a-folder-that-is-no-checkpoint",
        "pretrain",
        lambda ws: (
            ws.write("elsewhere/notes.txt", "x"),
            ws.pretrain(training={"resume_from_checkpoint": str(ws.root / "elsewhere")}),
        )[1],
        "is not a checkpoint",
    ),
    Case(
        "resume-from-a-missing-folder",
        "pretrain",
        lambda ws: ws.pretrain(training={"resume_from_checkpoint": str(ws.root / "gone")}),
        "is not a checkpoint directory",
    ),
    Case(
        "resume-from-a-checkpoint-cut-short",
        "pretrain",
        lambda ws: (
            ws.write("out/checkpoint-2/trainer_state.json", "{}"),
            ws.write("out/checkpoint-2/.complete-0", '{"world_size": 1}'),
            ws.write("out/checkpoint-4/trainer_state.json", "{}"),
            ws.pretrain(training={"resume_from_checkpoint": str(ws.out / "checkpoint-4")}),
        )[3],
        "was not completely written",
    ),
    # --- precision
    Case(
        "precision-differs-from-the-launch-config",
        "pretrain",
        lambda ws: ws.pretrain(training={"bf16": True}),
        "the launch config asks for fp16",
        env={"ACCELERATE_MIXED_PRECISION": "fp16"},
    ),
    # --- XNLI files
    Case(
        "xnli-train-row-without-a-tab",
        "finetune-xnli",
        lambda ws: ws.xnli(
            train=str(ws.write("train.tsv", "\n".join([*NLI_ROWS[:2], "a premise\tno label"])))
        ),
        "expected 3 tab-separated columns",
    ),
    Case(
        "xnli-train-unknown-label",
        "finetune-xnli",
        lambda ws: ws.xnli(train=str(ws.write("train.tsv", "\n".join([*NLI_ROWS[:2], "a\tb\tmaybe"])))),
        "unknown label 'maybe'",
    ),
    Case(
        "xnli-no-dev-data-for-a-language",
        "finetune-xnli",
        lambda ws: ws.xnli(eval=str(ws.write("eval/dev/en.tsv", "\n".join(NLI_ROWS) + "\n").parents[1])),
        "no dev data for ['fr']",
    ),
    Case(
        "xnli-header-without-a-column",
        "finetune-xnli",
        lambda ws: ws.xnli(
            train=str(ws.write("multinli.tsv", "gold_label\tsentence1\tpairID\nneutral\ta\t1\n"))
        ),
        "header has no column 'sentence2'",
    ),
    # --- vocabulary
    Case(
        "vocab-glob-matches-nothing",
        "vocab",
        lambda ws: [
            "--config",
            str(
                ws.write(
                    "v.yaml",
                    yaml.safe_dump(
                        {
                            "vocab": {
                                "languages": ["en"],
                                "files": {"en": [str(ws.root / "none" / "*.txt")]},
                                "output_dir": str(ws.root / "v"),
                            }
                        }
                    ),
                )
            ),
        ],
        "no file matches",
    ),
]


def listing(root: Path) -> dict[str, tuple]:
    """Every file and folder under `root`: folders by name, files by size and SHA-256."""
    out: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            out[rel] = ("dir",)
        else:
            data = path.read_bytes()
            out[rel] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return out


def test_case_names_are_unique():
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_bad_input_is_one_line_exit_2_and_touches_nothing(case, tmp_path, sample_vocab_dir, tiny_model):
    ws = Workspace(tmp_path / "ws", sample_vocab_dir, tiny_model)
    argv = case.inputs(ws)
    before = listing(ws.root)
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "XLM_HF_CACHE": str(ws.cache),
        **(case.env or {}),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "xlm_hf", case.command, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=ws.root,
        timeout=300,
    )
    err = proc.stderr.strip()
    assert proc.returncode == 2, f"exit {proc.returncode}: {err[-2000:]}"
    assert "Traceback" not in err, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith(f"xlm-hf {case.command}: error: ")]
    assert len(errors) == 1, err[-2000:]
    assert case.expect in errors[0], errors[0]
    assert listing(ws.root) == before, "the command changed the workspace"
