"""The shape of the code: import layers (import-linter, setup.cfg), no import cycles, small modules.

The layers contract runs from the composition root (``vidrec.ops``) at the top, over the stages (``serving``,
``spark_jobs``, ``models``, ``vidrec.sources``: independent of each other), to the core at the bottom,
with no ignored imports. The cycle check reads every import grimp finds, including imports inside
functions and under ``if TYPE_CHECKING:``, so a cycle cannot hide behind either.
"""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("vidrec", "spark_jobs", "models", "serving")
CODE_DIRS = (*PACKAGES, "dags", "feature_repo", "bench", "tests")
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--config", str(REPO / "setup.cfg")], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_layers_contract_has_no_exceptions():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    contracts = [s for s in cfg.sections() if s.startswith("importlinter:contract:")]
    layers = [s for s in contracts if cfg[s].get("type") == "layers" and not cfg[s].get("containers")]
    assert len(layers) == 1, layers
    top = [line.strip() for line in cfg[layers[0]]["layers"].strip().splitlines()]
    assert top[0] == "vidrec.ops" and {"serving", "spark_jobs", "models"} <= set(top[1].replace(" ", "").split("|"))
    assert not [s for s in contracts if cfg[s].get("ignore_imports", "").strip()], "no contract may ignore imports"


def strongly_connected(graph) -> list[set[str]]:
    """Tarjan's strongly connected components of the import graph (iterative: no recursion limit)."""
    index, low, on_stack, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    out.append(component)
            elif child not in index:
                index[child] = low[child] = counter[0]
                counter[0] += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_no_import_cycles_between_modules():
    import grimp

    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False, cache_dir=None)
    cycles = sorted(sorted(c) for c in strongly_connected(graph) if len(c) > 1)
    assert cycles == [], f"import cycles: {cycles}"


def test_the_cycle_check_finds_a_cycle(tmp_path):
    """The check above must be able to fail: a two-module cycle behind a lazy import is found."""
    import grimp

    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from cyclepkg import b\n")
    (pkg / "b.py").write_text("def f():\n    from cyclepkg import a\n")
    sys.path.insert(0, str(tmp_path))
    try:
        graph = grimp.build_graph("cyclepkg", cache_dir=None)
    finally:
        sys.path.remove(str(tmp_path))
    assert [sorted(c) for c in strongly_connected(graph) if len(c) > 1] == [["cyclepkg.a", "cyclepkg.b"]]


def python_files():
    for folder in CODE_DIRS:
        yield from sorted((REPO / folder).rglob("*.py"))


def test_no_module_over_300_lines_and_no_function_over_60():
    too_long = []
    for path in python_files():
        text = path.read_text()
        name = path.relative_to(REPO)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.end_lineno - node.body[0].lineno + 1  # the signature (arguments) not counted
                if body > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {body} lines")
    assert too_long == []


def test_every_package_says_what_it_owns_and_may_import():
    missing = [str(p.relative_to(REPO)) for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("__init__.py"))
               if not (ast.get_docstring(ast.parse(p.read_text())) or "").strip()]
    assert missing == []


def test_the_readme_layout_names_every_module():
    text = (REPO / "README.md").read_text()
    layout = text[text.index("## Layout"):text.index("## Tests")]
    words = set(layout.replace(".py", " ").replace("/", " ").replace(",", " ").replace("(", " ").replace(")", " ").split())
    modules = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if p.name != "__init__.py"]
    folders = {p.parent.name for p in modules} | {p.stem for p in (REPO / "dags").glob("*.py")}
    missing = sorted({p.stem for p in modules} - words) + sorted(folders - words)
    assert missing == [], f"README's Layout does not name: {missing}"
