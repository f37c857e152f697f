"""What every `kb` command shares: the settings, opening the knowledge base, printing JSON and errors.

The group in `kb/cli/__init__.py` puts one `CliContext` on click's context; commands receive it with
`@pass_cli`. Tests hand their own with `CliRunner.invoke(main, args, obj=CliContext(settings))`.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NoReturn
from urllib.parse import quote

import click

from ..config import Settings

if TYPE_CHECKING:
    from ..knowledge import KnowledgeBase

# An entry's page: the path web/pages.py serves it at (tests/test_cli.py checks that Flask's url_for agrees).
DOCUMENT_PATH = "/documents/{}"


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

    def url_of(self, absolute: bool = False) -> Callable[[str], str]:
        """The CLI's one URL builder, handed to library code as its `url_of(doc_id)` callback: an entry's page
        as a site path, or with `absolute` on the site at KB_BASE_URL."""
        base = self.settings.base_url.rstrip("/") if absolute and self.settings.base_url else ""
        return lambda doc_id: base + DOCUMENT_PATH.format(quote(doc_id, safe=""))


pass_cli = click.make_pass_decorator(CliContext)
