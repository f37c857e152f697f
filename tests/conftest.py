"""Fixtures: a small knowledge base written by the tests, an instance folder per test, a CLI runner."""
from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.config import load_settings
from kb.knowledge import KnowledgeBase

SOURCE = """source:
  kind: 标准
  title: 吸附法工业有机废气治理工程技术规范
  issuer: 环境保护部
  year: 2013
  number: HJ 2026-2013
  origin: 标准
  confidence: 高"""


def technology(id: str, title: str, sectors: str = "[通用]", tags: str = "[能耗]", process: str = "废气治理",
               summary: str = "这是用于测试的技术条目摘要，描述技术要点。", body: str = "技术原理说明。",
               category: str = "末端治理", extra: str = "") -> str:
    return f"""---
id: {id}
type: technology
title: {title}
sectors: {sectors}
category: {category}
tags: {tags}
process: {process}
summary: {summary}
applicability: 适用于相关行业企业
{extra}{SOURCE}
---

## 技术原理

{body}

## 适用范围

按来源所述。

## 参考

- HJ 2026-2013
"""


def case(id: str, technologies: str = "[general-activated-carbon]", sectors: str = "[工业涂装]") -> str:
    return f"""---
id: {id}
type: case
title: 测试用涂装企业VOCs治理案例
sectors: {sectors}
region: 江苏省常州市
year: 2022
audit: 强制性
enterprise: 常州某涂装企业
problems: [喷涂废气收集效率低]
options:
  - name: 无/低费方案（来源未列名称）
    cost_class: 无/低费
    count: 3
technologies: {technologies}
results: [VOCs 排放量下降]
kind: 清洁生产审核
source:
  kind: 案例报道
  title: 测试来源
  issuer: 常州市生态环境局
  year: 2022
  origin: 企业/政府公开
  confidence: 高
---

## 企业概况

企业概况。

## 审核发现

发现。

## 方案实施

实施。

## 成效

成效。
"""


def eventually(check, seconds: float = 2.0, step: float = 0.05):
    """Poll `check` until it gives something true or `seconds` pass; returns its last value (for the
    things a test waits for: a background build, a node catching up, a worker starting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return check()


def write(root: Path, folder: str, name: str, text: str) -> Path:
    path = root / folder / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def content(tmp_path: Path) -> Path:
    """A small real-looking knowledge base: each entry describes an actual, widely documented technology."""
    root = tmp_path / "content"
    write(root, "technologies", "general-activated-carbon", technology(
        "general-activated-carbon", "活性炭吸附法有机废气治理", tags="[溶剂, 危险废物]",
        summary="用活性炭吸附有机废气中的污染物，饱和后脱附再生或更换。",
        body="废气中的挥发性有机物被活性炭孔隙吸附，净化后达标排放；饱和活性炭属于危险废物，须再生或委托处置。"))
    write(root, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        summary="用循环惰性气体冷却红焦，回收显热产生蒸汽发电，并省去湿法熄焦用水。",
        body="红焦在干熄炉内与循环气体换热，高温气体进入余热锅炉产生蒸汽，用于发电或供热。"))
    write(root, "technologies", "plating-countercurrent-rinse", technology(
        "plating-countercurrent-rinse", "多级逆流漂洗", sectors="[电镀]", tags="[水耗, 重金属]", process="漂洗",
        category="节水", summary="清水从末级槽进入、逐级逆向流向首级槽，用少量水达到同样的清洗效果。",
        body="工件依次通过多个漂洗槽，补充水从最后一级加入，逆向溢流，末级出水可回用于镀槽补水。"))
    write(root, "technologies", "building-cement-whr", technology(
        "building-cement-whr", "水泥窑纯低温余热发电", sectors="[水泥]", tags="[余热, 电耗]", process="熟料烧成",
        category="节能", summary="在窑头篦冷机和窑尾预热器出口设余热锅炉，把低温废气热量转成电力自用。",
        body="窑头窑尾废气温度低于400℃，经余热锅炉产生低压蒸汽推动汽轮发电机组。"))
    write(root, "cases", "case-coating-vocs", case("case-coating-vocs"))
    return root


@pytest.fixture
def settings(tmp_path: Path, content: Path):
    return load_settings(tmp_path / "instance", bundled_content=content, editable_content=tmp_path / "editable",
                         database_url=f"sqlite:///{tmp_path / 'instance' / 'kb.sqlite3'}")


@pytest.fixture(scope="module")
def bundled_kb(tmp_path_factory):
    """The bundled content built once per test file (the search tests that measure on real entries)."""
    from kb.config import BUNDLED_CONTENT

    root = tmp_path_factory.mktemp("bundled")
    settings = load_settings(root / "instance", bundled_content=BUNDLED_CONTENT, editable_content=root / "editable",
                             database_url=f"sqlite:///{root / 'kb.sqlite3'}")
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    knowledge.refresh()
    yield knowledge
    knowledge.close()


@pytest.fixture
def kb(settings):
    knowledge = KnowledgeBase(settings)
    knowledge.build()
    yield knowledge
    knowledge.close()


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.setenv("KB_HOME", str(tmp_path / "cli-instance"))
    monkeypatch.delenv("KB_DATABASE_URL", raising=False)
    monkeypatch.delenv("KB_CONTENT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def app(kb, settings):
    from web import create_app

    kb.close()
    return create_app({"KB_SETTINGS": settings, "TESTING": False})


@pytest.fixture
def client(app):
    return app.test_client()


def postgres_url() -> str:
    """The real PostgreSQL server the store tests use: skipped without one, failed when CI requires it."""
    import os

    url = os.environ.get("KB_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("KB_REQUIRE_POSTGRES"):
            pytest.fail("KB_REQUIRE_POSTGRES is set but KB_TEST_POSTGRES_URL is not")
        pytest.skip("no PostgreSQL server: set KB_TEST_POSTGRES_URL (.ci/run starts one)")
    return url
