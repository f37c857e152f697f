"""What every `kb` command shares: the settings, opening the knowledge base, printing JSON and errors.

The group in `kb/cli/__init__.py` puts one `CliContext` on click's context; commands receive it with
`@pass_cli`. Tests hand their own with `CliRunner.invoke(main, args, obj=CliContext(settings))`.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..config import Settings

if TYPE_CHECKING:
    from ..knowledge import KnowledgeBase


def echo_json(data: Any) -> None:
    """JSON as every `--json` option prints it: UTF-8 Chinese, indented."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def fail(message: str, code: int = 2) -> NoReturn:
    """End the command with 错误：message on stderr and exit code `code` (2: bad input, 1: bad content)."""
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


@dataclass
class CliContext:
    """The settings a `kb` run resolved once, and the knowledge base they open."""

    settings: Settings

    def open_kb(self) -> "KnowledgeBase":
        """The knowledge base of these settings, built first when it never was (the caller closes it)."""
        from ..build import BuildError
        from ..knowledge import KnowledgeBase

        kb = KnowledgeBase(self.settings)
        if not kb.is_built():
            click.echo("知识库尚未构建，正在构建……", err=True)
            try:
                kb.build(progress=True)
            except BuildError as exc:
                for problem in exc.problems:
                    click.echo(str(problem), err=True)
                fail("内容有问题，无法构建。", 1)
        return kb


pass_cli = click.make_pass_decorator(CliContext)
