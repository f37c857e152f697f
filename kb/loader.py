"""The one loader of content: Markdown files → validated Documents, or located Problems."""
from __future__ import annotations

import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import ValidationError

from .checks import cross_check
from .documents import FOLDER_TYPES, Document, Problem, display_path
from .frontmatter import FrontMatterError, parse
from .schemas import NON_AUDIT_SECTION_ALTERNATIVES, REQUIRED_SECTIONS, SCHEMAS
from .taxonomy import Taxonomy, load_taxonomy

_UNION_BRANCHES = ("int", "float", "str", "bool")
_MESSAGES = {
    "missing": "缺少必填字段",
    "extra_forbidden": "未知字段（拼写错误？见 CONTENT.md）",
    "string_pattern_mismatch": "格式不对",
    "string_too_short": "内容太短或为空",
    "string_too_long": "内容太长",
    "too_short": "至少需要一项",
    "int_parsing": "必须是整数",
    "int_type": "必须是整数",
    "float_parsing": "必须是数字",
    "bool_parsing": "必须是 true 或 false",
    "list_type": "必须是列表",
    "dict_type": "必须是键值映射",
    "model_type": "必须是键值映射",
    "string_type": "必须是文字",
    # the rest pydantic may report, so an editor never reads English (issue 17)
    "float_type": "必须是数字",
    "int_from_float": "必须是整数",
    "bool_type": "必须是 true 或 false",
    "too_long": "项数太多",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than": "数值太大",
    "less_than_equal": "数值太大",
    "finite_number": "必须是有限的数字",
    "enum": "取值不在可选范围内",
    "union_tag_invalid": "取值类型不对",
    "date_parsing": "必须是日期（如 2024-05-01）",
    "date_type": "必须是日期（如 2024-05-01）",
    "url_parsing": "必须是网址",
    "frozen_set_type": "必须是列表",
    "set_type": "必须是列表",
    "tuple_type": "必须是列表",
    "none_required": "此处应留空",
}


@dataclass
class ContentSet:
    documents: dict[str, Document] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0


def content_files(root: Path) -> list[Path]:
    """The root's `*.md` content files in path order (by folder, then name: what sorting the paths gives)."""
    return [Path(name) for name in _content_file_names(Path(root))]


def _content_file_names(root: Path) -> list[str]:
    """content_files as strings, listed with os.scandir: pathlib's glob, Path sorting and Path objects
    cost about half a second per 20k files, on every build of a running server."""
    if not root.is_dir():
        return []
    found = []
    for folder in FOLDER_TYPES:
        base = os.path.join(root, folder)
        try:
            with os.scandir(base) as entries:
                names = sorted(e.name for e in entries if e.name.endswith(".md"))
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.append((folder, [os.path.join(base, name) for name in names]))
    found.sort(key=lambda item: item[0])
    return [name for _, names in found for name in names]


def load_text(text: str, path: Path, taxonomy: Taxonomy, expected_type: str | None = None) -> tuple[Document | None, list[Problem]]:
    """Validate one document's text; the path is used for messages and the id-equals-filename rule."""
    shown = display_path(path)
    try:
        parsed = parse(text)
    except FrontMatterError as exc:
        return None, [Problem(shown, exc.line, exc.field, exc.message)]

    doc_type = parsed.data.get("type")
    if doc_type not in SCHEMAS:
        return None, [Problem(shown, parsed.line_of(("type",)), "type",
                              f"type 必须是 technology、case 或 spec 之一，而不是「{doc_type}」")]
    problems: list[Problem] = []
    if expected_type and doc_type != expected_type:
        problems.append(Problem(shown, parsed.line_of(("type",)), "type", f"此目录下的文件 type 应为 {expected_type}"))
    try:
        model = SCHEMAS[doc_type].model_validate(parsed.data)
    except ValidationError as exc:
        return None, _once_per_field(problems + _validation_problems(exc, parsed, shown))

    if model.id != path.stem:
        problems.append(Problem(shown, parsed.line_of(("id",)), "id", f"id「{model.id}」必须与文件名「{path.stem}」一致"))
    sectors = _resolve_sectors(model.sectors, taxonomy, parsed, shown, problems)
    problems += _missing_sections(doc_type, model, parsed, shown)
    if problems:
        return None, problems
    return _document(model, doc_type, sectors, parsed, text, path), []


# pydantic's bound errors → the Chinese words for them, with the bound from the error's context
_BOUNDS = {"greater_than_equal": ("ge", "不能小于"), "greater_than": ("gt", "必须大于"),
           "less_than_equal": ("le", "不能大于"), "less_than": ("lt", "必须小于")}


def _validation_problems(exc: ValidationError, parsed, shown: str) -> list[Problem]:
    """One located problem per pydantic error, in Chinese (never pydantic's English text)."""
    problems = []
    for err in exc.errors():
        raw_loc = tuple(err["loc"])
        # Union members produce one error each; the field is what matters to the editor.
        loc = tuple(p for p in raw_loc if not (isinstance(p, str) and p in _UNION_BRANCHES))
        name = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[")
        problems.append(Problem(shown, parsed.line_of(loc), name or "front matter", _error_message(err, loc, raw_loc)))
    return problems


def _error_message(err: dict, loc: tuple, raw_loc: tuple) -> str:
    message = _MESSAGES.get(err["type"], "取值无效")
    if err["type"] in _BOUNDS and _BOUNDS[err["type"]][0] in err.get("ctx", {}):
        key, words = _BOUNDS[err["type"]]
        message = f"{words} {err['ctx'][key]}"
    if err["type"] in ("value_error", "assertion_error"):
        # the schema's own Chinese message, without pydantic's "Value error, " prefix
        message = str(err.get("ctx", {}).get("error") or err["msg"]).removeprefix("Value error, ")
    if loc != raw_loc:
        message = "取值类型不对：应为数字或文字"
    if err["type"] == "literal_error":
        message = "取值必须是：" + err["ctx"]["expected"].replace("'", "")
    elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "id":
        message = "id 只能用小写字母、数字和连字符（2–100 个字符）"
    elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] == "url":
        message = "url 必须以 http:// 或 https:// 开头"
    return message


