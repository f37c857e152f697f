"""The OpenAPI 3 document of the JSON API: the published contract, also what schemathesis fuzzes."""
from __future__ import annotations

from kb import __version__
from kb.search.engine import MAX_QUERY_CHARS, SORTS
from kb.regions import PROVINCES
from kb.render import API_FACETS
from kb.schemas import CASE_KINDS, CONFIDENCES, SOURCE_ORIGINS
from kb.taxonomy import load_taxonomy

from .context import MAX_PER_PAGE, MAX_RESULT_WINDOW, TYPES

_STR_LIST = {"type": "array", "items": {"type": "string"}}
_COUNTS = {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}}

ERROR = {
    "type": "object",
    "required": ["error", "details"],
    "properties": {
        "error": {"type": "string"},
        "current_version": {"type": "string", "description": "409 时：文档的当前版本"},
        "details": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "current_version": {"type": "string"},
                           "line": {"type": "integer"}, "valid": _STR_LIST},
        }},
    },
}

SEARCH_RESULT = {
    "type": "object",
    "required": ["id", "type", "title", "sectors", "summary", "snippet", "score", "url"],
    "properties": {
        "id": {"type": "string"}, "type": {"type": "string", "enum": list(TYPES)}, "title": {"type": "string"},
        "sectors": _STR_LIST, "summary": {"type": "string"},
        "snippet": {"type": "string", "description": "HTML，命中词以 <mark> 标出，其余文字已转义"},
        "score": {"type": "number"}, "url": {"type": "string"},
        "origin": {"type": "string", "nullable": True, "enum": [*SOURCE_ORIGINS, None],
                   "description": "来源性质：数字读自哪类来源"},
        "confidence": {"type": "string", "nullable": True, "enum": [*CONFIDENCES, None],
                       "description": "可信度：高 官方或企业自报；中 新闻、行业协会；低 转载、聚合页"},
        "kind": {"type": "string", "nullable": True, "enum": [*CASE_KINDS, None], "description": "案例类型（仅案例）"},
        "audit": {"type": "string", "nullable": True, "description": "审核案例的审核类型：强制性 或 自愿性"},
        "year": {"type": "integer", "nullable": True, "description": "年份（技术、标准：来源年份；案例：实施年份）"},
        "category": {"type": "string", "nullable": True, "description": "类别（节能、节水 …）"},
        "province": {"type": "string", "nullable": True, "description": "案例所在省份（简称）"},
        "region": {"type": "string", "nullable": True, "description": "案例所在地区（原文）"},
        "source_title": {"type": "string", "nullable": True, "description": "来源标题，引用时用"},
        "source_issuer": {"type": "string", "nullable": True, "description": "来源发布机构或出处"},
        "snippet_text": {"type": "string", "description": "snippet 的纯文本（无 HTML 标记）"},
    },
}

SEARCH_RESPONSE = {
    "type": "object",
    "required": ["query", "total", "page", "per_page", "results", "facets"],
    "properties": {
        "query": {"type": "string"}, "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1},
        "matched_all_words": {"type": "boolean",
                              "description": "false：没有同时包含全部词语的结果，列出的是包含部分词语的结果"},
        "words": {**_STR_LIST, "description": "检索词分词后的词语"},
        "results": {"type": "array", "items": SEARCH_RESULT},
        "facets": {"type": "object", "required": ["type", "sector", "category", "tag", "province"],
                   "properties": {k: _COUNTS for k in API_FACETS}},
        "expanded": {"type": "array", "description": "查询里的口语说法及一并检索的技术词（术语表 problems 节）",
                     "items": {"type": "object", "required": ["phrase", "terms", "note"], "properties": {
                         "phrase": {"type": "string"}, "terms": {"type": "array", "items": {"type": "string"}},
                         "note": {"type": "string"}}}},
        "spelling": {"description": "错别字/同音字纠正：applied 为真时结果已按纠正后的 text 检索，否则仅提示“您是不是要找”",
                     "oneOf": [{"type": "null"}, {"type": "object", "required": ["text", "applied", "words", "note"],
                               "properties": {"text": {"type": "string"}, "applied": {"type": "boolean"},
                                              "words": {"type": "object", "additionalProperties": {"type": "string"}},
                                              "note": {"type": "string"}}}]},
    },
}

