"""The machine and its load while an engine was measured, so a reader can tell a quiet run from a noisy one.

For each measured stretch: the 1-minute load average before and after (os.getloadavg), and from
/proc/stat the share of the machine's CPU that was busy, stolen by the hypervisor (steal) and spent by
processes other than the measured one (busy minus the measured process's own CPU). /proc/stat is Linux
only; elsewhere those shares are left out.
"""
from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:      # not on Linux
        return os.cpu_count() or 1


def _cpu_jiffies() -> dict[str, int] | None:
    """The aggregate `cpu` line of /proc/stat: jiffies per state since boot."""
    try:
        fields = PROC_STAT.read_text().splitlines()[0].split()
    except OSError:
        return None
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) for name, value in zip(names, fields[1:])}


@dataclass
class LoadMark:
    wall: float
    loadavg: float | None
    jiffies: dict[str, int] | None


def mark() -> LoadMark:
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return LoadMark(time.perf_counter(), load, _cpu_jiffies())


def load_between(before: LoadMark, after: LoadMark, own_cpu_s: float | None = None) -> dict:
    """Load over a stretch: loadavg before/after; busy, steal and other processes' share of all cores (%)."""
    out: dict = {"loadavg_before": before.loadavg, "loadavg_after": after.loadavg,
                 "seconds": round(after.wall - before.wall, 1)}
    if before.jiffies and after.jiffies:
        delta = {k: after.jiffies[k] - before.jiffies[k] for k in after.jiffies}
        total = sum(delta.values())
        if total > 0:
            idle = delta["idle"] + delta["iowait"]
            busy = total - idle
            out["busy_pct"] = round(100 * busy / total, 1)
            out["steal_pct"] = round(100 * delta.get("steal", 0) / total, 1)
            if own_cpu_s is not None:
                ticks = os.sysconf("SC_CLK_TCK")
                other = max(0.0, busy - delta.get("steal", 0) - own_cpu_s * ticks)
                out["other_pct"] = round(100 * other / total, 1)
    return out


def machine_info() -> dict:
    """What the figures were measured on: cores, memory, CPU model, Python and the main libraries."""
    info: dict = {"nproc": nproc(), "python": sys.version.split()[0], "platform": platform.platform()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_gb"] = round(int(line.split()[1]) / 1024 / 1024, 1)
                break
    except OSError:
        pass
    from importlib import metadata

    versions = {}
    for package in ("whoosh-reloaded", "jieba", "tantivy", "waitress", "gunicorn", "flask", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    import sqlite3

    versions["sqlite"] = sqlite3.sqlite_version
    info["versions"] = versions
    return info


def describe_load(load: dict) -> str:
    """One short phrase for a table heading: `load 0.9→1.7, other 12 %, steal 0 %`."""
    parts = [f"load {load.get('loadavg_before')}→{load.get('loadavg_after')}"]
    if "other_pct" in load:
        parts.append(f"other processes {load['other_pct']:g} %")
    if "steal_pct" in load:
        parts.append(f"steal {load['steal_pct']:g} %")
    return ", ".join(parts)
