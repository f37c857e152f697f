"""The OpenAPI 3 document of the JSON API: the published contract, also what schemathesis fuzzes."""
from __future__ import annotations

from kb import __version__
from kb.search.engine import MAX_QUERY_CHARS
from kb.regions import PROVINCES
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
    },
}

SEARCH_RESPONSE = {
    "type": "object",
    "required": ["query", "total", "page", "per_page", "results", "facets"],
    "properties": {
        "query": {"type": "string"}, "total": {"type": "integer", "minimum": 0},
        "page": {"type": "integer", "minimum": 1}, "per_page": {"type": "integer", "minimum": 1},
        "results": {"type": "array", "items": SEARCH_RESULT},
        "facets": {"type": "object", "required": ["type", "sector", "category", "tag", "province"],
                   "properties": {k: _COUNTS for k in ("type", "sector", "category", "tag", "province")}},
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
                                                                     "title": {"type": "string"}}}},
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
        "values": {"type": "object", "description": "{指标 id: 数值（定量指标）或 1/2/3/\"below\"/级别原文（定性指标）}",
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
                 "properties": {"id": {"type": "string"}, "title": {"type": "string"}, "standard": {"type": "string"}}},
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


PUBLISHED = {
    "type": "object", "required": ["id", "url", "version"],
    "properties": {"id": {"type": "string"}, "url": {"type": "string"}, "version": {"type": "string"}},
}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict:
    return _json({"$ref": "#/components/schemas/Error"}, description)


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
                    {"name": "q", "in": "query", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY_CHARS, "pattern": r"\S"}},
                    {"name": "sector", "in": "query", "schema": {"type": "string", "enum": sector_names},
                     "description": "行业名、子行业名或别名（如 水泥 → 建材）"},
                    {"name": "type", "in": "query", "schema": {"type": "string", "enum": list(TYPES)}},
                    {"name": "category", "in": "query", "schema": {"type": "string"}},
                    {"name": "province", "in": "query", "schema": {"type": "string", "enum": list(PROVINCES)},
                     "description": "案例所在省份（简称，如 江苏），可重复"},
                    {"name": "tag", "in": "query", "schema": {"type": "string"}},
                    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_RESULT_WINDOW, "default": 1}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE, "default": 10}},
                    {"name": "exact", "in": "query", "schema": {"type": "string", "enum": ["0", "1"], "default": "0"},
                     "description": "1 = 按原词检索，不纠正错别字/同音字"},
                ],
                "responses": {"200": _json(SEARCH_RESPONSE, "检索结果"), "400": _error("参数有误")},
            }},
            "/api/documents/{doc_id}": {"get": {
                "summary": "单篇文档：front matter 字段、Markdown 正文与净化后的 HTML",
                "operationId": "getDocument",
                "parameters": [{"name": "doc_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": _json(DOCUMENT, "文档"), "404": _error("不存在")},
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
