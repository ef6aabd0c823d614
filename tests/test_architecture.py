"""The tree shows the architecture, and stays so: imports point down the layers and never in a circle, the pure
core touches no OS, Claude Code's knowledge stays in the adapter, every module says what it owns, and the code
is mypy --strict clean (ruff is in test_lint.py)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "supervisor"
# Arrows point down: a module may import its own layer and the layers below, never one above or beside.
LAYERS = {"core": 0, "machine": 1, "terminal": 2, "clis": 2, "flows": 3, "face": 4}
# The core is plain logic: none of these may appear there.
SIDE_EFFECTS = {"os", "subprocess", "termios", "fcntl", "select", "pty", "tty", "socket", "psutil", "ptyprocess",
                "filelock", "click", "platformdirs", "ctypes", "shutil", "tempfile"}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every module this one imports, wherever in it (lazy imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names
                         if f"{node.module}.{alias.name}" in MODULES)
    return names


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in LAYERS else None


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m)))
def test_imports_point_down_the_layers(module: str) -> None:
    mine = _layer(module)
    assert mine is not None
    for target in _imports(MODULES[module]):
        theirs = _layer(target) if target.startswith("supervisor.") else None
        if theirs is None or theirs == mine:
            continue
        assert LAYERS[theirs] < LAYERS[mine], f"{module} imports {target}: {mine} may not depend on {theirs}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "core"))
def test_the_core_touches_no_os(module: str) -> None:
    touched = {name.split(".")[0] for name in _imports(MODULES[module])} & SIDE_EFFECTS
    assert not touched, f"{module} is in core/ (pure) but imports {sorted(touched)}"


def test_no_import_cycles() -> None:
    graph = {name: {t for t in _imports(path) if t in MODULES and t != name} for name, path in MODULES.items()}
    # Importing a package's module also runs the package's __init__; those hold only docstrings, so leave them out.
    graph = {name: {t for t in targets if MODULES[t].name != "__init__.py"} for name, targets in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                cycle = [*trail[trail.index(target):], target] if target in trail else [node, target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_claude_code_knowledge_stays_in_the_adapter() -> None:
    """Claude Code's file layout and flags are named only in supervisor/clis/."""
    telltales = ("sessions/", "projects/", "--session-id", "--resume", "claude-code", "CLAUDE_CONFIG_DIR")
    for name, path in MODULES.items():
        if _layer(name) in ("clis", "face"):  # the face may show a `claude --resume` command the adapter made
            continue
        source = path.read_text()
        for word in telltales:
            assert word not in source, f"{name} knows Claude Code's {word!r}: ask the adapter instead"


# Each CLI's knowledge is its module's: nothing else in csup names a CLI (in code, strings or comments) — the one
# exception is the line in clis/choose.py that lists the modules.
CLI_MODULES = {"supervisor.clis.claude_code", "supervisor.clis.claude_registry", "supervisor.clis.codex"}
CLI_NAMES = re.compile(r"claude|codex|anthropic|openai", re.IGNORECASE)


@pytest.mark.parametrize("module", sorted(set(MODULES) - CLI_MODULES))
def test_no_module_but_the_cli_modules_names_a_cli(module: str) -> None:
    lines = MODULES[module].read_text().splitlines()
    named = [f"{number}: {line.strip()}" for number, line in enumerate(lines, 1) if CLI_NAMES.search(line)]
    if module == "supervisor.clis.choose":  # the one line that lists them, and its import
        named = [line for line in named if "from supervisor.clis import" not in line and "return (" not in line]
    assert not named, f"{module} names a CLI; ask the CLI's module instead:\n" + "\n".join(named)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_says_what_it_owns(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc) > 20, f"{module} needs a docstring saying what it owns and its side effects"


def test_mypy_strict_is_clean() -> None:
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is part of the test extras: pip install -e '.[test]'"
    result = subprocess.run([mypy, "--strict", "--no-incremental", "--cache-dir", "/dev/null", str(PACKAGE)],
                            capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


CLOCK_READS = re.compile(r"\btime\.(time|monotonic|sleep|time_ns|monotonic_ns|perf_counter)\(")


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in ("flows", "face")))
def test_flows_and_the_face_take_their_clock(module: str) -> None:
    """Flows take a clock (machine/clock.Clock) as an argument, so their logic runs in tables with a fake one;
    the face words the `now` it is given. Neither reads the time itself."""
    source = MODULES[module].read_text()
    found = [match.group(0) for match in CLOCK_READS.finditer(source)]
    assert not found, f"{module} reads the clock directly ({', '.join(found)}): take a Clock"


MAX_MODULE_LINES = 500


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_stays_one_job_in_at_most_500_lines(module: str) -> None:
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module} has {lines} lines: split it by what its parts do"