DOCUMENT = {
    "type": "object",
    "required": ["id", "type", "title", "sectors", "source", "body_markdown", "body_html"],
    "properties": {
        "id": {"type": "string"}, "type": {"type": "string", "enum": list(TYPES)}, "title": {"type": "string"},
        "sectors": _STR_LIST, "source": {"type": "object", "required": ["kind", "title", "issuer", "year"]},
        "body_markdown": {"type": "string"}, "body_html": {"type": "string"},
        "version": {"type": "string", "nullable": True,
                    "description": "文件当前版本（与 ETag 相同）；PUT 时放在 If-Match 头中"},
        "markdown": {"type": "string", "nullable": True,
                     "description": "文件原文（YAML 文件头 + 正文），可修改后 PUT；含编辑核实说明的文件只对编辑返回"},
    },
    "additionalProperties": True,
}

SECTORS = {
    "type": "object",
    "required": ["sectors", "totals"],
    "properties": {
        "sectors": {"type": "array", "items": {
            "type": "object", "required": ["name", "subsectors", "aliases", "counts"],
            "properties": {"name": {"type": "string"}, "subsectors": _STR_LIST, "aliases": _STR_LIST,
                           "counts": _COUNTS},
        }},
        "totals": _COUNTS,
    },
}


def recommend_request(sector_names: list[str]) -> dict:
    """The recommend request body, its sector an enum of the names and aliases the taxonomy resolves."""
    return {
        "type": "object",
        "required": ["sector", "problem"],
        "properties": {
            "sector": {"type": "string", "description": "行业名或别名（如 水泥 → 建材）", "enum": sector_names},
            "problem": {"type": "string", "minLength": 1, "maxLength": 2000, "pattern": "[\u4e00-\u9fff]",
                        "description": "中文问题描述，须含汉字"},
            "focus": {"anyOf": [_STR_LIST, {"type": "string", "description": "逗号或顿号分隔"}], "nullable": True,
                      "description": "关注的标签或类别（节能、节水、VOCs …），只取前 20 项"},
            "process": {"type": "string", "nullable": True},
            "max_investment_wan": {"type": "number", "minimum": 0, "nullable": True},
            "max_payback_years": {"type": "number", "minimum": 0, "nullable": True},
            "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
            "province": {"type": "string", "nullable": True, "enum": [*PROVINCES, None],
                         "description": "企业所在省份：同省案例优先列出"},
        },
        "additionalProperties": False,
    }


RECOMMEND_RESPONSE = {
    "type": "object",
    "required": ["profile", "results", "notes"],
    "properties": {
        "profile": {"type": "object", "required": ["sector", "problem"]},
        "results": {"type": "array", "items": {
            "type": "object", "required": ["id", "title", "sectors", "score", "reasons", "cases", "url"],
            "properties": {
                "id": {"type": "string"}, "title": {"type": "string"}, "sectors": _STR_LIST,
                "score": {"type": "number"}, "reasons": _STR_LIST, "url": {"type": "string"},
                "cases": {"type": "array", "items": {"type": "object", "required": ["id", "title"],
                                                      "properties": {"id": {"type": "string"},
                                                                     "title": {"type": "string"},
                                                                     "url": {"type": "string"},
                                                                     "region": {"type": "string", "nullable": True},
                                                                     "year": {"type": "integer", "nullable": True},
                                                                     "kind": {"type": "string", "nullable": True}}}},
            },
        }},
        "notes": _STR_LIST,
    },
}


