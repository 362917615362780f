"""Imports point one way: left to right along generator -> splits -> evaluation -> leaderboard, with
no circles between modules (not even through imports deferred into functions)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STAGES = ("generator", "splits", "evaluation", "leaderboard")
# Modules of the composition root any stage may use: they import no stage.
SHARED = ("elsewhere.errors", "elsewhere.files", "elsewhere.registry", "elsewhere.extras")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    if parts[0] != "elsewhere":
        parts = ("elsewhere", *parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Every module of the package and the modules of ours it imports, anywhere in its body."""
    graph = {}
    for folder in ("elsewhere", *STAGES):
        for path in sorted((REPO / folder).rglob("*.py")):
            targets = set()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    targets |= {a.name for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    targets.add(node.module)
            graph[module_name(path)] = {t for t in targets if t == "elsewhere" or t.startswith("elsewhere.")}
    return graph


def stage_of(module: str) -> int | None:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 1 and parts[1] in STAGES else None


def test_the_graph_is_read():
    graph = imports()
    assert (
        "elsewhere.generator.catalog" in graph and "elsewhere.generator.shapes" in graph["elsewhere.generator.catalog"]
    )


def test_stages_import_only_to_their_left_and_the_shared_modules():
    wrong = []
    for module, targets in imports().items():
        stage = stage_of(module)
        if stage is None:
            continue
        for target in targets:
            target_stage = stage_of(target)
            if target_stage is None and target not in SHARED or target_stage is not None and target_stage > stage:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_the_shared_modules_import_no_stage():
    graph = imports()
    assert {m: sorted(t for t in graph[m] if t not in SHARED) for m in SHARED} == {m: [] for m in SHARED}


def find_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Each circle met by a depth-first walk of ``edges``, as ``a -> b -> a``."""
    cycles, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    return cycles


def test_find_cycles_finds_a_circle_through_a_deferred_import():
    # The circle this test was written against: shapes resolved glyph names inside a function.
    edges = {"shapes": {"glyphs"}, "glyphs": {"shapes"}, "render": {"shapes"}}
    assert find_cycles(edges) == ["glyphs -> shapes -> glyphs"]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_no_module_imports_itself_back_through_others():
    graph = imports()
    # A name imported from a package (not a module of the graph) depends on the package's __init__.
    edges = {m: {t if t in graph else t.rpartition(".")[0] for t in targets} - {m} for m, targets in graph.items()}
    assert find_cycles(edges) == []
