"""The `kb` command as a package: every command under `python -m kb.cli`, one context, knowledge bases closed."""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from kb.cli import main
from kb.cli.common import CliContext

COMMANDS = {"assess", "build", "check", "content", "export", "history", "import", "new", "recommend", "search", "serve",
            "stats"}


def run_module(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_HOME": str(tmp_path / "instance")}
    env.pop("KB_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "kb.cli", *args], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


def test_python_m_kb_cli_has_every_command(tmp_path):
    """`python -m kb.cli` is the installed `kb`: export (once registered after `__main__`) included."""
    listed = run_module(tmp_path, "--help")
    assert listed.returncode == 0, listed.stderr
    shown = {line.split()[0] for line in listed.stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert shown == COMMANDS
    export = run_module(tmp_path, "export")
    assert export.returncode == 2
    assert "请给出检索词（--query）或至少一个筛选条件" in export.stderr


@dataclass
class RecordingContext(CliContext):
    """A context that notes every knowledge base it opens and whether the command closed it."""

    opened: list = field(default_factory=list)
    closed: list = field(default_factory=list)

    def open_kb(self):
        kb = super().open_kb()
        self.opened.append(kb)
        close = kb.close
        kb.close = lambda: (self.closed.append(kb), close())[1]
        return kb


@pytest.mark.parametrize("args", [
    ["export", "-q", "余热"],
    ["search", "余热", "--json"],
    ["recommend", "--sector", "焦化", "--problem", "熄焦用水多", "--json"],
    ["history", "coking-cdq"],
], ids=lambda a: a[0])
def test_commands_close_the_knowledge_base_they_open(runner, settings, kb, args):
    context = RecordingContext(settings)
    result = runner.invoke(main, args, obj=context)
    assert result.exit_code in (0, 2), result.output
    assert len(context.opened) == 1 and context.closed == context.opened


def test_the_context_object_carries_the_settings(runner, settings, kb):
    """Commands read the settings handed to the group, not the environment (KB_HOME points elsewhere here)."""
    result = runner.invoke(main, ["export", "-q", "余热"], obj=CliContext(settings))
    assert result.exit_code == 0, result.output
    assert "干熄焦" in result.output
    assert not (settings.home.parent / "cli-instance").exists()


def test_the_cli_links_entries_where_the_site_serves_them(app, settings):
    """One URL builder for the CLI (recommend's paths, export's KB_BASE_URL links), agreeing with Flask's routes."""
    from dataclasses import replace

    from flask import url_for

    with app.test_request_context():
        served = url_for("pages.document", doc_id="coking-cdq")
    assert CliContext(settings).url_of()("coking-cdq") == served == "/documents/coking-cdq"
    site = CliContext(replace(settings, base_url="https://kb.example.cn/"))
    assert site.url_of(absolute=True)("coking-cdq") == "https://kb.example.cn/documents/coking-cdq"
    assert CliContext(settings).url_of(absolute=True)("coking-cdq") == served       # no KB_BASE_URL: a path


def test_export_rows_link_to_the_site_at_kb_base_url(runner, settings, kb, tmp_path):
    from dataclasses import replace

    out = tmp_path / "out.csv"
    result = runner.invoke(main, ["export", "-q", "干熄焦", "--output", str(out)],
                           obj=CliContext(replace(settings, base_url="https://kb.example.cn")))
    assert result.exit_code == 0, result.output
    assert "https://kb.example.cn/documents/coking-cdq" in out.read_text(encoding="utf-8-sig")