_LEVEL = {"oneOf": [{"type": "integer", "enum": [1, 2, 3]}, {"type": "string", "enum": ["below"]}]}
_TARGET = {"nullable": True, "oneOf": [{"type": "number"}, {"type": "string"}]}

ASSESS_REQUEST = {
    "type": "object",
    "required": ["sector", "values"],
    "properties": {
        "sector": {"type": "string", "description": "行业名或别名（如 电镀）"},
        "spec": {"type": "string", "description": "标准条目 id；默认该行业最新（来源年份）的评价指标体系"},
        "values": {"type": "object", "description": "{指标 id 或指标名称: 数值或不带单位的数字文字（定量指标，非负，百分数 0–100）"
                                                    "或 1/2/3/\"below\"/级别原文（定性指标）}",
                   "additionalProperties": {"oneOf": [{"type": "number"}, {"type": "string"}]}},
        "target_level": {"type": "integer", "enum": [1, 2, 3], "description": "差距对标的级别；默认比总体级别高一级"},
    },
    "additionalProperties": False,
}

ASSESS_RESPONSE = {
    "type": "object",
    "required": ["spec", "indicators", "overall", "gaps", "rule", "notes"],
    "properties": {
        "spec": {"type": "object", "required": ["id", "title", "standard"],
                 "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "standard": {"type": "string"},
                                "number": {"type": "string", "nullable": True},
                                "in_force": {"type": "boolean", "nullable": True, "description": "是否现行；null 未注明"},
                                "superseded_by": {"type": "string", "nullable": True},
                                "official_url": {"type": "string", "nullable": True}}},
        "indicators": {"type": "array", "items": {
            "type": "object", "required": ["id", "name", "unit", "value", "level", "targets"],
            "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}, "unit": {"type": "string"},
                "value": {"nullable": True, "oneOf": [{"type": "number"}, {"type": "string"}]},
                "level": {**_LEVEL, "nullable": True, "description": "null：未填写或基准值未收录"},
                "targets": {"type": "object", "required": ["1", "2", "3"],
                            "properties": {"1": _TARGET, "2": _TARGET, "3": _TARGET}},
            },
        }},
        "overall": {"type": "object", "required": ["level", "score", "missing"], "properties": {
            "level": {**_LEVEL, "nullable": True},
            "score": {"type": "number", "nullable": True, "description": "所达级别的综合评价指数 Y（未达Ⅲ级时为 YⅢ）"},
            "scores": {"type": "object", "nullable": True, "description": "YⅠ、YⅡ、YⅢ",
                       "properties": {"1": {"type": "number"}, "2": {"type": "number"}, "3": {"type": "number"}}},
            "missing": _STR_LIST,
            "not_applicable": {**_STR_LIST, "description": "填「不涉及」的指标：退出计算，权重按比例分给同组其他指标"},
            "status": {"type": "string", "enum": ["已判定", "数据不足"],
                       "description": "数据不足：缺少限定性指标、条目只收录部分指标体系或已填写的权重不够判定级别"},
            "level_name": {"type": "string"},
            "reasons": {**_STR_LIST, "description": "数据不足的原因"},
            "partial": {"type": "boolean", "description": "scores 只按已填写的指标归一化计算（部分得分），不是整个指标体系的 Y"},
            "scores_label": {"type": "string", "nullable": True},
            "bounds": {"type": "object", "nullable": True,
                       "description": "按整个指标体系，YⅠ/YⅡ/YⅢ 的可能范围 [下限, 上限]（未填写的指标按未达到/达到计）"},
            "best_possible": {"type": "integer", "nullable": True, "description": "数据不足时仍可能达到的最高级别"},
            "at_least": {"type": "integer", "nullable": True, "description": "数据不足时已确定至少达到的级别"},
        }},
        "coverage": {"type": "object", "description": "覆盖度：标准条目收录了整个指标体系的多少，企业填写了多少",
                     "properties": {
                         "basis": {"type": "string", "enum": ["weight", "count"]},
                         "entry_complete": {"type": "boolean", "nullable": True},
                         "entry_pct": {"type": "number", "nullable": True},
                         "entered_pct": {"type": "number", "nullable": True},
                         "missing_limiting": _STR_LIST, "missing_in_entry": _STR_LIST, "limitations": _STR_LIST,
                         "text": {"type": "string"},
                     }},
        "gaps": {"type": "array", "items": {
            "type": "object", "required": ["indicator", "target_level", "needed", "technologies"],
            "properties": {
                "indicator": {"type": "string"}, "target_level": {"type": "integer", "enum": [1, 2, 3]},
                "needed": {"type": "string"},
                "technologies": {"type": "array", "items": {
                    "type": "object", "required": ["id", "title", "reasons"],
                    "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "reasons": _STR_LIST}}},
            },
        }},
        "rule": {"type": "object", "required": ["method", "source", "text", "verify"],
                 "description": "所用判定规则；verify 提醒须与标准原文核对"},
        "notes": _STR_LIST,
    },
}


