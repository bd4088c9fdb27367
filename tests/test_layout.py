"""The package map holds: no import circles, no stage importing a stage after it in the flow
(engine.LAYERS), durable_rules imported only by engine/rules/rete.py, and no module directly
in engine/ besides the package's own __init__. Read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import engine

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "engine"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import; write it absolute"
            found.add(node.module or "")
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ENGINE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = set()
        for imported in _imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    return graph


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_is_a_known_stage_and_engine_has_no_flat_modules():
    flat = sorted(p.name for p in ENGINE.glob("*.py") if p.name != "__init__.py")
    assert flat == []
    packages = sorted(p.name for p in ENGINE.iterdir() if (p / "__init__.py").is_file())
    assert packages == sorted(engine.LAYERS)


def test_no_stage_imports_a_stage_after_it():
    rank = {name: i for i, name in enumerate(engine.LAYERS)}
    wrong = []
    for module, targets in sorted(_graph().items()):
        here = _stage(module)
        for target in sorted(targets):
            there = _stage(target)
            if here and there and rank[there] > rank[here]:
                wrong.append(f"{module} imports {target}")
    assert wrong == []


def test_no_import_circles():
    graph = _graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_only_rete_imports_durable_rules():
    users = sorted(str(p.relative_to(ROOT)) for p in [*ROOT.glob("engine/**/*.py"), *ROOT.glob("cli/*.py")]
                   if any(m.split(".")[0] in ("durable", "durable_rules_engine") for m in _imports(p)))
    assert users == ["engine/rules/rete.py"]


def test_the_checker_sees_a_backward_import(tmp_path):
    """The rank check reads nested imports too (a stage importing outputs inside a function)."""
    source = "def f():\n    from engine.outputs.explain import explain\n"
    (tmp_path / "m.py").write_text(source)
    assert "engine.outputs.explain" in _imports(tmp_path / "m.py")
