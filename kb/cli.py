"""The `kb` command: thin wrappers that parse options and call the library."""
from __future__ import annotations

import errno
import json
import re
import sys
from pathlib import Path

import click

from .config import load_settings
from . import serving
from .render import TYPE_NAMES, search_json
from .serving import SERVE_THREADS, ServeLimits
from .taxonomy import UnknownSector, load_taxonomy


def _echo_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"错误：{message}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="kb")
def main() -> None:
    """清洁生产技术知识库：检索技术目录、审核案例与评价指标体系。

    运行状态保存在实例目录（默认 ./instance，环境变量 KB_HOME 可改）。
    """
    from .config import ConfigError

    try:
        load_settings()         # a bad KB_* value is named before any command starts
    except ConfigError as exc:
        _fail(str(exc))


@main.command()
@click.argument("path", required=False, type=click.Path(exists=True, path_type=Path))
def check(path: Path | None) -> None:
    """校验内容文件，报告全部问题（路径:行号: 字段: 问题）。"""
    from .checks import cross_check
    from .loader import load_content, load_file

    settings = load_settings()
    taxonomy = load_taxonomy()
    if path is not None and path.is_file() and path.name == "glossary.yaml":
        problems = _glossary_problems(path, [path.parent], taxonomy)
        for problem in problems:
            click.echo(str(problem))
        if problems:
            _fail(f"共 {len(problems)} 个问题。", 1)
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
    counts = {t: sum(1 for d in documents if d.type == t) for t in ("technology", "case", "spec")}
    click.echo(f"检查通过：{files} 个文件（技术 {counts['technology']}，案例 {counts['case']}，标准 {counts['spec']}）。")


@main.command()
@click.option("--full", is_flag=True, help="忽略增量，全部重建。")
@click.option("--procs", default=0, show_default=True, type=int,
              help="分词与写索引的进程数；0 = 自动（重新索引 2000 篇以上时用全部核，最多 4 个）。")
def build(full: bool, procs: int) -> None:
    """把内容载入数据库并建立索引（原子替换；按内容哈希增量）。"""
    from .build import BuildError, build as run_build

    settings = load_settings()
    try:
        report = run_build(settings, progress=True, full=full, procs=procs)
    except BuildError as exc:
        for problem in exc.problems:
            click.echo(str(problem))
        _fail(f"内容有 {len(exc.problems)} 个问题，未构建；正在使用的索引和数据库保持不变。", 1)
    kind = "全量" if report.full else "增量"
    click.echo(
        f"构建完成（{kind}）：{report.documents} 篇文档，重新索引 {len(report.changed)} 篇，删除 {len(report.removed)} 篇，"
        f"用时 {report.seconds:.1f} 秒。实例目录：{settings.home}"
    )


def _open_kb():
    from .knowledge import KnowledgeBase

    kb = KnowledgeBase(load_settings())
    if not kb.is_built():
        click.echo("知识库尚未构建，正在构建……", err=True)
        from .build import BuildError

        try:
            kb.build(progress=True)
        except BuildError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            _fail("内容有问题，无法构建。", 1)
    return kb


_MARK_OPEN = re.compile(r"<mark[^>]*>")


def _terminal_snippet(snippet: str, color: bool) -> str:
    import html

    start, end = ("\x1b[1;31m", "\x1b[0m") if color else ("【", "】")
    return html.unescape(_MARK_OPEN.sub(start, snippet).replace("</mark>", end))


@main.command()
@click.argument("query")
@click.option("--sector", help="行业名或别名，如 水泥、印染。")
@click.option("--type", "doc_type", type=click.Choice(["technology", "case", "spec"]), help="文档类型。")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
def search(query: str, sector: str | None, doc_type: str | None, limit: int, as_json: bool) -> None:
    """中文检索：同义词扩展、繁简转换、高亮摘要。"""
    from .search.engine import SearchRequest

    sectors = []
    if sector:
        try:
            sectors = [load_taxonomy().resolve(sector)]
        except UnknownSector as exc:
            _fail(str(exc))
    kb = _open_kb()
    response = kb.search(SearchRequest(text=query, sectors=sectors, types=[doc_type] if doc_type else [], per_page=limit))
    if as_json:
        _echo_json(search_json(response))
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


@main.command()
@click.argument("doc_type", metavar="case|technology|spec", type=click.Choice(["case", "technology", "spec"]))
@click.option("--sector", required=True, help="行业名或别名。")
@click.option("--title", required=True, help="中文标题。")
def new(doc_type: str, sector: str, title: str) -> None:
    """在可编辑内容目录中新建一个条目模板（带新 id），填写后 kb check。"""
    from .templates import write_template

    settings = load_settings()
    try:
        path = write_template(settings, load_taxonomy(), doc_type, sector, title)
    except UnknownSector as exc:
        _fail(str(exc))
    click.echo(str(path))
    click.echo("填写“待填写”处和空列表后运行 kb check；未填完的模板不会被索引。", err=True)


