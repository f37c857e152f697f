"""清洁生产水平对标 (kb.assess, POST /api/assess, /assess, `kb assess`): worked examples computed by hand.

Fixture specs: a verbatim copy of the real spec-plating-2015.md and spec-coking-hjt126-2003.md (read from
kb/content/specs/), plus a small TEST-ONLY spec for 焦化 (year 2020, so it is the sector's default) whose
`levels` thresholds and weights are chosen by the test to exercise the limiting-indicator cap.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import write
from kb.assess import AssessError, assess, check_values, level_reached
from kb.cli import main

SPECS = Path(__file__).resolve().parent.parent / "kb" / "content" / "specs"

TEST_SPEC = """---
id: spec-coking-assess-test
type: spec
title: 测试用焦化指标体系（仅供单元测试）
sectors: [焦化]
standard: 测试用焦化清洁生产评价指标体系 (2020)
levels: {1: 80, 2: 70, 3: 60}
indicators:
  - id: fresh-water
    name: 吨焦耗新水
    unit: t/t焦
    direction: ≤
    level_1: 2.5
    level_2: 3.0
    level_3: 3.5
    weight: 0.2
    group: 资源能源利用指标
    group_weight: 0.7
    limiting: true
  - id: gas-utilization
    name: 焦炉煤气利用率
    unit: "%"
    direction: ≥
    level_1: 98
    level_2: 96
    level_3: 95
    weight: 0.8
    group: 资源能源利用指标
    group_weight: 0.7
  - id: management
    name: 清洁生产管理
    direction: 定性
    level_1: 建立清洁生产管理体系并通过审核
    level_2: 建立清洁生产管理制度
    level_3: 有清洁生产管理人员
    weight: 1
    group: 清洁生产管理指标
    group_weight: 0.3
source:
  kind: 标准
  title: 测试来源
  issuer: 测试发布单位
  year: 2020
---

## 适用范围

