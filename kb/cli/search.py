"""`kb search`: a query on the command line → ranked hits, as text for people or the API's JSON shape."""
from __future__ import annotations

import re
import sys

import click

from ..documents import TYPE_FOLDERS
from ..render import TYPE_NAMES, search_json
from ..taxonomy import UnknownSector, load_taxonomy
from .common import CliContext, echo_json, fail, pass_cli

_MARK_OPEN = re.compile(r"<mark[^>]*>")


def _terminal_snippet(snippet: str, color: bool) -> str:
    import html

    start, end = ("\x1b[1;31m", "\x1b[0m") if color else ("【", "】")
    return html.unescape(_MARK_OPEN.sub(start, snippet).replace("</mark>", end))


@click.command()
@click.argument("query")
@click.option("--sector", help="行业名或别名，如 水泥、印染。")
@click.option("--type", "doc_type", type=click.Choice(list(TYPE_FOLDERS)), help="文档类型。")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@pass_cli
def search(cli: CliContext, query: str, sector: str | None, doc_type: str | None, limit: int, as_json: bool) -> None:
    """中文检索：同义词扩展、繁简转换、高亮摘要。"""
    from ..search.engine import SearchRequest

    sectors = []
    if sector:
        try:
            sectors = [load_taxonomy().resolve(sector)]
        except UnknownSector as exc:
            fail(str(exc))
    kb = cli.open_kb()
    try:
        response = kb.search(SearchRequest(text=query, sectors=sectors, types=[doc_type] if doc_type else [],
                                           per_page=limit))
    finally:
        kb.close()
    if as_json:
        echo_json(search_json(response))
        return
    if not response.hits:
        click.echo(f"没有找到与「{query}」相关的内容。")
        if response.synonyms:
            tried = "；".join(f"{w} → {'、'.join(s)}" for w, s in response.synonyms.items())
            click.echo(f"已尝试同义词：{tried}")
        return
    note = "" if response.matched_all_words else "（没有同时包含全部词语的结果，以下为包含部分词语的结果）"
    if response.correction is not None:
        click.echo(response.correction.note)
    for phrase, terms in response.expansions.items():
        click.echo(f"按“{phrase}”也检索了：{'、'.join(terms)}")
    click.echo(f"共 {response.total} 条结果{note}：\n")
    color = sys.stdout.isatty()
    for rank, hit in enumerate(response.hits, 1):
        click.echo(f"{rank}. {hit.title}  [{TYPE_NAMES[hit.type]} · {'、'.join(hit.sectors)}]  {hit.id}  得分 {hit.score:.2f}")
        click.echo(f"   {_terminal_snippet(hit.snippet, color)}\n")
