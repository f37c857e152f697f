"""Wall and CPU time, side by side, for one process: what every figure of the bench is made of.

The machine the bench runs on is shared, so wall time swings with other people's work; the CPU time this
process (and the children it waited for) spent is much steadier. Every measure therefore records both:
`time.perf_counter` for wall time, `time.process_time` (all threads of this process) for CPU time, and
for builds that fork workers the CPU of the reaped children (`resource.getrusage(RUSAGE_CHILDREN)`).
"""
from __future__ import annotations

import resource
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have exited and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident set size in MB; RUSAGE_CHILDREN: the largest child (Linux reports ru_maxrss in KiB).

    This process's own peak is VmHWM where /proc has it: Linux folds the high-water mark of the memory a
    process had before exec into its ru_maxrss, and a subprocess started (vfork + exec) by the bench
    process starts with the bench's peak there. When the bench began holding the corpus it wrote, every
    phase's ru_maxrss read 469.1 MB at 20k, the bench's own peak, whatever the phase used."""
    if who == resource.RUSAGE_SELF:
        try:
            with open("/proc/self/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


@dataclass
class Span:
    """Wall and CPU seconds of one stretch of work (CPU: this process plus its reaped children)."""
    wall_s: float
    cpu_s: float


class Stopwatch:
    """`with Stopwatch() as sw: …` then sw.span: wall and CPU (self + reaped children) of the block."""

    def __enter__(self) -> "Stopwatch":
        self._children = children_cpu_s()
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu + children_cpu_s() - self._children
        self.span = Span(wall, cpu)


def percentiles(samples: list[float]) -> tuple[float, float]:
    """(p50, p95) in milliseconds, rounded to the microsecond."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return round(statistics.median(ordered) * 1000, 3), round(p95 * 1000, 3)


def timed(fn: Callable[[Any], Any], items: list, warmup: int = 5) -> dict[str, float]:
    """p50/p95 of fn over items, wall (`p50_ms`, `p95_ms`) and CPU of this process (`cpu_p50_ms`, `cpu_p95_ms`)."""
    for item in items[:warmup]:
        fn(item)
    walls, cpus = [], []
    for item in items:
        cpu, wall = time.process_time(), time.perf_counter()
        fn(item)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    p50, p95 = percentiles(walls)
    cpu_p50, cpu_p95 = percentiles(cpus)
    return {"p50_ms": p50, "p95_ms": p95, "cpu_p50_ms": cpu_p50, "cpu_p95_ms": cpu_p95, "n": len(items)}


def median_span(fn: Callable[[Any], Any], items: Iterable) -> Span:
    """Median wall and median CPU seconds of fn over items (each item once, no warm-up)."""
    walls, cpus = [], []
    for item in items:
        with Stopwatch() as sw:
            fn(item)
        walls.append(sw.span.wall_s)
        cpus.append(sw.span.cpu_s)
    return Span(round(statistics.median(walls), 3), round(statistics.median(cpus), 3))
