"""The import graph of `xlm_hf` is a tree (no module reaches itself through its imports), and it
is layered: the building blocks (`text/`, `data/`, `model/`) never import the commands, `training/`
or the recipe loaders, and a command never calls another stage.

Every import counts, at module level or inside a function (a lazy import still ties two modules
together), and so does the package a module lives in (importing ``xlm_hf.data.corpora`` runs
``xlm_hf/data/__init__.py`` first).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import xlm_hf

PACKAGE_DIR = Path(xlm_hf.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {
        module_name(p): p
        for p in PACKAGE_DIR.rglob("*.py")
        if "assets" not in p.parts and "xnli_accuracy" not in p.parts  # an `evaluate` script, not a module
    }


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The xlm_hf modules `name` imports (``from xlm_hf import run_dir`` is the module run_dir)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + [base]
                ).strip(".")
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph = {name: imports_of(name, path, known) for name, path in mods.items()}
    for name in graph:  # a module's package runs first
        parent = name.rpartition(".")[0]
        if parent and parent in known and parent != "xlm_hf":
            graph[name].add(parent)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_has_the_edges_we_know():
    graph = import_graph()
    assert "xlm_hf.launch" in graph["xlm_hf.pretrain"]
    assert "xlm_hf.reproduce.plan" in graph["xlm_hf.reproduce.report.summaries"]
    assert "xlm_hf.data" in graph["xlm_hf.data.corpora"]


def test_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


COMMANDS = (
    "xlm_hf.vocab",
    "xlm_hf.prepare_data",
    "xlm_hf.pretrain",
    "xlm_hf.finetune",
    "xlm_hf.finetune_xnli",
    "xlm_hf.suite",
    "xlm_hf.reproduce",
)
BUILDING_BLOCKS = ("xlm_hf.text", "xlm_hf.data", "xlm_hf.model")
#: what the building blocks may never import: the commands, the training loop and the recipe
#: loaders of the commands (the section dataclasses, `config.sections`, are theirs to read)
ABOVE_BUILDING_BLOCKS = (
    *COMMANDS,
    "xlm_hf.cli",
    "xlm_hf.launch",
    "xlm_hf.training",
    "xlm_hf.tasks",
    "xlm_hf.xnli",
    "xlm_hf.steps",
    "xlm_hf.config.loader",
    "xlm_hf.config.recipes",
    "xlm_hf.config.training_args",
)
#: `python -m xlm_hf.data.prepare`, the earlier name of `xlm-hf prepare-data`: an entry point only
ENTRY_POINT_SHIMS = {"xlm_hf.data.prepare"}
#: the stage one other stage runs: a pretraining recipe's `vocab` section learns its vocabulary;
#: and `finetune-xnli`, which is `finetune` with the XNLI preset
STAGE_CALLS = {
    ("xlm_hf.pretrain", "xlm_hf.vocab"),
    ("xlm_hf.prepare_data", "xlm_hf.vocab"),
    ("xlm_hf.finetune_xnli", "xlm_hf.finetune"),
}
#: the task layer (training loops, task kinds, step runner) sits under the commands
TASK_LAYER = ("xlm_hf.training", "xlm_hf.tasks", "xlm_hf.xnli", "xlm_hf.steps")


def within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def arrows_back_up(graph: dict[str, set[str]], shims: set[str] = ENTRY_POINT_SHIMS) -> list[str]:
    """Imports that climb the layers: a building block importing what is built on it, or a
    command importing another command (one stage calling another)."""
    found = []
    for name, deps in sorted(graph.items()):
        if name in shims:
            continue
        for dep in sorted(deps):
            climbs = (within(name, BUILDING_BLOCKS) and within(dep, ABOVE_BUILDING_BLOCKS)) or (
                within(name, TASK_LAYER) and within(dep, (*COMMANDS, "xlm_hf.cli", "xlm_hf.launch"))
            )
            stage_calls_stage = (
                within(name, COMMANDS)
                and within(dep, COMMANDS)
                and dep.split(".")[:2] != name.split(".")[:2]  # reproduce.run -> reproduce.plan is one stage
                and (name, dep) not in STAGE_CALLS
            )
            if climbs or stage_calls_stage:
                found.append(f"{name} -> {dep}")
    return found


def test_the_layering_check_sees_the_arrows_it_forbids():
    before = {  # the two arrows of the flat layout (with today's module names), and a stage calling a stage
        "xlm_hf.data.prepare": {"xlm_hf.data", "xlm_hf.pretrain"},
        "xlm_hf.data.pretraining": {"xlm_hf.data.store", "xlm_hf.training.trainer"},
        "xlm_hf.finetune_xnli": {"xlm_hf.pretrain", "xlm_hf.config.recipes"},
        "xlm_hf.model.loading": {"xlm_hf.config.sections", "xlm_hf.text.special_tokens"},
    }
    assert arrows_back_up(before, shims=set()) == [
        "xlm_hf.data.prepare -> xlm_hf.pretrain",
        "xlm_hf.data.pretraining -> xlm_hf.training.trainer",
        "xlm_hf.finetune_xnli -> xlm_hf.pretrain",
    ]


def test_no_arrow_runs_back_up():
    assert arrows_back_up(import_graph()) == []


def test_the_entry_point_shim_is_imported_by_nothing():
    graph = import_graph()
    assert all(graph[shim] <= {"xlm_hf.data", "xlm_hf.prepare_data"} for shim in ENTRY_POINT_SHIMS)
    assert not [name for name, deps in graph.items() if deps & ENTRY_POINT_SHIMS]


@pytest.mark.parametrize(
    "module", ["xlm_hf.cli", "xlm_hf.config.sections", "xlm_hf.config.loader", "xlm_hf.launch"]
)
def test_no_command_module_imports_the_cli(module):
    graph = import_graph()
    assert all("xlm_hf.cli" not in deps for name, deps in graph.items() if name != "xlm_hf.__main__")
    assert module in graph


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        # reading and checking recipes, and planning a study, stay light
        (
            "xlm_hf.config.sections, xlm_hf.config.loader, xlm_hf.reproduce.plan, xlm_hf.cli",
            ("transformers", "torch"),
        ),
        # learning a vocabulary needs transformers' XLMTokenizer, never torch
        ("xlm_hf.vocab", ("torch",)),
    ],
)
def test_light_modules_do_not_load_the_training_stack(modules, absent):
    import subprocess
    import sys

    code = f"import sys, {modules}; print(sorted(m for m in {absent!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
