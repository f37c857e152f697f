"""Run one phase of one engine in a fresh Python process and note the machine's load around it.

A subprocess (not a fork of the bench) so that nothing the bench process holds (the corpus, jieba,
another engine's caches) is shared, and `os.wait4` gives the CPU the whole process tree used, its
start-up included. The load marks (bench/machine.py) bracket exactly that process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .machine import load_between, mark

ROOT = Path(__file__).resolve().parent.parent


class PhaseError(RuntimeError):
    """A phase's process failed; the message carries the end of its stderr."""


def run_phase(phase: str, params: dict, workdir: Path) -> dict:
    """The phase's JSON result, plus `load` (the machine's load meanwhile) and `tree_cpu_s` (whole process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f"{phase}-", suffix=".json", dir=workdir)
    os.close(fd)
    params_path, out_path = Path(name), Path(name).with_suffix(".out.json")
    params_path.write_text(json.dumps(params, ensure_ascii=False), encoding="utf-8")
    log_path = params_path.with_suffix(".log")
    before = mark()
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bench.engines", phase, str(params_path), str(out_path)],
                                   cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    after = mark()
    if process.returncode != 0 or not out_path.exists():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise PhaseError(f"{phase} ({params.get('name', 'kb')}) exited with {process.returncode}:\n{tail}")
    result = json.loads(out_path.read_text(encoding="utf-8"))
    tree_cpu = usage.ru_utime + usage.ru_stime
    result["tree_cpu_s"] = round(tree_cpu, 3)
    result["load"] = load_between(before, after, own_cpu_s=tree_cpu)
    return result
