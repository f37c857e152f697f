"""Request-side helpers shared by pages and API: the knowledge base and parsed search parameters."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from flask import current_app, request

from kb.documents import TYPE_FOLDERS
from kb.knowledge import KnowledgeBase
from kb.regions import UnknownProvince, resolve_province
from kb.render import FACET_LABELS
from kb.schemas import CASE_KINDS, SOURCE_ORIGINS
from kb.search.engine import MAX_QUERY_CHARS, SORTS, SearchRequest
from kb.taxonomy import UnknownSector

TYPES = tuple(TYPE_FOLDERS)
MAX_PER_PAGE = 50
MAX_RESULT_WINDOW = 1000
# the facet filters a search URL may carry (the page's links toggle them)
FILTER_PARAMS = tuple(FACET_LABELS)
# Caps on repeated parameters: every search page links each active filter with a URL that carries all of
# them, so the page grows with the square of the filter count (2,000 `year=` made 58 MB); beyond the caps → 400.
MAX_VALUES_PER_FILTER = 20
MAX_FILTER_VALUES = 40
MAX_QUERY_PARAMS = 60
# JSON bodies: nesting deeper than this is refused before any code walks it (1,000 levels raised
# RecursionError); integers longer than this are read as floats (inf when huge) so the field's own
# check reports them, instead of an OverflowError deep inside a calculation.
MAX_JSON_DEPTH = 32
MAX_JSON_INT_DIGITS = 30


# "Blank" as the OpenAPI document's pattern \S means it (ECMA-262 white space), so the contract and
# the check agree on odd characters such as U+001F.
_NOT_BLANK = re.compile("[^ \t\n\r\v\f\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]")


def knowledge() -> KnowledgeBase:
    return current_app.extensions["kb"]


@dataclass
class BadRequest(Exception):
    message: str
    details: list[dict] = field(default_factory=list)


def _json_int(digits: str) -> int | float:
    return int(digits) if len(digits.lstrip("-")) <= MAX_JSON_INT_DIGITS else float(digits)


def json_depth(value) -> int:
    """How deeply arrays and objects nest in a parsed JSON value (iterative: no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            if depth > MAX_JSON_DEPTH:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def json_object() -> dict:
    """The request body as a JSON object of bounded nesting, or a 400 that names the body."""
    not_object = BadRequest("请求体必须是 JSON 对象", [{"field": "body", "message": "Content-Type: application/json，内容为对象"}])
    if not request.is_json:
        raise not_object
    try:
        data = json.loads(request.get_data(cache=True), parse_int=_json_int)
    except RecursionError:
        data = None
        depth = MAX_JSON_DEPTH + 1
    except ValueError:      # not JSON, not UTF-8
        raise not_object
    else:
        depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise BadRequest("JSON 嵌套过深", [{"field": "body", "message": f"数组和对象最多嵌套 {MAX_JSON_DEPTH} 层"}])
    if not isinstance(data, dict):
        raise not_object
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


def check_repeats() -> None:
    """400 naming the parameter when a filter, or the query as a whole, repeats beyond the caps."""
    pairs = list(request.args.items(multi=True))
    details: list[dict] = []
    if len(pairs) > MAX_QUERY_PARAMS:
        details.append({"field": "query", "message": f"参数过多：最多 {MAX_QUERY_PARAMS} 个，收到 {len(pairs)} 个"})
    counts: dict[str, int] = {}
    for key, _ in pairs:
        counts[key] = counts.get(key, 0) + 1
    for key in FILTER_PARAMS:
        if counts.get(key, 0) > MAX_VALUES_PER_FILTER:
            details.append({"field": key, "message": f"{key} 最多 {MAX_VALUES_PER_FILTER} 个取值，收到 {counts[key]} 个"})
    total = sum(counts.get(key, 0) for key in FILTER_PARAMS)
    if total > MAX_FILTER_VALUES:
        details.append({"field": "query", "message": f"筛选条件过多：最多 {MAX_FILTER_VALUES} 个，收到 {total} 个"})
    if details:
        raise BadRequest("请求参数过多", details)


def search_request(require_query: bool) -> SearchRequest:
    """Parse and validate search parameters; every problem is reported with its field."""
    check_utf8()
    check_repeats()
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
    origins = [o for o in request.args.getlist("origin") if o]
    for o in origins:
        if o not in SOURCE_ORIGINS:
            details.append({"field": "origin", "message": f"origin 必须是 {'、'.join(SOURCE_ORIGINS)} 之一"})
    kinds = [k for k in request.args.getlist("kind") if k]
    for k in kinds:
        if k not in CASE_KINDS:
            details.append({"field": "kind", "message": f"kind 必须是 {'、'.join(CASE_KINDS)} 之一"})
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
        provinces=provinces,
        categories=[c for c in request.args.getlist("category") if c],
        tags=[t for t in request.args.getlist("tag") if t],
        sources=[s for s in request.args.getlist("source") if s],
        source_kinds=[s for s in request.args.getlist("source_kind") if s],
        origins=origins, kinds=kinds,
        years=years, page=page, per_page=per_page, sort=sort, correct=exact != "1",
    )
