"""The import rules of docs/architecture.md, checked on the source (ast), so the shape holds after us.

1. `rag` never imports `api` (the pipeline is usable without the web service); the one exception is the
   `rag` command, whose `serve` and `slack` commands run the service (imported inside those functions).
2. The answer step (rag/answering) imports no storage module: it works on passages, not on an index.
3. The stages point one way: the index imports no later stage (ingest, retrieval, answering, the service,
   eval), ingest imports neither retrieval nor the answer step.
4. No import cycle between modules, lazy imports included (the embedder and the tokenizer needed each other).
5. `import rag` imports nothing else: its public names (build, Settings, Answer, Passage) load when used.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STORAGE = {
    "rag.index.keyword",
    "rag.index.postgres",
    "rag.index.vectors",
    "rag.index.feedback",
    "rag.index.originals",
    "rag.index.locking",
    "rag.index.database",
    "rag.index.storage",
}
LATER_THAN_INDEX = ("rag.ingest", "rag.retrieval", "rag.answering", "rag.service", "rag.eval", "rag.pipeline")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path, top_level_only: bool = False) -> list[tuple[str, str | None]]:
    """(module imported, enclosing function or None) for each of our modules that `path` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                if not top_level_only:
                    visit(child, child.name)
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # for the type checker only: never imported at run time
            names = []
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                names = [child.module]
            elif isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            found.extend((n, function) for n in names if n.split(".")[0] in ("rag", "api"))
            visit(child, function)

    visit(tree, None)
    return found


def sources() -> dict[str, Path]:
    return {module_name(p): p for folder in ("rag", "api") for p in sorted((ROOT / folder).rglob("*.py"))}


def test_rag_never_imports_api_but_for_the_commands_that_run_it() -> None:
    bad = [
        (mod, imported, where)
        for mod, path in sources().items()
        if mod.startswith("rag")
        for imported, where in imports(path)
        if imported.startswith("api") and not (mod == "rag.cli" and where in {"cmd_serve", "cmd_slack"})
    ]
    assert not bad


def test_the_answer_step_imports_no_storage_module() -> None:
    bad = [
        (mod, imported)
        for mod, path in sources().items()
        if mod.startswith("rag.answering")
        for imported, _ in imports(path)
        if imported in STORAGE
    ]
    assert not bad


def test_the_stages_point_one_way() -> None:
    bad = []
    for mod, path in sources().items():
        for imported, _ in imports(path):
            if mod.startswith("rag.index") and imported.startswith(LATER_THAN_INDEX):
                bad.append((mod, imported))
            if mod.startswith("rag.ingest") and imported.startswith(("rag.retrieval", "rag.answering", "rag.service")):
                bad.append((mod, imported))
    assert not bad


def test_no_import_cycles() -> None:
    mods = sources()
    # Lazy imports (inside functions) count too: a cycle through one is still two modules that need each other.
    graph = {m: {i for i, _ in imports(p) if i in mods and i != m} for m, p in mods.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def walk(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(path[path.index(n) :] + [n])
            elif n not in state:
                walk(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            walk(m, [m])
    assert not cycles


def test_import_rag_is_light_and_its_public_names_load_when_used() -> None:
    code = (
        "import sys, rag\n"
        "assert not [m for m in sys.modules if m.startswith('rag.')], sorted(sys.modules)\n"
        "from rag import Answer, Passage, Settings, build\n"
        "assert callable(build) and Settings.__name__ == 'Settings' and Answer and Passage\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
