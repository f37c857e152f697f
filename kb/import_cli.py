"""`kb import`: an official catalogue table (CSV or XLSX) → technology entry files."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from .schemas import SOURCE_KINDS


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "doc_type", type=click.Choice(["technology"]), default="technology", show_default=True,
              help="条目类型（目前只支持 technology）。")
@click.option("--source", "source_text", required=True,
              help="来源目录名与年份，如「国家重点节能低碳技术推广目录 (2017)」。")
@click.option("--map", "mapping", multiple=True, metavar="列名=字段",
              help="指定某列对应的字段，可重复；字段：title、sectors、category、tags、process、summary、applicability、"
                   "investment、investment_wan、payback、payback_years、benefits、maturity、key、ignore。")
@click.option("--set", "defaults", multiple=True, metavar="字段=值",
              help="某字段在表格中没有或为空时的取值，可重复：sectors、category、tags、process、applicability、maturity。")
@click.option("--issuer", help="发布单位；无法从目录名推断时必填。")
@click.option("--kind", type=click.Choice(SOURCE_KINDS), default="目录", show_default=True, help="来源类型。")
@click.option("--number", "source_number", help="来源文号，如「国家发展改革委公告2017年第3号」。")
@click.option("--url", "source_url", help="来源的公开地址。")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="输出目录（默认：可编辑内容目录，KB_CONTENT_DIR）。文件写入其中的 technologies/。")
@click.option("--force", is_flag=True, help="覆盖手工修改过的条目。")
@click.option("--dry-run", is_flag=True, help="只报告将会发生什么，不写任何文件。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
def import_command(file: Path, doc_type: str, source_text: str, mapping: tuple[str, ...], defaults: tuple[str, ...],
                   issuer: str | None, kind: str, source_number: str | None, source_url: str | None,
                   out: Path | None, force: bool, dry_run: bool, as_json: bool) -> None:
    """把官方技术目录表格（.csv 或 .xlsx，第 1 行为表头）逐行转为技术条目。

    id 稳定（同一来源的同一行总是得到同一 id，再次导入时更新而不重复）；手工修改过的条目不会被覆盖，
    除非 --force。无法使用的行会列出行号和原因，此时退出码为 1。
    """
    from .cli import _echo_json, _fail
    from .config import load_settings
    from .importer import TableImportError, import_table, make_source, parse_pairs

    try:
        source = make_source(source_text, issuer=issuer, kind=kind, number=source_number, url=source_url)
        pairs = parse_pairs(mapping, "--map")
        preset = dict(parse_pairs(defaults, "--set"))
        target = (out or load_settings().editable_content).resolve()
        report = import_table(file, source, target, doc_type=doc_type, mapping=pairs, defaults=preset,
                              force=force, dry_run=dry_run, progress=not as_json)
    except TableImportError as exc:
        _fail(str(exc))
        return
    except OSError as exc:
        _fail(f"读写文件失败：{exc}")
        return

    if as_json:
        _echo_json(report.as_json())
    else:
        prefix = "（试运行，未写入任何文件）" if dry_run else ""
        for label, ids in (("新增", report.created), ("更新", report.updated)):
            for doc_id in ids:
                click.echo(f"{label}：{doc_id}")
        for item in report.skipped:
            click.echo(f"跳过：{item['id']}：{item['reason']}")
        for item in report.rejected:
            click.echo(f"第 {item['row']} 行无法使用：{item['reason']}")
        click.echo(f"{prefix}{report.summary()}。输出目录：{target / 'technologies'}")
        if (report.created or report.updated) and not dry_run:
            click.echo("导入的摘要取自来源原文：请按 CONTENT.md 改写为自己的话，然后运行 kb check。", err=True)
    if report.created or report.updated:
        _warn_near_duplicates(target, set(report.created) | set(report.updated))
    if report.rejected:
        sys.exit(1)


def _warn_near_duplicates(out: Path, ids: set[str]) -> None:
    """`kb check` rejects two ids for one technology: say so now, while the table is at hand."""
    from .checks import near_duplicate_titles
    from .config import load_settings
    from .loader import load_content

    roots = [Path(d) for d in load_settings().content_dirs]
    if out.resolve() not in [r.resolve() for r in roots]:
        roots.append(out)
    try:
        docs = load_content(roots).documents
    except Exception:  # a warning must never break an import that has already succeeded
        return
    technologies = [d for d in docs.values() if d.type == "technology"]
    for problem in near_duplicate_titles(technologies):
        if Path(problem.path).stem in ids or any(f"「{i}」" in problem.message for i in ids):
            click.echo(f"提示：{problem}", err=True)