def _once_per_field(problems: list[Problem]) -> list[Problem]:
    """Each field reported once even when several union branches failed."""
    seen: set[tuple] = set()
    return [p for p in problems if (p.line, p.field) not in seen and not seen.add((p.line, p.field))]


def _resolve_sectors(names: list[str], taxonomy: Taxonomy, parsed, shown: str, problems: list[Problem]) -> list[str]:
    """Canonical sectors in order, without repeats; an unknown name is a problem on its own line."""
    sectors: list[str] = []
    for i, name in enumerate(names):
        canonical = taxonomy.try_resolve(name)
        if canonical is None:
            problems.append(Problem(shown, parsed.line_of(("sectors", i)), "sectors",
                                    f"未知行业「{name}」；可选：{'、'.join(taxonomy.names)}"))
        elif canonical not in sectors:
            sectors.append(canonical)
    return sectors


def _missing_sections(doc_type: str, model, parsed, shown: str) -> list[Problem]:
    """The body's required `## ` sections (a case that is not an audit may use the alternatives)."""
    headings = set(re.findall(r"^##\s*(.+?)\s*$", parsed.body, re.M))
    non_audit = doc_type == "case" and getattr(model, "kind", None) not in (None, "清洁生产审核")
    problems = []
    for heading in REQUIRED_SECTIONS[doc_type]:
        accepted = (heading, *NON_AUDIT_SECTION_ALTERNATIVES.get(heading, ())) if non_audit else (heading,)
        if not headings.intersection(accepted):
            problems.append(Problem(shown, parsed.body_line, "body", f"正文缺少小节「## {'」或「## '.join(accepted)}」"))
    return problems


def _document(model, doc_type: str, sectors: list[str], parsed, text: str, path: Path) -> Document:
    meta = model.model_dump(mode="json", exclude_none=True)
    meta["sectors"] = sectors
    return Document(
        id=model.id,
        type=doc_type,
        title=model.title,
        sectors=sectors,
        meta=meta,
        body=parsed.body.strip() + "\n",
        path=str(path),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        # "body": the file line the stripped body starts on, for problems found in the body text
        lines={**{str(k): parsed.line_of((k,)) for k in parsed.data},
               "body": parsed.body_line + _leading_lines(parsed.body)},
    )


def _leading_lines(body: str) -> int:
    """Lines before the body's first text (the stored body is stripped)."""
    return body[: len(body) - len(body.lstrip())].count("\n")


MAX_CACHED_FILES = 50_000
# A file whose last change is older than this is trusted unchanged while its stat signature stays the same
# (like git's racy-clean rule: a write within the file system's timestamp granularity could keep mtime).
SETTLED_NS = 2_000_000_000


def load_file(path: Path | str, taxonomy: Taxonomy) -> tuple[Document | None, list[Problem]]:
    """One file's Document or Problems. A long-running server rebuilds on every edit, so results are kept
    on the taxonomy they were validated against (never keyed by id(), which a new object may reuse), by
    path and content hash; a file whose stat signature (inode, size, mtime, ctime) is unchanged since it
    was read settled is not even read again. The results are shared, not copied: Documents are values
    that no caller changes in place (make a changed one with dataclasses.replace). `path` may be a
    string: a Path is only made when the file has to be read."""
    cache = taxonomy.validated_files
    signatures = taxonomy.file_signatures
    name = os.fspath(path)
    stat = os.stat(name)
    signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    known = signatures.get(name)
    if known is not None and known[0] == signature:
        cached = cache.get((name, known[1]))
        if cached is not None:
            return cached
    path = Path(path)
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).digest()
    if max(stat.st_mtime_ns, stat.st_ctime_ns) < time.time() * 1e9 - SETTLED_NS and len(raw) == stat.st_size:
        signatures[name] = (signature, digest)
    else:
        signatures.pop(name, None)
    key = (name, digest)
    cached = cache.get(key)
    if cached is not None:
        return cached
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(display_path(path), line, "file", "文件必须是 UTF-8 编码")]
    result = load_text(text, path, taxonomy, FOLDER_TYPES.get(path.parent.name))
    if len(cache) > MAX_CACHED_FILES:
        cache.clear()
        signatures.clear()
    cache[key] = result
    return result


def load_content(roots: list[Path] | tuple[Path, ...], taxonomy: Taxonomy | None = None,
                 checks: Callable[[dict[str, Document]], list[Problem]] | None = None) -> ContentSet:
    """Load every root in order; a later root's document replaces an earlier one with the same id
    (the editable folder can correct a bundled entry), but one root may not hold an id twice."""
    taxonomy = taxonomy or load_taxonomy()
    result = ContentSet()
    for root in roots:
        seen_here: dict[str, Document] = {}
        for path in _content_file_names(Path(root)):
            result.files += 1
            doc, problems = load_file(path, taxonomy)
            result.problems.extend(problems)
            if doc is None:
                continue
            if doc.id in seen_here:
                result.problems.append(
                    Problem(display_path(Path(path)), doc.lines.get("id", 2), "id",
                            f"id「{doc.id}」重复：已在 {display_path(Path(seen_here[doc.id].path))} 中使用")
                )
                continue
            seen_here[doc.id] = doc
            result.documents[doc.id] = doc
    result.problems.extend((checks or cross_check)(result.documents))    # checks: a knowledge base's CrossChecks
    return result