@main.command()
@click.argument("doc_id")
@click.argument("version", required=False)
def history(doc_id: str, version: str | None) -> None:
    """列出可编辑文档的修改历史；给出 VERSION 时把文档恢复到该版本（并重新索引）。"""
    from .editing import EditError, Editor

    kb = _open_kb()
    editor = Editor(kb)
    if version is None:
        entries = editor.history(doc_id)
        if not entries:
            _fail(f"「{doc_id}」没有修改历史（只有通过编辑页、API 或 kb history 写入的修改才有历史）")
        for entry in entries:
            click.echo(f"{entry['when']}  {entry['version'][:12]}  {entry['action']}  {entry['who']}")
        return
    matches = [e["version"] for e in editor.history(doc_id) if e["version"].startswith(version)]
    if len(matches) != 1:
        _fail(f"版本「{version}」{'不存在' if not matches else '不唯一，请多写几位'}")
    try:
        doc = editor.restore(doc_id, matches[0], "cli")
    except EditError as exc:
        _fail(exc.message + "".join(f"\n  {d.get('field')}: {d.get('message')}" for d in exc.details))
    click.echo(f"已恢复 {doc.id} 到版本 {matches[0][:12]}，并已重新索引。")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
def stats(as_json: bool) -> None:
    """按行业×类型统计条目，列出缺少可选字段的条目和案例不足的行业。"""
    from .loader import load_content

    from .stats import FIELD_NAMES, content_stats, provenance_table, table

    settings = load_settings()
    taxonomy = load_taxonomy()
    docs = load_content(settings.content_dirs, taxonomy).documents.values()
    stats = content_stats(docs, taxonomy.names, taxonomy.key_sectors)
    if as_json:
        _echo_json(stats.as_json())
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=SERVE_THREADS, show_default=True, type=int,
              help="处理请求的线程数。等待索引批次的发布请求只占线程、不占 CPU；同时计算的请求（检索、页面）限 2 个（见 bench/RESULTS.md）。")
@click.option("--connection-limit", default=ServeLimits.connection_limit, show_default=True, type=click.IntRange(10),
              help="同时打开的连接数上限（含慢速、空闲连接）；超出后新连接排队。")
@click.option("--channel-timeout", default=ServeLimits.channel_timeout, show_default=True, type=click.IntRange(1),
              help="连接无数据往来多少秒后关闭。")
@click.option("--trusted-proxy", envvar="KB_TRUSTED_PROXY", default=None, metavar="地址",
              help="反向代理的地址（如 127.0.0.1）：只信任它发来的 X-Forwarded-Proto / X-Forwarded-For，"
                   "从而经 HTTPS 时会话 cookie 带 Secure、按真实客户端限流。也可用 KB_TRUSTED_PROXY。")
@click.option("--watch/--no-watch", default=True, show_default=True, help="监视内容目录，文件变化后自动重新索引。")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="工作进程数。大于 1 时用 gunicorn 预先 fork 多个进程（仅限 Linux 等支持 fork 的系统），每个进程各用"
                   " --threads 个线程，共用内存映射的索引；本节点仍只有一个索引写入器和一个内容监视器。")
def serve(host: str, port: int, threads: int, connection_limit: int, channel_timeout: int,
          trusted_proxy: str | None, watch: bool, workers: int) -> None:
    """用生产级 WSGI 服务器（单进程 waitress，多进程 gunicorn）提供网站和 API；尚未构建时先构建。"""
    import logging

    from .instance_secret import ensure_secret_key

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    kb = _open_kb()
    kb.ensure_built(progress=True)      # also refills a new (or taken-over) database
    settings = kb.settings
    kb.close()
    ensure_secret_key(settings.home)
    from web import create_app

    limits = ServeLimits(threads=threads, connection_limit=connection_limit, channel_timeout=channel_timeout,
                         trusted_proxy=trusted_proxy)
    if watch:
        settings.editable_content.mkdir(parents=True, exist_ok=True)
        click.echo("正在监视内容目录：" + "、".join(str(f) for f in settings.content_dirs if f.is_dir()))
    click.echo(f"清洁生产技术知识库：http://{host}:{port}/  （Ctrl+C 退出）")
    try:
        serving.run(create_app, settings, host, port, limits, workers=workers, watch=watch)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            _fail(f"端口 {port} 已被占用：先停止占用它的程序，或换一个端口，如 kb serve --port {port + 1}")
        raise


def _glossary_problems(path: Path | None, content_dirs, taxonomy) -> list:
    """The glossary's problem vocabulary, checked when the whole content, its folder or the file itself is."""
    from .documents import Problem
    from .glossary import check_problem_vocabulary
    from .loader import display_path

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


from .recommend.cli import recommend as _recommend; main.add_command(_recommend)


from .import_cli import import_command as _import_command; main.add_command(_import_command)


from .assess_cli import assess as _assess; main.add_command(_assess)


if __name__ == "__main__":
    main()


from .export_cli import export_command as _export_command; main.add_command(_export_command)
