"""`kb check|build|new|history|stats`: the commands that look after the content and its built knowledge base."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..documents import TYPE_FOLDERS
from ..taxonomy import UnknownSector, load_taxonomy
from .common import CliContext, echo_json, fail, pass_cli


@click.command()
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
@pass_cli
def check(cli: CliContext, path: Path | None) -> None:
    """校验内容文件，报告全部问题（路径:行号: 字段: 问题）。"""
    from ..checks import cross_check
    from ..loader import load_content, load_file

    settings = cli.settings
    taxonomy = load_taxonomy()
    if path is not None and path.is_file() and path.name == "glossary.yaml":
        problems = _glossary_problems(path, [path.parent], taxonomy)
        for problem in problems:
            click.echo(str(problem))
        if problems:
            fail(f"共 {len(problems)} 个问题。", 1)
        click.echo("检查通过：术语表问题说法一节。")
        return
    if path is not None and path.is_file():
        doc, problems = load_file(path, taxonomy)
        if doc is not None:
            everything = load_content(settings.content_dirs, taxonomy).documents
            everything[doc.id] = doc
            problems = [p for p in cross_check(everything) if Path(p.path).resolve() == path.resolve()]
        files, documents = 1, ([doc] if doc else [])
    else:
        content = load_content([path] if path else settings.content_dirs, taxonomy)
        problems, files, documents = content.problems, content.files, list(content.documents.values())
    problems = [*problems, *_glossary_problems(path, settings.content_dirs, taxonomy)]
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"共 {len(problems)} 个问题，涉及 {len({p.path for p in problems})} 个文件。", err=True)
        sys.exit(1)
    counts = {t: sum(1 for d in documents if d.type == t) for t in TYPE_FOLDERS}
    click.echo(f"检查通过：{files} 个文件（技术 {counts['technology']}，案例 {counts['case']}，标准 {counts['spec']}）。")


def _glossary_problems(path: Path | None, content_dirs, taxonomy) -> list:
    """The glossary's problem vocabulary, checked when the whole content, its folder or the file itself is."""
    from ..documents import Problem
    from ..glossary import check_problem_vocabulary
    from ..loader import display_path

    out = []
    for folder in content_dirs:
        glossary = Path(folder) / "glossary.yaml"
        if not glossary.exists():
            continue
        if path is not None and path.resolve() not in (glossary.resolve(), Path(folder).resolve()):
            continue
        for line, field, message in check_problem_vocabulary(glossary, taxonomy.names):
            out.append(Problem(display_path(glossary), line, field, message))
    return out


@click.command()
@click.option("--full", is_flag=True, help="忽略增量，全部重建。")
@click.option("--procs", default=0, show_default=True, type=int,
              help="分词与写索引的进程数；0 = 自动（重新索引 2000 篇以上时用全部核，最多 4 个）。")
@pass_cli
def build(cli: CliContext, full: bool, procs: int) -> None:
    """把内容载入数据库并建立索引（原子替换；按内容哈希增量）。"""
    from ..build import BuildError, build as run_build

    settings = cli.settings
    stamp = None
    try:
        if settings.shared:     # load this release's bundled content into the shared database (once), then pull
            from ..shared.mirror import release_and_pull

            stamp = {"shared_revision": release_and_pull(settings)}
        report = run_build(settings, progress=True, full=full, procs=procs, stamp=stamp)
    except BuildError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        fail(f"内容有 {len(exc.problems)} 个问题，未构建；正在使用的索引和数据库保持不变。", 1)
    kind = "全量" if report.full else "增量"
    click.echo(
        f"构建完成（{kind}）：{report.documents} 篇文档，重新索引 {len(report.changed)} 篇，删除 {len(report.removed)} 篇，"
        f"用时 {report.seconds:.1f} 秒。实例目录：{settings.home}"
    )


