"""`kb new`: start an entry from a template that has every field the schema asks for.

Lists that only the editor can fill (problems, options, technologies, tags) are left empty on
purpose, so an unfinished template fails `kb check` and is never indexed by a lenient build.
"""
from __future__ import annotations

import secrets
import time
from pathlib import Path

from .config import Settings
from .documents import TYPE_FOLDERS
from .taxonomy import Taxonomy

_BODIES = {
    "technology": ["技术原理", "主要技术指标", "适用范围", "典型案例", "参考"],
    "case": ["企业概况", "审核发现", "方案实施", "成效"],
    "spec": ["适用范围", "评价方法", "参考"],
}


def new_id(doc_type: str, prefix: str) -> str:
    stamp = time.strftime("%Y%m%d")
    token = secrets.token_hex(2)
    return {"technology": f"{prefix}-new-{stamp}-{token}", "case": f"case-{prefix}-{stamp}-{token}",
            "spec": f"spec-{prefix}-{stamp}-{token}"}[doc_type]


def render(doc_type: str, doc_id: str, title: str, sector: str) -> str:
    year = time.localtime().tm_year
    head = [f"id: {doc_id}", f"type: {doc_type}", f"title: {title}", f"sectors: [{sector}]"]
    if doc_type == "technology":
        head += ["category: 节能            # 节能 节水 减污 降碳 资源综合利用 源头替代 过程控制 末端治理",
                 "tags: []                  # 如 [VOCs, 水耗]", "process: 待填写（工序或环节）",
                 "summary: 待填写：一两句话，用自己的话说明技术做什么、省什么。", "applicability: 待填写",
                 "# benefits:\n#   - {indicator: 节电率, value: 20, unit: \"%\", basis: 来源所述条件}"]
    elif doc_type == "case":
        head += ["region: 江苏省", f"year: {year}", "audit: 强制性            # 强制性 | 自愿性 | 未说明",
                 "kind:                     # 清洁生产审核 | 技改项目 | 园区/集群 | 政策示范（按来源所述填写）",
                 "enterprise: 待填写（可匿名，如 常州某印染企业）", "problems: []",
                 "options: []               # - {name: 方案名称, cost_class: 无/低费, investment_wan: 0}",
                 "technologies: []          # 来源点名采用的技术条目 id", "related_technologies: []  # 来源未点名时，编辑关联的技术条目 id", "results: []"]
    else:
        head += ["standard: 待填写（标准名与年份）",
                 "indicators: []            # - {id: water-use, name: 单位产品取水量, unit: t/t, direction: ≤, level_1: , level_2: , level_3: }"]
    head += ["source:", "  kind: 案例报道              # 目录 | 标准 | 案例报道 | 文献 | 工程实践" if doc_type == "case"
             else "  kind: 目录                  # 目录 | 标准 | 案例报道 | 文献 | 工程实践",
             "  title: 待填写（来源文件名）", "  issuer: 待填写（发布机构）", f"  year: {year}", "  # url: https://…",
             "  origin:                   # 官方目录 | 标准 | 期刊论文 | 企业/政府公开 | 行业协会 | 新闻转载 | 厂商资料",
             "  confidence:               # 高（官方公告、企业自己的报告）| 中（新闻、行业协会）| 低（转载、聚合页）",
             "# editor_notes: [核实说明、数字为何留空等只给编辑看的话写在这里，不写进正文]"]
    body = "\n\n".join(f"## {h}\n\n（待填写）" for h in _BODIES[doc_type])
    return "---\n" + "\n".join(head) + "\n---\n\n" + body + "\n"


def write_template(settings: Settings, taxonomy: Taxonomy, doc_type: str, sector: str, title: str) -> Path:
    canonical = taxonomy.resolve(sector)
    doc_id = new_id(doc_type, taxonomy.get(canonical).prefix)
    path = settings.editable_content / TYPE_FOLDERS[doc_type] / f"{doc_id}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "x", encoding="utf-8") as fh:
        fh.write(render(doc_type, doc_id, title, canonical))
    return path
