"""Write one bench run into bench/RESULTS.md and the README, and tell when those figures have gone stale.

Every recorded run carries the commit it ran on (and whether the working tree was dirty) and a
fingerprint of the code it measured: a SHA-1 over the path and content of every file under kb/ and web/
that git tracks or would track, as they were in the working tree. `python -m bench --write-results`
replaces RESULTS.md's current section (the previous one moves below it, relabelled as an earlier run)
and the README block between `<!-- bench:start -->` and `<!-- bench:end -->`. `python -m bench
--check-stale` compares the fingerprints recorded there with the working tree's and names every
section whose figures describe other code.
"""
from __future__ import annotations

import hashlib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

FINGERPRINT_PATHS = ("kb", "web")
RESULTS = Path("bench") / "RESULTS.md"
README = Path("README.md")
CURRENT_START, CURRENT_END = "<!-- bench:current:start -->", "<!-- bench:current:end -->"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
EARLIER_MARK = "<!-- bench:earlier -->"
_RUN = re.compile(r"<!-- bench:run ([^>]*?) -->")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout


def code_files(root: Path) -> list[str]:
    """Files under kb/ and web/ that git tracks, or would track (new, not ignored), sorted. Outside a git
    checkout (an unpacked archive): every file there but compiled bytecode."""
    try:
        tracked = _git(root, "ls-files", "-z", "--", *FINGERPRINT_PATHS).split("\0")
        untracked = _git(root, "ls-files", "-z", "--others", "--exclude-standard", "--",
                         *FINGERPRINT_PATHS).split("\0")
    except (subprocess.CalledProcessError, OSError):
        return sorted(str(p.relative_to(root)) for folder in FINGERPRINT_PATHS for p in (root / folder).rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)
    return sorted({f for f in tracked + untracked if f})


def fingerprint(root: Path) -> str:
    """SHA-1 over (path, SHA-1 of content) of each code file as it is in the working tree."""
    digest = hashlib.sha1()
    for name in code_files(root):
        path = root / name
        if path.is_file():
            digest.update(name.encode("utf-8") + b"\0" + hashlib.sha1(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class Provenance:
    commit: str
    dirty: bool
    fingerprint: str
    date: str

    def comment(self) -> str:
        return (f"<!-- bench:run commit={self.commit} dirty={'yes' if self.dirty else 'no'} "
                f"fingerprint={self.fingerprint} date={self.date.replace(' ', '_')} -->")

    def short(self) -> str:
        return f"commit `{self.commit[:10]}`{'（工作区有未提交改动）' if self.dirty else ''}"


def provenance(root: Path, date: str) -> Provenance:
    try:
        commit = _git(root, "rev-parse", "HEAD").strip()
        dirty = bool(_git(root, "status", "--porcelain", "--", *FINGERPRINT_PATHS, "bench").strip())
    except (subprocess.CalledProcessError, OSError):       # not a git checkout: the fingerprint still holds
        commit, dirty = "unknown", True
    return Provenance(commit, dirty, fingerprint(root), date)


def recorded(text: str) -> dict[str, str] | None:
    """The key=value pairs of the first `<!-- bench:run … -->` comment in text, or None."""
    match = _RUN.search(text)
    if not match:
        return None
    return dict(pair.split("=", 1) for pair in match.group(1).split() if "=" in pair)


def _between(text: str, start: str, end: str) -> tuple[int, int] | None:
    """The span between two marker lines (each alone on its line, so prose may quote the markers)."""
    a = re.search(rf"^{re.escape(start)}[ \t]*$", text, re.M)
    b = re.search(rf"^{re.escape(end)}[ \t]*$", text, re.M)
    if a is None or b is None or b.start() < a.end():
        return None
    return a.end(), b.start()


def _marked(root: Path, name: Path, start: str, end: str) -> tuple[Path, str, tuple[int, int]]:
    """A file's text and the span between its two marker lines (an error naming the file when missing)."""
    path = root / name
    text = path.read_text(encoding="utf-8")
    span = _between(text, start, end)
    if span is None:
        raise ValueError(f"{name}: no {start} … {end} markers")
    return path, text, span


# -- writing -------------------------------------------------------------------------------------------
def write_results(root: Path, section: str) -> None:
    """Make `section` RESULTS.md's current run; the previous current run moves below, as an earlier run."""
    path, text, span = _marked(root, RESULTS, CURRENT_START, CURRENT_END)
    previous = text[span[0]:span[1]].strip()
    earlier = ""
    if recorded(previous):
        earlier = "\n\n" + previous.replace("## Current run", "## Earlier run", 1)
    after = text[span[1] + len(CURRENT_END):]
    mark = re.search(rf"^{re.escape(EARLIER_MARK)}[ \t]*$", after, re.M)
    if mark:
        after = after[:mark.end()] + earlier + after[mark.end():]
    else:
        after = f"\n\n{EARLIER_MARK}{earlier}" + after
    path.write_text(text[:span[0]] + "\n" + section.strip() + "\n" + CURRENT_END + after, encoding="utf-8")


def write_readme(root: Path, block: str) -> None:
    path, text, span = _marked(root, README, README_START, README_END)
    path.write_text(text[:span[0]] + "\n" + block.strip() + "\n" + text[span[1]:], encoding="utf-8")


# -- checking ------------------------------------------------------------------------------------------
def stale_sections(root: Path) -> list[str]:
    """A message for every place whose recorded figures describe code other than the working tree's."""
    now = fingerprint(root)
    problems = []
    for path, start, end, name in ((README, README_START, README_END, "README.md bench summary"),
                                   (RESULTS, CURRENT_START, CURRENT_END, "bench/RESULTS.md current run")):
        file = root / path
        text = file.read_text(encoding="utf-8") if file.exists() else ""
        span = _between(text, start, end)
        if span is None:
            problems.append(f"{name} ({path}): no {start} … {end} markers")
            continue
        run = recorded(text[span[0]:span[1]])
        if run is None or "fingerprint" not in run:
            problems.append(f"{name} ({path}): no recorded fingerprint — figures of unknown code")
        elif run["fingerprint"] != now:
            problems.append(f"{name} ({path}): figures measured code {run['fingerprint'][:12]} "
                            f"(commit {run.get('commit', '?')[:10]}, {run.get('date', '?').replace('_', ' ')}); "
                            f"the working tree is {now[:12]} — run `python -m bench --write-results`")
    return problems
