"""The benchmarks `make bench` runs, run small against the debug build.

Only what each run measured is checked (nodes created and deployed, consoles
with output, consoles left behind), never a time or a ratio: those are the
benchmarks' own figures, and timing assertions flake on shared machines.
These runs keep a change that breaks a benchmark from going unnoticed until
the next `make bench`.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO_ROOT, _server_binary

BENCHMARKS = REPO_ROOT / "Benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stdout[-4000:]}"
    return result


def test_api_benchmark_small_run(tmp_path: Path):
    figures_path = tmp_path / "bench.json"
    run_benchmark(
        "bench.py", "--ironic", str(_server_binary()), "--nodes", "10", "--deploy", "3",
        "--get-seconds", "0.5", "--list-runs", "1", "--no-wrk", "--json", str(figures_path))
    figures = json.loads(figures_path.read_text())
    [ours] = figures["results"]
    assert ours["create"]["nodes"] == 10
    assert ours["list"]["nodes"] == 10
    assert ours["get_python"]["requests"] > 0 and ours["get_python"]["errors"] == 0
    assert ours["deploy"]["nodes"] == 3
    assert ours["memory"]["pss_mib"] > 0


def test_console_benchmark_small_run(tmp_path: Path):
    figures_path = tmp_path / "console.json"
    run_benchmark(
        "console_bench.py", "--bindir", str(_server_binary().parent), "--sessions", "2",
        "--throughput-runs", "1", "--json", str(figures_path))
    figures = json.loads(figures_path.read_text())
    ours, reference = figures["swift_ironic"], figures["ipmiconsole"]
    assert ours["start"]["with_output"] == 2 and ours["start"]["failed"] == 0, ours["start"]
    assert ours["disable"]["left_on_proxy"] == 0, ours["disable"]
    assert reference["start"]["with_output"] == 2, reference["start"]