def assess_request() -> dict | None:
    """ASSESS_REQUEST narrowed to this knowledge base's specs (sector names, spec ids, indicator ids and value
    types), so that every request the contract allows is accepted. None when the knowledge base holds no spec:
    then every request is a 400 and the operation is left out of the document."""
    from flask import has_app_context

    if not has_app_context():
        return ASSESS_REQUEST
    from kb.knowledge import NotBuilt

    from .assess import request_schema
    from .context import knowledge

    try:
        return request_schema(knowledge())
    except NotBuilt:
        return None


SHORTLIST_EXPORT_REQUEST = {
    "type": "object",
    "required": ["ids"],
    "properties": {
        "ids": {"type": "array", "minItems": 1, "maxItems": 50,
                "items": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{1,99}$"},
                "description": "技术、案例或标准的 id（重复的只取一次）；未知 id 得到 400 并点名"},
        "format": {"type": "string", "enum": ["json", "xlsx", "docx"], "default": "json"},
        "title": {"type": "string", "minLength": 1, "maxLength": 60, "pattern": r"\S", "default": "备选方案"},
    },
    "additionalProperties": False,
}


def shortlist_export_request() -> dict:
    """SHORTLIST_EXPORT_REQUEST with `ids` narrowed to this knowledge base's ids: an unknown id is a 400 (named
    in the error), so the published contract lists the ids the endpoint accepts."""
    from flask import has_app_context

    if not has_app_context():
        return SHORTLIST_EXPORT_REQUEST
    from kb.knowledge import NotBuilt

    from .context import knowledge

    try:
        ids = sorted(knowledge().overview().titles)
    except NotBuilt:
        return SHORTLIST_EXPORT_REQUEST
    if not ids:
        return SHORTLIST_EXPORT_REQUEST
    items = {**SHORTLIST_EXPORT_REQUEST["properties"]["ids"]["items"], "enum": ids}
    ids_schema = {**SHORTLIST_EXPORT_REQUEST["properties"]["ids"], "items": items}
    return {**SHORTLIST_EXPORT_REQUEST, "properties": {**SHORTLIST_EXPORT_REQUEST["properties"], "ids": ids_schema}}


_TEXT_ROWS = {"type": "array", "items": {"type": "object"}}

SHORTLIST_EXPORT_RESPONSE = {
    "type": "object",
    "required": ["title", "summary", "comparison", "references", "notes"],
    "properties": {
        "title": {"type": "string"},
        "summary": {"type": "object", "required": ["columns", "rows"], "description": "备选方案汇总表",
                    "properties": {"columns": _STR_LIST, "rows": _TEXT_ROWS}},
        "comparison": {"type": "object", "required": ["technologies", "rows"], "description": "技术对比表：每行一个比较项",
                       "properties": {
                           "technologies": {"type": "array", "items": {"type": "object", "required": ["id", "title"]}},
                           "rows": {"type": "array", "items": {
                               "type": "object", "required": ["field", "label", "values"],
                               "properties": {"field": {"type": "string"}, "label": {"type": "string"},
                                              "values": _STR_LIST}}}}},
        "references": {"type": "array", "description": "参考文献：标题、发布机构、文号、年份、网址", "items": {
            "type": "object", "required": ["title", "issuer", "number", "year", "url", "cited_by"]}},
        "notes": _STR_LIST,
    },
}

