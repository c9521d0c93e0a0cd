"""The layer contracts (pyproject.toml, ``[tool.importlinter]``) hold, and each one can fail.

``./dev test`` runs ``lint-imports`` on the tree; here every contract is broken on purpose in a
copy of the tree, one at a time, to show that the check catches it. The module graph is also
checked for cycles directly: no module may reach itself through imports made when the code
runs (imports under ``TYPE_CHECKING`` only exist for the type checker).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("npc_ai", "bridge", "sample_game")
LINT = Path(sys.executable).with_name("lint-imports")

CONTRACTS = {
    "edges": "npc_ai never imports the edges",
    "core-io": "the core owns no sockets and draws nothing",
    "heavy": "the core imports no heavy library itself",
    "backends": "backends import only the core's contracts",
    "sample-game": "the sample game uses npc_ai's public names",
    "acyclic": "no import cycles between the packages",
}

# One import that breaks each contract, added to one module of a copy of the tree.
BREAKS = {
    "edges": ("npc_ai/dialogue/prompt.py", "import bridge.protocol"),
    "core-io": ("npc_ai/memory/store.py", "import socket"),
    "heavy": ("npc_ai/runtime/runtime.py", "import llama_cpp"),
    "backends": ("npc_ai/backends/fake.py", "import npc_ai.subtitles.captions"),
    "sample-game": ("sample_game/world.py", "from npc_ai.runtime.runtime import Runtime"),
    "acyclic": ("npc_ai/dialogue/prompt.py", "import npc_ai.runtime"),
}


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def verdicts(output: str) -> dict[str, str]:
    """Each contract's KEPT or BROKEN, by id."""
    found = {}
    for line in output.splitlines():
        for key, name in CONTRACTS.items():
            words = line.split()
            if line.startswith(name) and {"KEPT", "BROKEN"} & set(words):
                found[key] = "KEPT" if "KEPT" in words else "BROKEN"
    return found


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project's packages and pyproject.toml."""
    root = tmp_path_factory.mktemp("tree")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract() -> None:
    result = lint(ROOT)
    assert verdicts(result.stdout) == dict.fromkeys(CONTRACTS, "KEPT"), result.stdout
    assert result.returncode == 0


@pytest.mark.parametrize("contract", sorted(BREAKS))
def test_each_contract_fails_when_broken(tree: Path, contract: str) -> None:
    module, line = BREAKS[contract]
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}\n", encoding="utf-8")
    try:
        result = lint(tree)
    finally:
        path.write_text(original, encoding="utf-8")
    found = verdicts(result.stdout)
    assert result.returncode != 0, result.stdout
    assert found[contract] == "BROKEN", result.stdout
    assert [k for k, v in found.items() if v == "BROKEN"] == [contract], result.stdout


def module_cycles(*packages: str) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected), at run time."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=True)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, iterative
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return groups


def test_no_module_imports_itself_through_others() -> None:
    assert module_cycles(*PACKAGES) == []


def test_the_cycle_check_finds_a_cycle(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tree / "npc_ai" / "dialogue" / "prompt.py"
    original = path.read_text(encoding="utf-8")
    path.write_text(original + "\nimport npc_ai.dialogue.npc\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tree))
    for name in [m for m in sys.modules if m.split(".")[0] in PACKAGES]:
        monkeypatch.delitem(sys.modules, name)
    try:
        cycles = module_cycles(*PACKAGES)
    finally:
        path.write_text(original, encoding="utf-8")
    assert any({"npc_ai.dialogue.prompt", "npc_ai.dialogue.npc"} <= set(c) for c in cycles)
