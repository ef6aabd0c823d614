"""The benchmark still runs (tiny sizes): its numbers are measured by bench/run.py, never asserted here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run([sys.executable, str(BENCH), "--quick", "--no-interact", "--only",
                             "throughput,startup,keystrokes", "--out", str(out)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    for name in ("direct", "script", "csup"):
        assert all(report["results"][name]["intact"]) and all(report["results"][name]["tail_delivered"])
    assert "| output throughput" in report["table"]
    # The floor script (filelock and ptyprocess imported, the CLI spawned and relayed): a start-up column.
    assert "| measure | direct | script | floor | csup |" in report["table"]
    assert report["results"]["floor"]["exit_status_passed"] == [True]
    assert report["results"]["floor"]["first_byte_ms"]
    # The start-up breakdown is of the same runs: csup's own marks, read back from the file it was told of.
    assert "sum of the phases" in report["table"] and "import filelock (floor)" in report["table"]
