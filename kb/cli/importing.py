"""`kb import`: an official catalogue table (CSV or XLSX) → technology entry files."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..schemas import CONFIDENCES, SOURCE_KINDS, SOURCE_ORIGINS
from .common import CliContext, echo_json, fail, pass_cli


@click.command("import")
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--type", "doc_type", type=click.Choice(["technology", "spec"]), default="technology", show_default=True,
              help="technology：技术目录表格，每行一个技术条目；spec：评价指标表，整张表为一个标准条目。")
@click.option("--template", type=click.Choice(["spec"]),
              help="不导入，写出空白指标表模板（含取自电镀 2015 条目的示例工作表）；配合 -o 指定文件。")
@click.option("-o", "--output", "template_out", type=click.Path(dir_okay=False, path_type=Path),
              help="--template 写出的文件（默认：当前目录下的 清洁生产评价指标表模板.xlsx）。")
@click.option("--source", "source_text",
              help="来源名称与年份，如「国家重点节能低碳技术推广目录 (2017)」「电镀行业清洁生产评价指标体系 (2015)」。")
@click.option("--map", "mapping", multiple=True, metavar="列名=字段",
              help="指定某列对应的字段，可重复。technology 的字段：title、sectors、category、tags、process、summary、"
                   "applicability、investment、investment_wan、payback、payback_years、benefits、maturity、key、ignore；"
                   "spec 的字段：group、group_weight、name、unit、weight、direction、level_1、level_2、level_3、limiting、"
                   "id、note、ignore。")
@click.option("--set", "defaults", multiple=True, metavar="字段=值",
              help="technology：某字段在表格中没有或为空时的取值（sectors、category、tags、process、applicability、"
                   "maturity）。spec：条目字段（sectors 必填；id、title、standard、number、summary、system_weight、"
                   "complete、in_force、superseded_by、official_url）。")
@click.option("--issuer", help="发布单位；无法从来源名推断时必填。")
@click.option("--kind", type=click.Choice(SOURCE_KINDS), help="来源类型（默认：technology 为 目录，spec 为 标准）。")
@click.option("--number", "source_number", help="来源文号或标准编号，如「国家发展改革委公告2017年第3号」「HJ/T 126-2003」。")
@click.option("--url", "source_url", help="来源的公开地址。")
@click.option("--origin", type=click.Choice(SOURCE_ORIGINS),
              help="来源性质（默认按来源类型：目录→官方目录，标准→标准，文献→期刊论文，案例报道→新闻转载，工程实践→企业/政府公开）。")
@click.option("--confidence", type=click.Choice(CONFIDENCES),
              help="可信度（默认：目录、标准为 高，其余为 中）。")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              help="输出目录（默认：可编辑内容目录，KB_CONTENT_DIR）。文件写入其中的 technologies/ 或 specs/。")
@click.option("--force", is_flag=True, help="覆盖手工修改过的条目。")
@click.option("--dry-run", is_flag=True, help="只报告将会发生什么，不写任何文件。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@pass_cli
def import_command(cli: CliContext, file: Path | None, doc_type: str, template: str | None, template_out: Path | None,
                   source_text: str | None, mapping: tuple[str, ...], defaults: tuple[str, ...], issuer: str | None,
                   kind: str | None, source_number: str | None, source_url: str | None, origin: str | None,
                   confidence: str | None, out: Path | None, force: bool, dry_run: bool, as_json: bool) -> None:
    """把表格（.csv 或 .xlsx，第 1 行为表头）导入知识库。

    --type technology（默认）：官方技术目录逐行转为技术条目。id 稳定（同一来源的同一行总是得到同一 id，再次导入时
    更新而不重复）；手工修改过的条目不会被覆盖，除非 --force。无法使用的行会列出行号和原因，此时退出码为 1。

    --type spec：一张清洁生产评价指标表（一级指标与权重、二级指标、单位、二级权重、方向、Ⅰ/Ⅱ/Ⅲ级基准值、限定性）
    转为一个标准条目；每个有问题的单元格列出行号和列名，有问题时不写文件、退出码为 1；权重不符合规则要求时给出提示。
    空白模板：kb import --template spec -o 模板.xlsx。
    """
    from ..importer import TableImportError, make_source, parse_pairs

    if template:
        _write_template(template_out)
        return
    if file is None:
        fail("请给出要导入的表格文件（或用 --template spec 取得空白模板）")
        return
    if not source_text:
        fail("缺少 --source：来源名称与年份，如「电镀行业清洁生产评价指标体系 (2015)」")
        return
    try:
        source = make_source(source_text, issuer=issuer, kind=kind or ("标准" if doc_type == "spec" else "目录"),
                             number=source_number, url=source_url, origin=origin, confidence=confidence)
        pairs = parse_pairs(mapping, "--map")
        preset = dict(parse_pairs(defaults, "--set"))
    except TableImportError as exc:
        fail(str(exc))
        return
    target = (out or cli.settings.editable_content).resolve()
    if doc_type == "spec":
        _import_spec(file, source, pairs, preset, target, force, dry_run, as_json)
        return
    _import_technologies(file, source, pairs, preset, target, force, dry_run, as_json, cli.settings.content_dirs)


def _reported(step):
    """Run one import step; a problem with the whole import (or the files) ends the command with its message."""
    from ..importer import TableImportError

    try:
        return step()
    except TableImportError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"读写文件失败：{exc}")


def _write_template(path: Path | None) -> None:
    from ..files import atomic_write
    from ..spec_template import TEMPLATE_NAME, template_workbook

    target = path or Path(TEMPLATE_NAME)
    atomic_write(target, template_workbook())
    click.echo(f"已写出指标表模板：{target}（第一个工作表「指标表」供填写，「示例-spec-plating-2015」为填好的示例）")


def _import_spec(file: Path, source, pairs, preset: dict, target: Path, force: bool, dry_run: bool,
                 as_json: bool) -> None:
    from ..spec_import import import_spec_table

    report = _reported(lambda: import_spec_table(file, source, target, mapping=pairs, defaults=preset, force=force,
                                                 dry_run=dry_run))
    if as_json:
        echo_json(report.as_json())
    else:
        for item in report.rejected:
            click.echo(f"无法使用：{item['reason']}")
        for warning in report.warnings:
            click.echo(f"权重提示：{warning}")
        labels = {"created": "新增", "updated": "更新", "unchanged": "未变", "skipped": "跳过（手工修改）"}
        if report.status in labels:
            prefix = "（试运行，未写入任何文件）" if dry_run else ""
            click.echo(f"{prefix}{labels[report.status]}：{report.id}（{report.indicators} 项指标）→ {report.path}")
            if report.status in ("created", "updated") and not dry_run:
                click.echo("请与原文逐项核对，补写适用范围，然后运行 kb check 与 kb build；之后即可在自评页面、"
                           "POST /api/assess 与 kb assess 中使用。", err=True)
        else:
            click.echo(f"未写入任何文件：{len(report.rejected)} 处问题。")
    if report.rejected:
        sys.exit(1)


def _import_technologies(file: Path, source, pairs, preset: dict, target: Path, force: bool, dry_run: bool,
                         as_json: bool, content_dirs) -> None:
    from ..importer import ImportOptions, import_table

    report = _reported(lambda: import_table(file, source, target, ImportOptions(
        mapping=pairs, defaults=preset, force=force, dry_run=dry_run, progress=not as_json)))

    if as_json:
        echo_json(report.as_json())
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
        _warn_near_duplicates(target, set(report.created) | set(report.updated), content_dirs)
    if report.rejected:
        sys.exit(1)


def _warn_near_duplicates(out: Path, ids: set[str], content_dirs) -> None:
    """`kb check` rejects two ids for one technology: say so now, while the table is at hand."""
    from ..checks import near_duplicate_titles
    from ..loader import load_content

    roots = [Path(d) for d in content_dirs]
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