PUBLISHED = {
    "type": "object", "required": ["id", "url", "version"],
    "properties": {"id": {"type": "string"}, "url": {"type": "string"}, "version": {"type": "string"}},
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json({"$ref": "#/components/schemas/Error"}, description)


# GET /api/ready (kb/shared: the revision this node serves and the shared database's; null on a single node)
READY = {"type": "object", "required": ["ready", "revision", "database_revision"], "properties": {
    "ready": {"type": "boolean"},
    "revision": {"type": "integer", "nullable": True},
    "database_revision": {"type": "integer", "nullable": True},
}}


def openapi_document() -> dict:
    taxonomy = load_taxonomy()
    assess_schema = assess_request()
    sector_names = sorted({n for s in taxonomy.sectors for n in (s.name, *s.subsectors, *s.aliases)})
    return {
        "openapi": "3.0.3",
        "info": {"title": "清洁生产技术知识库 API", "version": __version__,
                 "description": "检索清洁生产技术、审核案例与评价指标体系；按企业情况推荐技术。"},
        "paths": {
            "/api/search": {"get": {
                "summary": "全文检索（中文分词、同义词扩展、分面统计）",
                "operationId": "search",
                "parameters": [
                    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": MAX_QUERY_CHARS},
                     "description": "检索词；为空时按筛选条件浏览（无筛选条件：全部条目），按年份排列，最新在前"},
                    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS), "default": "relevance"},
                     "description": "relevance 相关度；year 年份（最新在前）"},
                    {"name": "sector", "in": "query", "schema": {"type": "string", "enum": sector_names},
                     "description": "行业名、子行业名或别名（如 水泥 → 建材）"},
                    {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(TYPES)}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"name": "province", "in": "query", "schema": {"type": "string", "enum": [*PROVINCES, ""]},
                     "description": "案例所在省份（简称，如 江苏），可重复；空值表示不筛选"},
                    {"name": "tag", "in": "query", "schema": {"type": "string"}},
                    {"name": "origin", "in": "query", "schema": {"type": "string", "enum": [*SOURCE_ORIGINS, ""]},
                     "description": "来源性质，可重复；空值表示不筛选"},
                    {"name": "kind", "in": "query", "schema": {"type": "string", "enum": [*CASE_KINDS, ""]},
                     "description": "案例类型（只筛案例），可重复；空值表示不筛选"},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_WINDOW, "default": 1}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 10}},
                    {"name": "exact", "in": "query", "schema": {"type": "string", "enum": ["0", "1"], "default": "0"},
                     "description": "1 = 按原词检索，不纠正错别字/同音字"},
                ],
                "responses": {"200": _json(SEARCH_RESPONSE, "检索结果"), "400": _error("参数有误")},
            }},
            "/api/documents/{doc_id}": {"get": {
                "summary": "单篇文档：front matter 字段、Markdown 正文与净化后的 HTML",
                "description": "editor_notes（编辑核实说明）只在请求带有效编辑令牌（Authorization: Bearer）或来自已登录编辑页的会话时返回；令牌错误为 401。",
                "operationId": "getDocument",
                "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {**_json(DOCUMENT, "文档"),
                                      "headers": {"ETag": {"schema": {"type": "string"}, "description": "文件版本"}}},
                              "304": {"description": "If-None-Match 与当前版本相同"},
                              "404": _error("不存在"),
                              "401": _error("给出的编辑令牌错误"), "429": _error("令牌尝试过多")},
            }, "put": {
                "summary": "替换一篇文档；用 If-Match 头（或 version 参数）给出所修改的版本，过期版本得到 409 和当前版本",
                "operationId": "replaceDocument",
                "security": [{"editorToken": []}],
                "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}},
                               {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
                               {"name": "version", "in": "query", "schema": {"type": "string"}}],
                "requestBody": {"required": True, "content": {"text/markdown": {"schema": {"type": "string", "maxLength": 1048576}}}},
                "responses": {
                    "200": _json(PUBLISHED, "已替换，可检索"),
                    "400": _error("文档有误或缺少版本"), "401": _error("令牌缺失或错误"), "403": _error("编辑功能未开启"),
                    "404": _error("不存在"), "409": _error("版本已过期（current_version 为当前版本）"),
                    "413": _error("超过 1 MiB"), "429": _error("登录尝试过多"),
                },
            }},
            "/api/sectors": {"get": {
                "summary": "行业分类及各类文档数量",
                "operationId": "listSectors",
                "responses": {"200": _json(SECTORS, "行业列表")},
            }},
            "/api/ready": {"get": {
                "summary": "健康检查：本节点的索引是否已追上共享数据库（多节点共享模式；单机模式总是就绪）",
                "operationId": "ready",
                "responses": {"200": _json(READY, "就绪"), "503": _json(READY, "落后于数据库或连不上数据库")},
            }},
            "/api/recommend": {"post": {
                "summary": "按企业情况推荐技术，附理由与可引用的案例",
                "operationId": "recommend",
                "requestBody": {"required": True, "content": {"application/json": {"schema": recommend_request(sector_names)}}},
                "responses": {"200": _json(RECOMMEND_RESPONSE, "推荐结果"), "400": _error("参数有误")},
            }},
            **({"/api/assess": {"post": {
                "summary": "清洁生产水平自评：按行业评价指标体系对标Ⅰ/Ⅱ/Ⅲ级，并为差距推荐技术（判定规则须与标准原文核对）",
                "operationId": "assess",
                "requestBody": {"required": True, "content": {"application/json": {"schema": assess_schema}}},
                "responses": {"200": _json(ASSESS_RESPONSE, "对标结果"), "400": _error("参数有误（未知行业、标准或指标，取值类型错误）")},
            }}} if assess_schema is not None else {}),
            "/api/shortlist/export": {"post": {
                "summary": "备选方案导出：备选方案汇总表、技术对比表和参考文献（JSON、Excel 或 Word）",
                "operationId": "exportShortlist",
                "requestBody": {"required": True, "content": {"application/json": {"schema": shortlist_export_request()}}},
                "responses": {
                    "200": {"description": "审核报告方案表", "content": {
                        "application/json": {"schema": SHORTLIST_EXPORT_RESPONSE},
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": {"type": "string", "format": "binary"}},
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {"schema": {"type": "string", "format": "binary"}},
                    }},
                    "400": _error("参数有误（未知或无效的 id、超过 50 个、未知格式）"),
                },
            }},
            "/api/cases": {"post": {
                "summary": "发布一个新案例（Markdown 文件：YAML 文件头 + 正文）",
                "operationId": "createCase",
                "security": [{"editorToken": []}],
                "requestBody": {"required": True, "content": {"text/markdown": {"schema": {"type": "string", "maxLength": 1048576}}}},
                "responses": {
                    "201": _json(PUBLISHED, "已发布，可检索"),
                    "400": _error("文档有误（details 含行号、字段）"), "401": _error("令牌缺失或错误"),
                    "403": _error("编辑功能未开启"), "409": _error("id 已存在"), "413": _error("超过 1 MiB"),
                    "429": _error("登录尝试过多"),
                },
            }},
        },
        "components": {"schemas": {"Error": ERROR},
                       "securitySchemes": {"editorToken": {"type": "http", "scheme": "bearer"}}},
    }
