"""Request-side helpers shared by pages and API: the knowledge base and parsed search parameters."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app, request

from kb.knowledge import KnowledgeBase
from kb.regions import UnknownProvince, resolve_province
from kb.search.engine import MAX_QUERY_CHARS, SORTS, SearchRequest
from kb.taxonomy import UnknownSector

TYPES = ("technology", "case", "spec")
TYPE_NAMES = {"technology": "技术", "case": "案例", "spec": "标准"}
MAX_PER_PAGE = 50
MAX_RESULT_WINDOW = 1000


# "Blank" as the OpenAPI document's pattern \S means it (ECMA-262 white space), so the contract and
# the check agree on odd characters such as U+001F.
_NOT_BLANK = re.compile("[^ \t\n\r\v\f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")


def knowledge() -> KnowledgeBase:
    return current_app.extensions["kb"]


@dataclass
class BadRequest(Exception):
    message: str
    details: list[dict] = field(default_factory=list)


def json_object() -> dict:
    """The request body as a JSON object, or a 400 that names the body."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象", [{"field": "body", "message": "Content-Type: application/json，内容为对象"}])
    return data


def check_utf8() -> None:
    try:
        request.query_string.decode("utf-8")
        from urllib.parse import unquote_to_bytes

        unquote_to_bytes(request.query_string.decode("ascii", "replace")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("查询参数不是有效的 UTF-8 编码", [{"field": "query", "message": "请使用 UTF-8 编码"}])


def _int(name: str, default: int, low: int, high: int, details: list[dict]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        details.append({"field": name, "message": f"必须是整数，收到「{raw[:20]}」"})
        return default
    if not low <= value <= high:
        details.append({"field": name, "message": f"必须在 {low} 到 {high} 之间"})
    return value


def search_request(require_query: bool) -> SearchRequest:
    """Parse and validate search parameters; every problem is reported with its field."""
    check_utf8()
    details: list[dict] = []
    raw_q = request.args.get("q", "")
    q = raw_q.strip()
    if require_query and not _NOT_BLANK.search(raw_q):
        details.append({"field": "q", "message": "请输入检索词"})
    if len(q) > MAX_QUERY_CHARS:
        details.append({"field": "q", "message": f"检索词过长：最多 {MAX_QUERY_CHARS} 字，收到 {len(q)} 字"})
    per_page = _int("per_page", 10, 1, MAX_PER_PAGE, details)
    page = _int("page", 1, 1, MAX_RESULT_WINDOW, details)
    taxonomy = knowledge().taxonomy
    sectors = []
    for name in request.args.getlist("sector"):
        try:
            sectors.append(taxonomy.resolve(name))
        except UnknownSector as exc:
            details.append({"field": "sector", "message": str(exc), "valid": exc.valid})
    types = request.args.getlist("type")
    for t in types:
        if t not in TYPES:
            details.append({"field": "type", "message": f"type 必须是 {'、'.join(TYPES)} 之一"})
    sort = request.args.get("sort") or "relevance"
    if sort not in SORTS:
        details.append({"field": "sort", "message": f"sort 必须是 {'、'.join(SORTS)} 之一"})
    years = []
    for raw in request.args.getlist("year"):
        if raw:
            if raw.isdigit() and len(raw) == 4:
                years.append(int(raw))
            else:
                details.append({"field": "year", "message": "year 必须是四位年份"})
    provinces = []
    for raw in request.args.getlist("province"):
        if raw:
            try:
                provinces.append(resolve_province(raw))
            except UnknownProvince as exc:
                details.append({"field": "province", "message": str(exc)})
    exact = request.args.get("exact", "0")
    if exact not in ("0", "1"):
        details.append({"field": "exact", "message": "exact 必须是 0 或 1（1 = 按原词检索，不纠正错别字）"})
    if details:
        raise BadRequest("请求参数有误", details)
    return SearchRequest(
        text=q, sectors=sectors, types=types,
        provinces=provinces[:5],
        categories=[c for c in request.args.getlist("category") if c][:5],
        tags=[t for t in request.args.getlist("tag") if t][:5],
        sources=[s for s in request.args.getlist("source") if s][:5],
        source_kinds=[s for s in request.args.getlist("source_kind") if s][:5],
        years=years, page=page, per_page=per_page, sort=sort, correct=exact != "1",
    )