@click.command()
@click.argument("doc_type", metavar="case|technology|spec", type=click.Choice(["case", "technology", "spec"]))
@click.option("--sector", required=True, help="行业名或别名。")
@click.option("--title", required=True, help="中文标题。")
@pass_cli
def new(cli: CliContext, doc_type: str, sector: str, title: str) -> None:
    """在可编辑内容目录中新建一个条目模板（带新 id），填写后 kb check。"""
    from ..templates import write_template

    try:
        path = write_template(cli.settings, load_taxonomy(), doc_type, sector, title)
    except UnknownSector as exc:
        fail(str(exc))
    click.echo(str(path))
    click.echo("填写“待填写”处和空列表后运行 kb check；未填完的模板不会被索引。", err=True)


@click.command()
@click.argument("doc_id")
@click.argument("version", required=False)
@pass_cli
def history(cli: CliContext, doc_id: str, version: str | None) -> None:
    """列出可编辑文档的修改历史；给出 VERSION 时把文档恢复到该版本（并重新索引）。"""
    kb = cli.open_kb()
    try:
        _history(kb, doc_id, version)
    finally:
        kb.close()


def _history(kb, doc_id: str, version: str | None) -> None:
    from ..editing import EditError
    from ..shared import make_editor

    editor = make_editor(kb)
    if version is None:
        entries = editor.history(doc_id)
        if not entries:
            fail(f"「{doc_id}」没有修改历史（只有通过编辑页、API 或 kb history 写入的修改才有历史）")
        for entry in entries:
            version = entry["version"][:12] or "（已删除）".ljust(10)
            click.echo(f"{entry['when']}  {version}  {entry['action']}  {entry['who']}")
        return
    matches = sorted({e["version"] for e in editor.history(doc_id) if e["version"] and e["version"].startswith(version)})
    if len(matches) != 1:
        fail(f"版本「{version}」{'不存在' if not matches else '不唯一，请多写几位'}")
    try:
        doc = editor.restore(doc_id, matches[0], "cli")
    except EditError as exc:
        fail(exc.message + "".join(f"\n  {d.get('field')}: {d.get('message')}" for d in exc.details))
    click.echo(f"已恢复 {doc.id} 到版本 {matches[0][:12]}，并已重新索引。")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@pass_cli
def stats(cli: CliContext, as_json: bool) -> None:
    """按行业×类型统计条目，列出缺少可选字段的条目和案例不足的行业。"""
    from ..loader import load_content
    from ..stats import FIELD_NAMES, content_stats, provenance_table, table

    taxonomy = load_taxonomy()
    docs = load_content(cli.settings.content_dirs, taxonomy).documents.values()
    stats = content_stats(docs, taxonomy.names, taxonomy.key_sectors)
    if as_json:
        echo_json(stats.as_json())
        return
    click.echo(table(stats))
    detail = "、".join(f"{FIELD_NAMES[f]} {n}" for f, n in sorted(stats.missing_by_field.items(), key=lambda kv: -kv[1]))
    click.echo(f"\n缺少可选字段的条目：{len(stats.missing_optional)} 个（{detail}；kb stats --json 查看明细）")
    if stats.few_cases:
        click.echo("案例少于 3 个的行业（如实显示，不补造）：" + "、".join(stats.few_cases))
    if stats.no_spec:
        click.echo("尚无标准条目的行业（指标未能核实，不补造）：" + "、".join(stats.no_spec))
    if stats.citation_only:
        click.echo("* 标准尚无Ⅰ/Ⅱ/Ⅲ级基准值（只有题录或指标名称，不能自评）的行业：" + "、".join(stats.citation_only))
    click.echo("\n来源与案例类型（案例按类型；全部条目按可信度和来源性质）：")
    click.echo(provenance_table(stats))
    totals = "、".join(f"{k} {n}" for k, n in stats.case_kind_totals.items())
    click.echo(f"案例类型合计：{totals}")
    for doc_type, label in (("technology", "技术"), ("case", "案例"), ("spec", "标准")):
        row = stats.origin_by_type.get(doc_type, {})
        click.echo(f"{label}按来源性质：" + ("、".join(f"{k} {n}" for k, n in sorted(row.items(), key=lambda kv: -kv[1])) or "无"))
