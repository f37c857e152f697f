"""`kb content export DIR` / `kb content import DIR`: the shared database's documents as Markdown files and back.

In shared mode (KB_SHARED=1) the database holds the documents, but Markdown stays the editors' format: an
export writes every document as the file a single-node install would hold (for git, review and bulk edits)
plus `.kb-versions.json`, the version each file was exported at. An import loads the reviewed folder back
in one transaction with the same version check an edit over HTTP gets: a file based on a version older than
the database's (someone published since the export) is refused, naming the file and both versions, and
then nothing is written.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from .common import CliContext, fail, pass_cli

MANIFEST = ".kb-versions.json"


def _database(settings):
    if not settings.shared:
        fail("kb content 只在多节点共享模式下使用（KB_SHARED=1 与 KB_DATABASE_URL=postgresql://…）；"
              "单机模式下内容本来就是 Markdown 文件。", 2)
    from ..shared.database import SharedDatabase

    return SharedDatabase(settings.shared_url)


def read_manifest(folder: Path) -> dict[str, str]:
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): str(v) for k, v in data["documents"].items()}
    except (ValueError, KeyError, AttributeError) as exc:
        fail(f"{path}：不是 kb content export 写出的版本清单（{exc}）", 1)


def write_manifest(folder: Path, versions: dict[str, str], revision: int) -> None:
    from ..files import atomic_write

    atomic_write(folder / MANIFEST, json.dumps({"revision": revision, "documents": dict(sorted(versions.items()))},
                                               ensure_ascii=False, indent=1).encode("utf-8"))


@click.group("content")
def content() -> None:
    """多节点共享模式：把数据库中的文档导出为 Markdown 文件，或把审阅过的文件夹导回（带版本核对）。"""


@content.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@pass_cli
def export_content(cli: CliContext, folder: Path) -> None:
    """把共享数据库中的全部文档写成 FOLDER/{technologies,cases,specs}/<id>.md，并记下各文件的版本。"""
    from ..files import atomic_write
    from ..documents import TYPE_FOLDERS

    database = _database(cli.settings)
    try:
        before = read_manifest(folder)
        changes = database.changes_since(0)        # every row and the counter, in one snapshot
        rows = [r for r in changes.rows if not r.deleted]
        for row in rows:
            atomic_write(folder / TYPE_FOLDERS.get(row.type, "technologies") / f"{row.id}.md", row.text.encode("utf-8"))
        live = {r.id for r in rows}
        removed = 0
        for doc_id in set(before) - live:          # exported before, removed from the database since
            for sub in TYPE_FOLDERS.values():
                path = folder / sub / f"{doc_id}.md"
                if path.is_file():
                    path.unlink()
                    removed += 1
        write_manifest(folder, {r.id: r.version for r in rows}, changes.revision)
    finally:
        database.dispose()
    click.echo(f"已导出 {len(rows)} 篇文档到 {folder}（数据库修订号 {changes.revision}"
               + (f"，删除已不在数据库中的 {removed} 个文件" if removed else "") + "）。")


@dataclass
class Planned:
    path: Path
    change: object          # kb.shared.database.Change


@content.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="只核对并列出将写入的文档，不写入。")
@click.option("--delete", is_flag=True,
              help="导出时在版本清单中、如今文件夹里已删去的文档，也从数据库中删除（同样核对版本）。")
@click.option("--who", default="kb content import", show_default=True, help="记入修改历史的作者。")
@pass_cli
def import_content(cli: CliContext, folder: Path, dry_run: bool, delete: bool, who: str) -> None:
    """把审阅过的文件夹导回共享数据库：全部校验、核对版本后在一个事务里写入；有问题时一篇也不写。"""
    from ..editing import MAX_BYTES
    from ..loader import load_content
    from ..shared.database import Change, VersionConflict, version_of

    settings = cli.settings
    database = _database(settings)
    try:
        # checked together with the database's documents (this node's mirror, pulled now), so a folder holding
        # only some files may link to technologies it does not hold; only the folder's own problems count
        from ..shared.mirror import Mirror

        Mirror(settings, database).pull()
        inside = folder.resolve()
        loaded = load_content([settings.editable_content, folder])
        problems = [str(p) for p in loaded.problems if Path(p.path).resolve().is_relative_to(inside)]
        manifest = read_manifest(folder)
        planned: list[Planned] = []
        ours = [d for d in loaded.documents.values() if Path(d.path).resolve().is_relative_to(inside)]
        for doc in sorted(ours, key=lambda d: d.id):
            path = Path(doc.path)
            data = path.read_bytes()
            if len(data) > MAX_BYTES:
                problems.append(f"{path}: 文件超过 1 MiB")
                continue
            text = data.decode("utf-8")
            row = database.get(doc.id)
            base = manifest.get(doc.id)
            current = row.version if row else None
            if current == version_of(text):
                continue                                              # unchanged
            if row is not None and row.type != doc.type:
                problems.append(f"{path}: 类型 {doc.type} 与数据库中的 {row.type} 不同，不能修改文档类型")
            elif current == base:
                planned.append(Planned(path, Change(doc.id, doc.type, text, expected=base,
                                                    action="import" if base else "import create")))
            elif base is None:
                problems.append(f"{path}: 数据库中已有「{doc.id}」（版本 {current[:12]}），这个文件不是从它导出的；"
                                f"请先 kb content export 再在导出的文件上修改")
            elif current is None:
                problems.append(f"{path}: 文件基于版本 {base[:12]}，数据库中「{doc.id}」已被删除")
            else:
                problems.append(f"{path}: 文件基于版本 {base[:12]}，数据库中已是版本 {current[:12]}"
                                f"（导出后有人修改过）；请重新导出、合并后再导入")
        if delete:
            removals = _removals(folder, manifest, {d.id for d in ours}, database, problems)
            problems += _dangling_links(removals, loaded.documents)
            planned += removals
        if problems:
            for problem in problems:
                click.echo(problem, err=True)
            fail(f"{len(problems)} 个问题，未导入任何文档；数据库保持不变。", 1)
        for item in planned:
            verb = ("将删除" if dry_run else "删除") if item.change.text is None else ("将写入" if dry_run else "写入")
            click.echo(f"{verb} {item.change.id}（{item.path}）")
        if dry_run or not planned:
            click.echo("没有需要导入的修改。" if not planned else f"共 {len(planned)} 篇（--dry-run，未写入）。")
            return
        try:
            revision = database.commit([p.change for p in planned], who)
        except VersionConflict as conflict:
            path = next(p.path for p in planned if p.change.id == conflict.id)
            fail(f"{path}: 核对时数据库中的版本已变为 {(conflict.current or '（已删除）')[:12]}，"
                 f"未导入任何文档；请重新导出、合并后再导入", 1)
        versions = {**manifest, **{p.change.id: p.change.version for p in planned}}
        write_manifest(folder, {k: v for k, v in versions.items() if v is not None}, revision)
    finally:
        database.dispose()
    click.echo(f"已导入 {len(planned)} 篇文档（数据库修订号 {revision}）；各节点收到通知后重新索引。")


def _dangling_links(removals: list[Planned], documents: dict) -> list[str]:
    """A deletion must not leave a case linking to a technology that is gone: every node's next build would
    refuse that case. Each case still linking (in the database or in the folder) names its file, line and field."""
    from ..checks import CASE_LINK_FIELDS
    from ..documents import display_path

    gone = {p.change.id: p.path for p in removals}
    problems = []
    for doc in sorted(documents.values(), key=lambda d: d.id):
        if doc.type != "case" or doc.id in gone:
            continue
        for field in CASE_LINK_FIELDS:
            for i, tech_id in enumerate(doc.meta.get(field, [])):
                if tech_id in gone:
                    problems.append(f"{display_path(Path(doc.path))}:{doc.lines.get(field, 2)}: {field}[{i}] "
                                    f"链接到「{tech_id}」，不能删除 {gone[tech_id]}；请先修改这份案例")
    return problems


def _removals(folder: Path, manifest: dict[str, str], present: set[str], database, problems: list[str]) -> list[Planned]:
    """Deletions for `--delete`: documents the folder's manifest lists (they were exported into it) whose file is
    gone. Each is removed only if the database still holds the version that was exported; a document changed
    since is a problem, like a stale file. A document the manifest does not list is never touched, so a folder
    holding only some documents deletes nothing else."""
    from ..documents import TYPE_FOLDERS
    from ..shared.database import Change

    removals = []
    for doc_id, exported in sorted(manifest.items()):
        if doc_id in present:
            continue
        row = database.get(doc_id)
        if row is None:
            continue                                  # removed already
        path = folder / TYPE_FOLDERS.get(row.type, "technologies") / f"{doc_id}.md"
        if row.version != exported:
            problems.append(f"{path}: 文件已删去，但数据库中「{doc_id}」导出后已改为版本 {row.version[:12]}"
                            f"（导出时 {exported[:12]}）；请重新导出、确认后再删除")
            continue
        removals.append(Planned(path, Change(doc_id, row.type, None, expected=exported, action="import delete")))
    return removals
