"""`kb export`: what a search or a filter finds, as CSV or Excel, for audit reports."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..documents import TYPE_FOLDERS
from ..regions import UnknownProvince, resolve_province
from .common import CliContext, fail, pass_cli


@click.command("export")
@click.option("--query", "-q", default="", help="检索词（可省略：只按筛选条件，按年份列出）。")
@click.option("--type", "doc_type", type=click.Choice(list(TYPE_FOLDERS)), help="文档类型。")
@click.option("--sector", help="行业名或别名，如 水泥、印染。")
@click.option("--province", help="案例所在省份，如 江苏。")
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), help="默认按输出文件扩展名，否则 csv。")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="输出文件；省略时 CSV 写到标准输出。")
@pass_cli
def export_command(cli: CliContext, query: str, doc_type: str | None, sector: str | None, province: str | None,
                   fmt: str | None, output: Path | None) -> None:
    """把检索或筛选结果导出为表格（技术、案例、标准分列来源和网址），供审核报告使用。"""
    from ..export import MAX_ROWS, export_rows, to_csv, to_xlsx
    from ..search.engine import SearchRequest
    from ..taxonomy import UnknownSector, load_taxonomy

    sectors, provinces = [], []
    if sector:
        try:
            sectors = [load_taxonomy().resolve(sector)]
        except UnknownSector as exc:
            fail(str(exc))
    if province:
        try:
            provinces = [resolve_province(province)]
        except UnknownProvince as exc:
            fail(str(exc))
    if not query.strip() and not (doc_type or sectors or provinces):
        fail("请给出检索词（--query）或至少一个筛选条件（--type、--sector、--province）")
    fmt = fmt or (output.suffix.lstrip(".").lower() if output is not None and output.suffix.lower() in (".csv", ".xlsx") else "csv")
    if fmt == "xlsx" and output is None:
        fail("Excel 格式需要 --output 文件")
    request = SearchRequest(text=query, sectors=sectors, provinces=provinces, types=[doc_type] if doc_type else [])
    kb = cli.open_kb()
    try:
        # KB_BASE_URL: then each row links to the entry's page on the site
        rows = export_rows(kb, request, url_of=cli.url_of(absolute=True) if cli.settings.base_url else None)
    finally:
        kb.close()
    count = sum(len(r) for r in rows.values())
    if fmt == "xlsx":
        output.write_bytes(to_xlsx(rows))
    elif output is None:
        sys.stdout.write(to_csv(rows))
    else:
        output.write_text(to_csv(rows), encoding="utf-8")
    if output is not None:
        capped = f"（最多 {MAX_ROWS} 条）" if count >= MAX_ROWS else ""
        click.echo(f"已导出 {count} 条{capped}到 {output}", err=True)