仅供单元测试。
"""


@pytest.fixture
def content(content):
    # two real entries without Level I/II/III values: a citation only (题录) and one with indicator names only
    for name in ("spec-plating-2015", "spec-coking-hjt126-2003", "spec-coating-2016", "spec-nonferrous-zinc-smelting-2019"):
        (content / "specs").mkdir(exist_ok=True)
        (content / "specs" / f"{name}.md").write_text((SPECS / f"{name}.md").read_text(encoding="utf-8"), encoding="utf-8")
    write(content, "specs", "spec-coking-assess-test", TEST_SPEC)
    return content


@pytest.fixture
def plating(kb):
    return kb.document("spec-plating-2015")


@pytest.fixture
def test_spec(kb):
    return kb.document("spec-coking-assess-test")


# -- 电镀 2015 (real table, default rule) ---------------------------------------------------------
#
# Weights from spec-plating-2015: 生产工艺及装备指标 (group weight 0.33): clean-process 0.15, process-control 0.15,
# line-requirements 0.4, water-saving-facilities 0.3 (sum 1); 资源消耗指标 (0.1): rinse-water-per-area 1 (limiting);
# 资源综合利用指标 (0.18): metal utilisation rates "0.8/n". Groups recorded: 0.33 + 0.1 + 0.18 = 0.61.

P1 = {"clean-process": 1, "process-control": 2, "line-requirements": 3, "water-saving-facilities": 2,
      "rinse-water-per-area": 20, "zinc-utilization": 85, "nickel-utilization": 90}


def test_plating_worked_example_level_3(plating):
    # Levels: clean I, control II, line III, water-saving II; rinse 20 ≤ 24 but > 8 → II;
    # zinc 85 ≥ 82 → I; nickel 90 ≥ 85, < 95 → II.
    # Group 生产工艺 (0.33): reaching I: 0.15; reaching II: 0.15+0.15+0.3 = 0.6; reaching III: 1.
    # Group 资源消耗 (0.1): I 0, II 1, III 1.
    # Group 资源综合利用 (0.18): n = 2 metals → 0.8/2 = 0.4 each, sum 0.8 → I 0.4/0.8 = 0.5, II 1, III 1.
    # Y_I   = 100 × (0.33×0.15 + 0.1×0 + 0.18×0.5) / 0.61 = 100 × 0.1395 / 0.61 = 22.87
    # Y_II  = 100 × (0.33×0.6 + 0.1×1 + 0.18×1) / 0.61 = 100 × 0.478 / 0.61 = 78.36
    # Y_III = 100 × 0.61 / 0.61 = 100
    # Rule: Y_I < 85, Y_II < 85, Y_III = 100 → Ⅲ级; score = Y_III = 100.
    result = assess(plating, P1)
    levels = {r["id"]: r["level"] for r in result["indicators"]}
    assert levels == {"clean-process": 1, "process-control": 2, "line-requirements": 3, "water-saving-facilities": 2,
                      "rinse-water-per-area": 2, "zinc-utilization": 1, "copper-utilization": None,
                      "nickel-utilization": 2, "decorative-chromium-utilization": None,
                      "hard-chromium-utilization": None, "gold-utilization": None, "silver-utilization-cyanide": None}
    assert result["overall"]["scores"] == {"1": 22.87, "2": 78.36, "3": 100.0}
    assert result["overall"]["level"] == 3 and result["overall"]["score"] == 100.0
    assert result["overall"]["missing"] == ["copper-utilization", "decorative-chromium-utilization",
                                            "hard-chromium-utilization", "gold-utilization", "silver-utilization-cyanide"]
    # default target = the next level up (Ⅱ): only line-requirements is below Ⅱ
    assert [(g["indicator"], g["target_level"]) for g in result["gaps"]] == [("line-requirements", 2)]
    assert "50%生产线实现自动化" in result["gaps"][0]["needed"]
    assert result["rule"]["source"] == "default" and "原文" in result["rule"]["verify"]
    assert result["spec"] == {"id": "spec-plating-2015", "title": plating["title"], "standard": plating["standard"]}
    row = next(r for r in result["indicators"] if r["id"] == "rinse-water-per-area")
    assert row == {"id": "rinse-water-per-area", "name": "单位产品每次清洗取水量", "unit": "L/m2", "value": 20,
                   "level": 2, "targets": {"1": 8, "2": 24, "3": 40}}


def test_plating_worked_example_level_2(plating):
    # P1 with process-control I and line-requirements II:
    # Group 生产工艺: I 0.15+0.15 = 0.3; II 1; III 1.
    # Y_I  = 100 × (0.33×0.3 + 0 + 0.18×0.5) / 0.61 = 100 × 0.189 / 0.61 = 30.98
    # Y_II = 100 × (0.33 + 0.1 + 0.18) / 0.61 = 100 → Y_II ≥ 85 and the limiting rinse water is at Ⅱ → Ⅱ级, score 100.
    values = dict(P1, **{"process-control": 1, "line-requirements": 2})
    result = assess(plating, values)
    assert result["overall"]["scores"] == {"1": 30.98, "2": 100.0, "3": 100.0}
    assert result["overall"]["level"] == 2 and result["overall"]["score"] == 100.0
    # target Ⅰ: every indicator below Ⅰ is a gap, with what it needs
    gaps = {g["indicator"]: g["needed"] for g in result["gaps"]}
    assert set(gaps) == {"line-requirements", "water-saving-facilities", "rinse-water-per-area", "nickel-utilization"}
    assert gaps["rinse-water-per-area"] == "≤ 8 L/m²" and gaps["nickel-utilization"] == "≥ 95%"


def test_plating_limiting_indicator_keeps_level_3(plating):
    # P1 with control I, line II but rinse water 30 L/m² (≤ 40, > 24 → Ⅲ):
    # Y_I  = 100 × (0.33×0.3 + 0.1×0 + 0.18×0.5) / 0.61 = 30.98
    # Y_II = 100 × (0.33×1 + 0.1×0 + 0.18×1) / 0.61 = 100 × 0.51 / 0.61 = 83.61 < 85
    # Y_III = 100 → Ⅲ级. (With the recorded 0.61 of the table the limiting rinse water weighs 0.1/0.61 = 16.4 %,
    # so on this table the score alone already stops Ⅱ; the cap itself is shown with the test spec below.)
    values = dict(P1, **{"process-control": 1, "line-requirements": 2, "rinse-water-per-area": 30})
    result = assess(plating, values)
    assert result["overall"]["scores"] == {"1": 30.98, "2": 83.61, "3": 100.0}
    assert result["overall"]["level"] == 3
    assert [(g["indicator"], g["target_level"], g["needed"]) for g in result["gaps"]] == [
        ("rinse-water-per-area", 2, "≤ 24 L/m²")]


def test_plating_below_level_3(plating):
    # One qualitative indicator below Ⅲ → Y_III < 100 → "below".
    # Group 生产工艺 reaching III: 1 − 0.4 (line-requirements) = 0.6; others reach III.
    # Y_III = 100 × (0.33×0.6 + 0.1 + 0.18) / 0.61 = 100 × 0.478 / 0.61 = 78.36; score reported = Y_III.
    result = assess(plating, dict(P1, **{"line-requirements": "below"}))
    assert result["overall"]["level"] == "below"
    assert result["overall"]["scores"]["3"] == 78.36 and result["overall"]["score"] == 78.36
    assert ("line-requirements", 3) in [(g["indicator"], g["target_level"]) for g in result["gaps"]]


def test_per_n_weights_count_only_given_metals(plating):
    # Only the metals group: n = 1 (zinc) → weight 0.8/1; zinc 81 → Ⅱ. Y_I = 0, Y_II = Y_III = 100.
    # With copper too (n = 2, 0.4 each): zinc Ⅱ, copper 95 → Ⅰ: Y_I = 100 × 0.18 × (0.4/0.8) / 0.18 = 50.
    one = assess(plating, {"zinc-utilization": 81})
    assert one["overall"]["scores"] == {"1": 0.0, "2": 100.0, "3": 100.0}
    two = assess(plating, {"zinc-utilization": 81, "copper-utilization": 95})
    assert two["overall"]["scores"] == {"1": 50.0, "2": 100.0, "3": 100.0}
    assert any("n = 2" in note for note in two["notes"])


def test_qualitative_accepts_level_text_and_roman(plating):
    text = plating["indicators"][0]["level_2"]
    assert level_reached(plating["indicators"][0], check_values(plating, {"clean-process": text})["clean-process"]) == 2
    assert check_values(plating, {"clean-process": "Ⅰ"}) == {"clean-process": 1}
    assert check_values(plating, {"clean-process": "below"}) == {"clean-process": "below"}
    with pytest.raises(AssessError):
        check_values(plating, {"clean-process": 4})


# -- test spec with its own `levels`: the limiting cap and both directions ------------------------
#
# fresh-water (≤ 2.5 / 3.0 / 3.5, weight 0.2, limiting) and gas-utilization (≥ 98 / 96 / 95, weight 0.8) in a group
# weighing 0.7; management (定性, weight 1) in a group weighing 0.3. Thresholds: Y_I ≥ 80, Y_II ≥ 70, Y_III ≥ 60.

def test_limiting_indicator_caps_the_level(test_spec):
    # water 3.2 → Ⅲ (≤ 3.5, > 3.0); gas 99 → Ⅰ; management Ⅰ.
    # Y_I = Y_II = 100 × (0.7 × 0.8/1 + 0.3 × 1) = 86; Y_III = 100.
    # Ⅰ: 86 ≥ 80 but the limiting water is only Ⅲ → no; Ⅱ: 86 ≥ 70, limiting Ⅲ → no; Ⅲ: 100 ≥ 60, limiting Ⅲ → Ⅲ级.
    result = assess(test_spec, {"fresh-water": 3.2, "gas-utilization": 99, "management": 1})
    assert result["overall"]["scores"] == {"1": 86.0, "2": 86.0, "3": 100.0}
    assert result["overall"]["level"] == 3 and result["overall"]["score"] == 100.0
    assert result["rule"]["source"] == "spec" and result["rule"]["thresholds"] == {"1": 80.0, "2": 70.0, "3": 60.0}
    # water 2.8 → Ⅱ: Y_II = 100 ≥ 70 and limiting at Ⅱ → Ⅱ级 (Ⅰ still blocked by the limiting indicator)
    result = assess(test_spec, {"fresh-water": 2.8, "gas-utilization": 99, "management": 1})
    assert result["overall"]["scores"] == {"1": 86.0, "2": 100.0, "3": 100.0}
    assert result["overall"]["level"] == 2
    assert [(g["indicator"], g["needed"]) for g in result["gaps"]] == [("fresh-water", "≤ 2.5 t/t焦")]


def test_directions_and_boundaries(test_spec):
    water, gas = test_spec["indicators"][0], test_spec["indicators"][1]
    assert [level_reached(water, v) for v in (2.5, 2.51, 3.0, 3.5, 3.51)] == [1, 2, 2, 3, "below"]   # ≤
    assert [level_reached(gas, v) for v in (98, 97.9, 96, 95, 94.9)] == [1, 2, 2, 3, "below"]        # ≥
    # water 2.5 → Ⅰ, gas 96 → Ⅱ, management below:
    # Y_I = 100 × 0.7 × 0.2 = 14; Y_II = Y_III = 100 × 0.7 × 1 = 70. Ⅰ: 14 < 80; Ⅱ: 70 ≥ 70, limiting Ⅰ → Ⅱ级, score 70.
    result = assess(test_spec, {"fresh-water": 2.5, "gas-utilization": 96, "management": "below"})
    assert result["overall"]["scores"] == {"1": 14.0, "2": 70.0, "3": 70.0}
    assert result["overall"]["level"] == 2 and result["overall"]["score"] == 70.0


def test_partial_input_reports_missing(test_spec):
    # Only gas 99 → Ⅰ. Assessed group 资源能源利用 alone: Y = 100 × 0.7 × (0.8/0.8) / 0.7 = 100 for every level.
    # The limiting water value is missing: the level is computed (Ⅰ) but flagged as provisional.
    result = assess(test_spec, {"gas-utilization": 99})
    assert result["overall"]["missing"] == ["fresh-water", "management"]
    assert result["overall"]["scores"] == {"1": 100.0, "2": 100.0, "3": 100.0} and result["overall"]["level"] == 1
    assert any("限定性" in n and "暂定" in n for n in result["notes"])
    assert [r["level"] for r in result["indicators"]] == [None, 1, None]


# -- API -------------------------------------------------------------------------------------------

def test_api_assess_with_gap_technologies(client):
    values = dict(P1, **{"process-control": 1, "line-requirements": 2, "rinse-water-per-area": 30})
    response = client.post("/api/assess", json={"sector": "电镀", "values": values})
    assert response.status_code == 200, response.get_json()
    data = response.get_json()
    assert set(data) == {"spec", "indicators", "overall", "gaps", "rule", "notes"}
    assert data["spec"]["id"] == "spec-plating-2015"
    assert data["overall"]["level"] == 3 and data["overall"]["scores"]["2"] == 83.61
    gap = data["gaps"][0]
    assert gap["indicator"] == "rinse-water-per-area" and gap["target_level"] == 2 and gap["needed"] == "≤ 24 L/m²"
    assert gap["technologies"] and gap["technologies"][0]["id"] == "plating-countercurrent-rinse"
    assert set(gap["technologies"][0]) == {"id", "title", "reasons"} and gap["technologies"][0]["reasons"]
    assert set(data["indicators"][0]) == {"id", "name", "unit", "value", "level", "targets"}


def test_api_default_spec_is_newest_and_explicit_spec(client):
    data = client.post("/api/assess", json={"sector": "焦化", "values": {"gas-utilization": 99}}).get_json()
    assert data["spec"]["id"] == "spec-coking-assess-test"          # 2020 beats HJ/T 126-2003
    # explicit spec: the HJ/T standard has no weights → per indicator, lowest level, no score
    data = client.post("/api/assess", json={"sector": "焦化", "spec": "spec-coking-hjt126-2003",
                                            "values": {"washed-coal-per-coke": 1.3, "fresh-water-per-coke": 3.5}}).get_json()
    assert data["overall"]["level"] == 2 and data["overall"]["score"] is None
    assert data["rule"]["method"] == "per-indicator"
    # target Ⅰ has no recorded value in that entry: no gap, a note says why
    data = client.post("/api/assess", json={"sector": "焦化", "spec": "spec-coking-hjt126-2003", "target_level": 1,
                                            "values": {"washed-coal-per-coke": 1.3}}).get_json()
    assert data["gaps"] == [] and any("Ⅰ级基准值未收录" in n for n in data["notes"])


@pytest.mark.parametrize("body, field", [
    ({"sector": "火星", "values": {"x": 1}}, "sector"),
    ({"values": {"x": 1}}, "sector"),
    ({"sector": "建材", "values": {"x": 1}}, "sector"),                           # no spec for the sector
    ({"sector": "电镀", "spec": "spec-nope", "values": {"x": 1}}, "spec"),
    ({"sector": "焦化", "spec": "spec-plating-2015", "values": {"x": 1}}, "spec"),  # another sector's spec
    ({"sector": "电镀", "values": {"no-such-indicator": 1}}, "values.no-such-indicator"),
    ({"sector": "电镀", "values": {"rinse-water-per-area": "20"}}, "values.rinse-water-per-area"),
    ({"sector": "电镀", "values": {"rinse-water-per-area": True}}, "values.rinse-water-per-area"),
    ({"sector": "电镀", "values": {"clean-process": 7}}, "values.clean-process"),
    ({"sector": "电镀", "values": [1, 2]}, "values"),
    ({"sector": "电镀"}, "values"),
    ({"sector": "电镀", "values": {}}, "values"),
    ({"sector": "电镀", "values": {"zinc-utilization": 80}, "target_level": 4}, "target_level"),
    ({"sector": "电镀", "values": {"zinc-utilization": 80}, "extra": 1}, "extra"),
])
def test_api_400_paths(client, body, field):
    response = client.post("/api/assess", json=body)
    assert response.status_code == 400
    data = response.get_json()
    assert data["error"] and any(d["field"] == field for d in data["details"]), data


def test_api_400_lists_valid_choices(client):
    details = client.post("/api/assess", json={"sector": "电镀", "values": {"nope": 1}}).get_json()["details"]
    assert "rinse-water-per-area" in details[0]["valid"] and "rinse-water-per-area" in details[0]["message"]
    details = client.post("/api/assess", json={"sector": "火星", "values": {}}).get_json()["details"]
    assert "电镀" in details[0]["valid"]
    details = client.post("/api/assess", json={"sector": "建材", "values": {}}).get_json()["details"]
    assert set(details[0]["valid"]) == {"电镀", "焦化"}
    response = client.post("/api/assess", data="not json", content_type="application/json")
    assert response.status_code == 400 and response.get_json()["details"][0]["field"] == "body"


def test_spec_without_values_is_named_but_never_assesses(client):
    # the sector's only spec is a citation: 400 on `sector`, naming the standard that applies
    response = client.post("/api/assess", json={"sector": "涂装", "values": {"x": 1}})
    assert response.status_code == 400
    detail = response.get_json()["details"][0]
    assert detail["field"] == "sector" and "spec-coating-2016" in detail["message"]
    assert "涂装行业清洁生产评价指标体系" in detail["message"] and set(detail["valid"]) == {"电镀", "焦化"}
    # asked for by id, an entry with indicator names but no values: 400 on `spec`
    response = client.post("/api/assess", json={"sector": "有色金属", "spec": "spec-nonferrous-zinc-smelting-2019",
                                                "values": {"zinc-total-recovery": 95}})
    assert response.status_code == 400
    detail = response.get_json()["details"][0]
    assert detail["field"] == "spec" and "不能用于自评" in detail["message"]
    # neither is offered in the OpenAPI request schema
    schema = client.get("/api/openapi.json").get_json()["paths"]["/api/assess"]["post"]["requestBody"]
    assert "spec-coating-2016" not in json.dumps(schema) and "spec-plating-2015" in json.dumps(schema)


def test_assess_page_lists_specs_without_values_apart(client):
    html = client.get("/assess").get_data(as_text=True)
    choices = html.split('<select name="sector"')[1].split("</select>")[0]
    assert "电镀" in choices and "工业涂装" not in choices and "有色金属" not in choices
    listed = html.split("尚无分级基准值的标准")[1].split("</section>")[0]
    assert "/documents/spec-coating-2016" in listed and "/documents/spec-nonferrous-zinc-smelting-2019" in listed
    page = client.get("/documents/spec-coating-2016").get_data(as_text=True)
    assert "本条目只收录题录" in page and '<table class="indicators">' not in page
    page = client.get("/documents/spec-plating-2015").get_data(as_text=True)
    assert "本条目只收录题录" not in page and '<table class="indicators">' in page


def test_openapi_documents_assess(client):
    doc = client.get("/api/openapi.json").get_json()
    operation = doc["paths"]["/api/assess"]["post"]
    assert set(operation["responses"]) == {"200", "400"}


# -- CLI -------------------------------------------------------------------------------------------

@pytest.fixture
def cli(runner, kb, settings, monkeypatch):
    monkeypatch.setenv("KB_HOME", str(settings.home))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", settings.content_dirs[0])
    return runner


def test_cli_json(cli, tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(P1, allow_unicode=True), encoding="utf-8")
    result = cli.invoke(main, ["assess", "--sector", "电镀", "--values", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["overall"]["level"] == 3 and data["overall"]["scores"] == {"1": 22.87, "2": 78.36, "3": 100.0}
    readable = cli.invoke(main, ["assess", "--sector", "电镀", "--values", str(path)])
    assert readable.exit_code == 0 and "总体级别：Ⅲ级" in readable.stdout and "YⅡ=78.36" in readable.stdout


def test_cli_bad_values(cli, tmp_path):
    path = tmp_path / "values.yaml"
    path.write_text("nope: 1\n", encoding="utf-8")
    result = cli.invoke(main, ["assess", "--sector", "电镀", "--values", str(path), "--json"])
    assert result.exit_code == 2 and "values.nope" in result.stderr


# -- page ------------------------------------------------------------------------------------------

def test_page_choose_sector_then_fill(client):
    html = client.get("/assess").get_data(as_text=True)
    assert "清洁生产水平自评" in html and '<option value="电镀"' in html and '<option value="焦化"' in html
    html = client.get("/assess?sector=电镀").get_data(as_text=True)
    assert 'name="v.rinse-water-per-area"' in html and "（L/m2）" in html and "限定性" in html
    assert 'name="v.clean-process"' in html and "<select" in html


def test_page_renders_chart_level_and_technologies(client):
    query = ("/assess?sector=电镀&run=1&v.clean-process=1&v.process-control=1&v.line-requirements=2"
             "&v.water-saving-facilities=2&v.rinse-water-per-area=30&v.zinc-utilization=85&v.nickel-utilization=90")
    response = client.get(query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="chart"' in html and 'class="bar l3 ' in html and 'class="mark m1 ' in html
    # rinse 30 on a scale to 1.25 × 40 = 50: bar at 60 %, Ⅰ mark (8) at 16 %, Ⅱ (24) at 48 %, Ⅲ (40) at 80 %
    # (positions are half-percent classes of static/assess.css: the CSP allows no inline style)
    assert 'class="bar l3 w-120"' in html and 'class="mark m1 at-32"' in html and 'class="mark m3 at-160"' in html
    assert "总体级别" in html and "Ⅲ级" in html and "YⅡ = 83.61" in html
    assert "/documents/plating-countercurrent-rinse" in html and "≤ 24 L/m²" in html
    assert "未填写（未参与评价）" in html and "铜利用率" in html
    assert "须与所用指标体系原文核对" in html and "/static/assess.css" in html
    css = client.get("/static/assess.css").get_data(as_text=True)
    assert "@media print" in css and ".w-120 { width: 60%; }" in css and ".at-32 { left: 16%; }" in css


def test_page_bad_value_is_explained(client):
    html = client.get("/assess?sector=电镀&run=1&v.rinse-water-per-area=很多").get_data(as_text=True)
    assert "values.rinse-water-per-area" in html and "应为有限数字" in html
    response = client.get("/assess?sector=火星")
    assert response.status_code == 200 and "未知行业" in response.get_data(as_text=True)


def test_api_assess_conforms_to_its_openapi_document(app):
    # The published request schema is narrowed to this knowledge base's specs (sector names, spec ids,
    # indicator ids and value types): every request it allows must get a 200 matching the response schema.
    import schemathesis
    from hypothesis import HealthCheck, given, settings as hyp_settings

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operation = schema["/api/assess"]["POST"]
    sent = []

    @given(case=operation.as_strategy())
    @hyp_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    def run(case):
        sent.append(1)
        case.call_and_validate()

    run()
    assert len(sent) >= 30


def test_openapi_leaves_out_assess_without_specs(tmp_path):
    from kb.config import load_settings
    from web import create_app

    root = tmp_path / "nospec"
    write(root / "content", "technologies", "coking-cdq", __import__("conftest").technology("coking-cdq", "干熄焦"))
    settings = load_settings(root / "instance", bundled_content=root / "content", editable_content=root / "editable")
    client = create_app({"KB_SETTINGS": settings}).test_client()
    assert "/api/assess" not in client.get("/api/openapi.json").get_json()["paths"]
    response = client.post("/api/assess", json={"sector": "焦化", "values": {"x": 1}})
    assert response.status_code == 400 and response.get_json()["details"][0]["field"] == "sector"
