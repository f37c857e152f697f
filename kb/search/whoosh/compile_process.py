"""The compiled term arrays of a large fresh index, written by a process of its own.

Compiling a 20k-entry index's arrays (kb/search/whoosh/arrays.py) holds every posting of the largest
field several times over for a few seconds: about 600 MB on top of everything a build process already
holds (the documents, the analysis, the build's words), which made it the build's peak. A fresh
interpreter starts near 40 MB, so a full build with worker processes (`procs` > 1) compiles there;
small and incremental builds (an edit) compile in-process, where starting an interpreter would cost more
than it saves. The process runs with glibc's mmap threshold fixed (MALLOC_MMAP_THRESHOLD_), so the
segments' extracted arrays are given back to the system before the field merge allocates its own, and
it dies with the build (kb/workers.py).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterable

MMAP_THRESHOLD = 128 * 1024


class CompileProcessError(RuntimeError):
    """The process compiling the arrays failed; the message carries the end of its error output."""


def compile_apart(index_dir: Path, out_dir: Path, fields: Iterable[str], reuse: Path | None = None) -> None:
    """`compile_arrays(index_dir, out_dir, fields, reuse)` in a fresh Python process."""
    from ...workers import die_with_parent

    params = {"index": str(index_dir), "out": str(out_dir), "fields": list(fields),
              "reuse": str(reuse) if reuse is not None else None}
    parent = os.getpid()
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)}
    done = subprocess.run([sys.executable, "-m", __name__, json.dumps(params)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          preexec_fn=lambda: die_with_parent(parent) and None)
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", errors="replace")[-3000:]
        raise CompileProcessError(f"编译词项数组的进程失败（退出码 {done.returncode}）：\n{tail}")


def main(argv: list[str]) -> int:
    from .arrays import compile_arrays

    params = json.loads(argv[0])
    reuse = Path(params["reuse"]) if params["reuse"] else None
    compile_arrays(Path(params["index"]), Path(params["out"]), params["fields"], reuse=reuse)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
