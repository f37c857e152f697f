"""`kb import`: official catalogue tables (CSV, XLSX) → technology entries that `kb check` accepts."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from kb.cli import main
from kb.importer import HAND_EDITED, MANIFEST, make_source, parse_source
from kb.loader import load_content

SOURCE = "国家重点节能低碳技术推广目录 (2017)"
HEADER = ["编号", "技术名称", "所属行业", "技术类别", "主要技术内容", "适用范围", "工序", "投资（万元）", "投资回收期", "节能量（tce/a）"]
# Catalogue-style rows describing real, widely documented technologies.
ROWS = [
    ["JN-01", "高炉炉顶煤气余压透平发电技术（TRT）", "钢铁", "节能技术",
     "利用高炉炉顶煤气的压力能和热能，使煤气经透平膨胀做功，带动发电机发电，回收原本在减压阀组中损失的能量。",
     "高炉炼铁工序", "炼铁", "5000", "3年", "12000"],
    ["JN-02", "纯低温余热发电技术", "水泥", "节能",
     "在窑头篦冷机和窑尾预热器出口设置余热锅炉，利用低温废气产生蒸汽推动汽轮发电机组发电。",
     "新型干法水泥熟料生产线", "熟料烧成", "", "", ""],
    ["JS-01", "多级逆流漂洗技术", "电镀", "节水",
     "补充水从末级漂洗槽加入并逐级逆向溢流至首级，用较少的水达到同样的清洗效果，首级浓液可回用于镀槽。",
     "各类电镀生产线的镀后清洗", "漂洗", "", "", ""],
]


def write_csv(path: Path, rows, header=HEADER, encoding="utf-8") -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path: Path, rows, header=HEADER) -> Path:
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(header)
    for row in rows:
        sheet.append([int(c) if isinstance(c, str) and c.isdigit() else (c or None) for c in row])
    workbook.save(path)
    return path


def run(runner, *args):
    return runner.invoke(main, ["import", *map(str, args)])


def run_json(runner, *args):
    result = run(runner, *args, "--json")
    assert result.exit_code in (0, 1), result.output
    return result, json.loads(result.stdout)


def entries(out: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted((out / "technologies").glob("*.md"))}


def assert_check_passes(runner, out: Path) -> dict:
    content = load_content([out])
    assert content.problems == [], [str(p) for p in content.problems]
    result = runner.invoke(main, ["check", str(out)])
    assert result.exit_code == 0, result.output
    assert "检查通过" in result.output
    return content.documents


def test_parse_source_and_issuer():
    assert parse_source("国家重点节能低碳技术推广目录 (2017)") == ("国家重点节能低碳技术推广目录", 2017)
    assert parse_source("国家工业节能技术推荐目录（2022年）") == ("国家工业节能技术推荐目录", 2022)
    assert parse_source("国家重点节能低碳技术推广目录（2017年本，节能部分）") == (
        "国家重点节能低碳技术推广目录（2017年本，节能部分）", 2017)
    assert make_source(SOURCE).issuer == "国家发展和改革委员会"
    assert make_source("国家先进污染防治技术目录（VOCs防治领域）(2016)").issuer == "环境保护部"


def test_csv_import_produces_checked_entries(runner, tmp_path):
    table = write_csv(tmp_path / "目录.csv", ROWS)
    out = tmp_path / "out"
    result = run(runner, table, "--type", "technology", "--source", SOURCE, "--out", out)
    assert result.exit_code == 0, result.output
    assert "新增 3，更新 0，未变 0，跳过（手工修改）0，无法使用 0" in result.output
    docs = assert_check_passes(runner, out)
    assert len(docs) == 3
    by_title = {d.title: d for d in docs.values()}
    trt = by_title["高炉炉顶煤气余压透平发电技术（TRT）"]
    assert trt.id.startswith("steel-imp-") and trt.sectors == ["钢铁"]
    assert trt.meta["category"] == "节能"
    assert trt.meta["investment"] == "5000万元" and trt.meta["investment_wan"] == 5000
    assert trt.meta["payback"] == "3年" and trt.meta["payback_years"] == 3
    assert trt.meta["benefits"][0] == {"indicator": "节能量", "value": 12000, "unit": "tce/a",
                                       "basis": "国家重点节能低碳技术推广目录（2017）所列"}
    assert trt.meta["source"] == {"kind": "目录", "title": "国家重点节能低碳技术推广目录",
                                  "issuer": "国家发展和改革委员会", "year": 2017,
                                  "origin": "官方目录", "confidence": "高"}   # defaults for a catalogue table
    for heading in ("## 技术原理", "## 适用范围", "## 参考"):
        assert heading in trt.body
    cement = by_title["纯低温余热发电技术"]
    assert cement.id.startswith("building-imp-") and cement.sectors == ["建材"]
    assert "investment" not in cement.meta and not cement.meta.get("benefits")
    rinse = by_title["多级逆流漂洗技术"]
    assert rinse.meta["category"] == "节水" and "水耗" in rinse.meta["tags"]
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert set(manifest) == set(docs)


def test_xlsx_import_produces_checked_entries(runner, tmp_path):
    table = write_xlsx(tmp_path / "目录.xlsx", ROWS)
    out = tmp_path / "out"
    result, data = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert result.exit_code == 0
    assert len(data["created"]) == 3 and data["rejected"] == []
    docs = assert_check_passes(runner, out)
    trt = next(d for d in docs.values() if "TRT" in d.title)
    assert trt.meta["investment_wan"] == 5000 and trt.meta["benefits"][0]["value"] == 12000
    # the same rows give the same ids whichever format they come in
    csv_out = tmp_path / "csv-out"
    run(runner, write_csv(tmp_path / "t.csv", ROWS), "--source", SOURCE, "--out", csv_out)
    assert set(entries(csv_out)) == set(entries(out))


def test_bad_rows_are_reported_with_row_numbers_and_the_rest_imported(runner, tmp_path):
    rows = [
        ROWS[0],
        ["JN-09", "", "钢铁", "节能", "没有名称的一行，技术内容照录在此处。", "炼铁", "炼铁", "", "", ""],
        ["JN-10", "转炉煤气干法除尘技术", "火星采矿", "节能", "采用静电除尘器对转炉煤气进行干法净化并回收煤气。",
         "转炉炼钢", "炼钢", "", "", ""],
        ["JN-11", "烧结烟气循环技术", "钢铁", "神奇技术", "将部分烧结烟气返回烧结料面循环利用，减少外排烟气量并回收余热。",
         "烧结机", "烧结", "", "", ""],
        ROWS[2],
    ]
    table = write_csv(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    result = run(runner, table, "--source", SOURCE, "--out", out)
    assert result.exit_code == 1
    assert "第 3 行无法使用：缺少技术名称" in result.output
    assert "第 4 行无法使用：未知行业「火星采矿」；可选：能源、钢铁" in result.output
    assert "第 5 行无法使用：类别「神奇技术」无法识别；可选：节能、节水" in result.output
    assert "新增 2，更新 0，未变 0，跳过（手工修改）0，无法使用 3" in result.output
    assert len(assert_check_passes(runner, out)) == 2

    _, data = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert [r["row"] for r in data["rejected"]] == [3, 4, 5]


def test_schema_problems_are_reported(runner, tmp_path):
    rows = [["JN-20", "余热回收", "通用", "节能", "太短", "各行业", "余热", "", "", ""]]
    table = write_csv(tmp_path / "short.csv", rows)
    result, data = run_json(runner, table, "--source", SOURCE, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert data["rejected"][0]["row"] == 2 and "summary" in data["rejected"][0]["reason"]


def test_category_aliases(runner, tmp_path):
    rows = [
        ["A1", "燃煤锅炉烟气湿法脱硫技术", "能源", "污染防治", "用石灰石浆液吸收烟气中的二氧化硫，生成石膏副产品并回收利用。", "燃煤锅炉", "烟气治理", "", "", ""],
        ["A2", "二氧化碳捕集与利用技术", "石化化工", "低碳技术", "从工业尾气中分离提纯二氧化碳，用于食品级产品或化工原料。", "高浓度二氧化碳排放源", "尾气处理", "", "", ""],
        ["A3", "电镀槽边回收技术", "电镀", "清洁生产", "在镀槽边设置回收槽，截留工件带出的镀液并返回镀槽使用，减少重金属带出量。", "电镀生产线", "漂洗", "", "", ""],
    ]
    out = tmp_path / "out"
    result = run(runner, write_csv(tmp_path / "c.csv", rows), "--source", SOURCE, "--out", out)
    assert result.exit_code == 0, result.output
    categories = {d.title: d.meta["category"] for d in assert_check_passes(runner, out).values()}
    assert categories == {"燃煤锅炉烟气湿法脱硫技术": "减污", "二氧化碳捕集与利用技术": "降碳", "电镀槽边回收技术": "过程控制"}


def test_reimport_updates_instead_of_duplicating(runner, tmp_path):
    out = tmp_path / "out"
    table = write_csv(tmp_path / "t.csv", ROWS)
    _, first = run_json(runner, table, "--source", SOURCE, "--out", out)
    _, again = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert again["created"] == [] and sorted(again["unchanged"]) == sorted(first["created"])

    changed = [list(r) for r in ROWS]
    changed[0][5] = "高炉炼铁工序（高炉炉顶压力不低于0.12 MPa）"
    result, third = run_json(runner, write_csv(tmp_path / "t2.csv", changed), "--source", SOURCE, "--out", out)
    assert result.exit_code == 0
    assert third["created"] == [] and len(third["updated"]) == 1 and len(third["unchanged"]) == 2
    assert set(entries(out)) == set(first["created"])
    updated = entries(out)[third["updated"][0]].read_text(encoding="utf-8")
    assert "不低于0.12 MPa" in updated
    assert len(assert_check_passes(runner, out)) == 3


def test_ids_are_stable_and_keyed_by_number(runner, tmp_path):
    out = tmp_path / "out"
    _, first = run_json(runner, write_csv(tmp_path / "a.csv", ROWS), "--source", SOURCE, "--out", out)
    # a corrected title keeps its id because the row has a 编号
    renamed = [list(r) for r in ROWS]
    renamed[1][1] = "水泥窑纯低温余热发电技术"
    _, second = run_json(runner, write_csv(tmp_path / "b.csv", renamed), "--source", SOURCE, "--out", out)
    assert len(second["updated"]) == 1 and second["created"] == []
    # another edition of the catalogue is another source: new ids
    _, other = run_json(runner, write_csv(tmp_path / "a.csv", ROWS), "--source", "国家重点节能低碳技术推广目录 (2016)",
                        "--out", tmp_path / "other")
    assert not set(other["created"]) & set(first["created"])


def test_hand_edited_file_is_kept_unless_forced(runner, tmp_path):
    out = tmp_path / "out"
    table = write_csv(tmp_path / "t.csv", ROWS)
    _, first = run_json(runner, table, "--source", SOURCE, "--out", out)
    target = entries(out)[first["created"][0]]
    edited = target.read_text(encoding="utf-8").replace("## 适用范围", "## 典型案例\n\n编辑补充的案例说明。\n\n## 适用范围")
    target.write_text(edited, encoding="utf-8")

    result, data = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert result.exit_code == 0
    assert data["skipped"] == [{"id": target.stem, "reason": HAND_EDITED}]
    assert target.read_text(encoding="utf-8") == edited
    text_result = run(runner, table, "--source", SOURCE, "--out", out)
    assert f"跳过：{target.stem}：已手工修改，未覆盖（用 --force 覆盖）" in text_result.output
    assert "跳过（手工修改）1" in text_result.output

    _, forced = run_json(runner, table, "--source", SOURCE, "--out", out, "--force")
    assert forced["updated"] == [target.stem] and forced["skipped"] == []
    assert "编辑补充的案例说明" not in target.read_text(encoding="utf-8")
    _, after = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert after["skipped"] == [] and len(after["unchanged"]) == 3


def test_existing_file_not_written_by_importer_is_protected(runner, tmp_path):
    out = tmp_path / "out"
    table = write_csv(tmp_path / "t.csv", ROWS)
    _, first = run_json(runner, table, "--source", SOURCE, "--out", out)
    (out / MANIFEST).unlink()
    target = entries(out)[first["created"][0]]
    target.write_text(target.read_text(encoding="utf-8") + "\n补充说明。\n", encoding="utf-8")
    _, data = run_json(runner, table, "--source", SOURCE, "--out", out)
    assert [s["id"] for s in data["skipped"]] == [target.stem]
    assert len(data["unchanged"]) == 2    # identical files are adopted into the new manifest


def test_map_overrides_and_extends_the_default_mapping(runner, tmp_path):
    header = ["项目号", "名称", "应用领域", "分类", "技术说明", "适用对象", "应用工序", "关注污染物", "年减排VOCs（t）"]
    rows = [["P-7", "水性油墨替代溶剂型油墨技术", "包装印刷", "源头替代",
             "以水为主要溶剂的油墨替代苯类、酯类溶剂型油墨，从源头减少印刷过程有机废气的产生。",
             "凹版、柔版印刷", "印刷", "VOCs", "30"]]
    table = write_csv(tmp_path / "m.csv", rows, header=header)
    out = tmp_path / "out"
    result = run(runner, table, "--source", "某省清洁生产技术推广目录 (2021)", "--issuer", "某省工业和信息化厅",
                 "--out", out, "--map", "项目号=key", "--map", "应用领域=sectors", "--map", "分类=category",
                 "--map", "适用对象=applicability", "--map", "应用工序=process", "--map", "关注污染物=tags",
                 "--map", "年减排VOCs（t）=benefits", "--map", "技术说明=summary")
    assert result.exit_code == 0, result.output
    (doc,) = assert_check_passes(runner, out).values()
    assert doc.id.startswith("printing-imp-") and doc.sectors == ["包装印刷"]
    assert doc.meta["category"] == "源头替代" and doc.meta["tags"] == ["VOCs"] and doc.meta["process"] == "印刷"
    assert doc.meta["benefits"][0]["indicator"] == "年减排VOCs" and doc.meta["benefits"][0]["unit"] == "t"
    assert doc.meta["source"]["issuer"] == "某省工业和信息化厅"

    # --map can also turn a default off
    result = run(runner, write_csv(tmp_path / "t.csv", ROWS), "--source", SOURCE, "--out", tmp_path / "o2",
                 "--map", "节能量=ignore")
    assert result.exit_code == 0
    assert all(not d.meta.get("benefits") for d in assert_check_passes(runner, tmp_path / "o2").values())


def test_bad_options_are_explained(runner, tmp_path):
    table = write_csv(tmp_path / "t.csv", ROWS)
    result = run(runner, table, "--source", "某市节水技术目录 (2020)", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "--issuer" in result.output
    result = run(runner, table, "--source", "国家重点节能低碳技术推广目录", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "年份" in result.output
    result = run(runner, table, "--source", SOURCE, "--map", "不存在的列=title", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "没有列「不存在的列」" in result.output
    result = run(runner, table, "--source", SOURCE, "--map", "技术名称=标题", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "未知字段" in result.output
    (tmp_path / "t.txt").write_text("x", encoding="utf-8")
    result = run(runner, tmp_path / "t.txt", "--source", SOURCE, "--out", tmp_path / "o")
    assert result.exit_code == 2 and ".xlsx" in result.output
    assert not (tmp_path / "o").exists()


def test_gb18030_csv(runner, tmp_path):
    table = write_csv(tmp_path / "gbk.csv", ROWS, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        table.read_bytes().decode("utf-8")
    out = tmp_path / "out"
    result = run(runner, table, "--source", SOURCE, "--out", out)
    assert result.exit_code == 0, result.output
    titles = {d.title for d in assert_check_passes(runner, out).values()}
    assert "多级逆流漂洗技术" in titles


def test_utf8_bom_csv(runner, tmp_path):
    out = tmp_path / "out"
    result = run(runner, write_csv(tmp_path / "bom.csv", ROWS, encoding="utf-8-sig"), "--source", SOURCE, "--out", out)
    assert result.exit_code == 0, result.output
    assert len(entries(out)) == 3


def test_dry_run_writes_nothing(runner, tmp_path):
    out = tmp_path / "out"
    table = write_csv(tmp_path / "t.csv", ROWS)
    result, data = run_json(runner, table, "--source", SOURCE, "--out", out, "--dry-run")
    assert result.exit_code == 0 and len(data["created"]) == 3
    assert not out.exists()
    run(runner, table, "--source", SOURCE, "--out", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = [list(r) for r in ROWS]
    changed[2][5] = "电镀生产线镀后清洗"
    _, data = run_json(runner, write_csv(tmp_path / "t2.csv", changed), "--source", SOURCE, "--out", out, "--dry-run")
    assert len(data["updated"]) == 1
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_json_shape(runner, tmp_path):
    rows = [ROWS[0], ["X", "", "钢铁", "节能", "缺名称的行，用于检查报告格式。", "炼铁", "炼铁", "", "", ""]]
    result, data = run_json(runner, write_csv(tmp_path / "t.csv", rows), "--source", SOURCE, "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert set(data) == {"created", "updated", "unchanged", "skipped", "rejected"}
    assert all(isinstance(data[k], list) for k in data)
    assert isinstance(data["created"][0], str)
    assert set(data["rejected"][0]) == {"row", "reason"} and data["rejected"][0]["row"] == 3


def test_default_output_is_the_editable_content_folder(runner, tmp_path):
    result = run(runner, write_csv(tmp_path / "t.csv", ROWS), "--source", SOURCE)
    assert result.exit_code == 0, result.output
    editable = tmp_path / "cli-instance" / "content"
    assert len(entries(editable)) == 3 and (editable / MANIFEST).is_file()
    check = runner.invoke(main, ["check", str(editable)])
    assert check.exit_code == 0, check.output


def test_group_heading_and_empty_rows_are_ignored(runner, tmp_path):
    rows = [["一、钢铁行业"] + [""] * 9, ROWS[0], [""] * 10]
    result, data = run_json(runner, write_csv(tmp_path / "t.csv", rows), "--source", SOURCE, "--out", tmp_path / "o")
    assert result.exit_code == 0 and len(data["created"]) == 1 and data["rejected"] == []


def test_long_principle_is_shortened_for_the_summary_and_kept_in_the_body(runner, tmp_path):
    long_text = ("烧结机机头烟气按含氧量和污染物浓度分段引出，部分烟气经除尘后返回烧结料面参与烧结。" * 8).strip()
    rows = [["S-1", "烧结烟气内循环技术", "钢铁", "减排", long_text, "带式烧结机", "烧结", "", "", ""]]
    out = tmp_path / "out"
    result = run(runner, write_csv(tmp_path / "t.csv", rows), "--source", SOURCE, "--out", out)
    assert result.exit_code == 0, result.output
    (doc,) = assert_check_passes(runner, out).values()
    assert len(doc.meta["summary"]) <= 300 and doc.meta["summary"].endswith("。")
    assert long_text in doc.body


def test_two_rows_with_the_same_number_are_one_entry(runner, tmp_path):
    rows = [ROWS[0], ["JN-01"] + ROWS[1][1:]]
    result, data = run_json(runner, write_csv(tmp_path / "t.csv", rows), "--source", SOURCE, "--out", tmp_path / "o")
    assert result.exit_code == 1 and len(data["created"]) == 1
    assert data["rejected"][0]["row"] == 3 and "第 2 行" in data["rejected"][0]["reason"]


def test_near_duplicate_of_an_existing_entry_is_pointed_out(runner, tmp_path):
    out = tmp_path / "out"
    run(runner, write_csv(tmp_path / "a.csv", ROWS), "--source", SOURCE, "--out", out)
    again = [["Y-1"] + ROWS[2][1:]]
    result = run(runner, write_csv(tmp_path / "b.csv", again), "--source", "国家鼓励的工业节水工艺、技术和装备目录 (2019)",
                 "--issuer", "工业和信息化部、水利部", "--out", out)
    assert result.exit_code == 0, result.output
    assert "疑似重复" in result.stderr


# ---------------------------------------------------------------- --type spec: indicator tables


SPEC_SOURCE = "电镀行业清洁生产评价指标体系 (2015)"
PLATING = Path(__file__).resolve().parent.parent / "kb" / "content" / "specs" / "spec-plating-2015.md"


def _example_as_first_sheet(template: Path, path: Path) -> Path:
    """The template's filled example sheet, moved in front as a user would fill the first sheet."""
    from openpyxl import load_workbook

    workbook = load_workbook(template)
    example = workbook.worksheets[1]
    workbook.move_sheet(example, offset=-1)
    workbook.save(path)
    return path


def test_spec_template_round_trip_reproduces_the_plating_entry(runner, tmp_path):
    from kb.frontmatter import parse

    result = run(runner, "--template", "spec", "-o", tmp_path / "模板.xlsx")
    assert result.exit_code == 0, result.output
    table = _example_as_first_sheet(tmp_path / "模板.xlsx", tmp_path / "电镀.xlsx")
    out = tmp_path / "out"
    result = run(runner, table, "--type", "spec", "--source", SPEC_SOURCE, "--issuer", "国家发展和改革委员会",
                 "--set", "sectors=电镀", "--set", "id=spec-plating-imported", "--set", "system_weight=1", "--out", out)
    assert result.exit_code == 0, result.output
    # the rule's weights: first level 0.33 + 0.1 + 0.18 = 0.61; 资源综合利用 holds the 0.8/n family only (0.8)
    assert "一级权重合计 0.61，规则要求为 1" in result.output
    assert "一级指标「资源综合利用指标」的二级权重合计 0.8" in result.output
    assert "生产工艺及装备指标」的二级权重合计" not in result.output        # 0.15 + 0.15 + 0.4 + 0.3 = 1
    assert_check_passes(runner, out)
    imported = parse((out / "specs" / "spec-plating-imported.md").read_text(encoding="utf-8")).data
    original = parse(PLATING.read_text(encoding="utf-8")).data
    assert imported["system_weight"] == 1 and imported["sectors"] == ["电镀"]
    fields = ("id", "name", "direction", "level_1", "level_2", "level_3", "weight", "group", "group_weight", "limiting")
    assert [{k: i.get(k) for k in fields} for i in imported["indicators"]] == [
        {k: i.get(k) for k in fields} for i in original["indicators"]]
    # importing the same table again changes nothing
    again = run(runner, table, "--type", "spec", "--source", SPEC_SOURCE, "--issuer", "国家发展和改革委员会",
                "--set", "sectors=电镀", "--set", "id=spec-plating-imported", "--set", "system_weight=1", "--out", out)
    assert again.exit_code == 0 and "未变：spec-plating-imported" in again.output


SPEC_HEADER = ["一级指标", "一级权重", "二级指标", "单位", "二级权重", "方向", "Ⅰ级基准值", "Ⅱ级基准值", "Ⅲ级基准值", "限定性"]


def test_spec_bad_rows_are_reported_with_row_and_column(runner, tmp_path):
    rows = [
        ["资源消耗指标", "0.5", "*单位产品取水量", "m3/t", "0.6", "≤", "2", "abc", "4", ""],      # row 2: Ⅱ not a number
        ["", "", "单位产品综合能耗", "kgce/t", "0.4", "大概", "10", "12", "14", ""],            # row 3: direction
        ["管理指标", "0.5", "清洁生产审核", "", "1", "定性", "通过审核", "", "", "也许"],          # row 4: limiting
        ["", "", "废水回用率", "%", "", "≤", "≥90", "80", "70", ""],                           # row 5: sign vs direction
    ]
    table = write_csv(tmp_path / "指标.csv", rows, header=SPEC_HEADER)
    out = tmp_path / "out"
    result, data = run_json(runner, table, "--type", "spec", "--source", "测试指标体系 (2020)", "--issuer", "测试单位",
                            "--set", "sectors=电镀", "--out", out)
    assert result.exit_code == 1 and data["status"] == "rejected"
    assert [(r["row"], r["column"]) for r in data["rejected"]] == [
        (2, "Ⅱ级基准值"), (3, "方向"), (4, "限定性"), (5, "Ⅰ级基准值")]
    assert data["rejected"][0]["reason"] == "第 2 行，列「Ⅱ级基准值」：「abc」不是数字（方向为 ≤ 的定量指标）"
    assert not (out / "specs").exists()                   # a table with a bad row writes nothing


def test_spec_import_needs_its_columns_and_sector(runner, tmp_path):
    table = write_csv(tmp_path / "指标.csv", [["a", "b"]], header=["指标", "数值"])
    result = run(runner, table, "--type", "spec", "--source", "测试指标体系 (2020)", "--issuer", "测试单位",
                 "--set", "sectors=电镀", "--out", tmp_path / "out")
    assert result.exit_code == 2 and "缺少列：Ⅰ级基准值、Ⅱ级基准值、Ⅲ级基准值" in result.output
    table = write_csv(tmp_path / "指标2.csv", [["", "", "取水量", "", "", "≤", "1", "2", "3", ""]], header=SPEC_HEADER)
    result = run(runner, table, "--type", "spec", "--source", "测试指标体系 (2020)", "--issuer", "测试单位",
                 "--out", tmp_path / "out")
    assert result.exit_code == 2 and "--set sectors=" in result.output


# A small TEST-ONLY table (numbers chosen by the test): two groups with weights summing to 1, a merged group cell
# (blank on row 3), levels printed with their signs (≤8 …) and no direction column for them.
SMALL = [
    ["资源消耗指标", "0.6", "*单位产品取水量", "m3/t", "0.5", "", "≤2", "≤3", "≤4", ""],
    ["", "", "单位产品综合能耗", "kgce/t", "0.5", "", "≤10", "≤12", "≤14", ""],
    ["管理指标", "0.4", "清洁生产管理", "", "1", "定性", "通过清洁生产审核并持续改进", "通过清洁生产审核", "开展清洁生产审核", ""],
]


def test_imported_spec_is_usable_by_the_api_page_and_cli(runner, tmp_path, content, request, monkeypatch):
    table = write_csv(tmp_path / "小表.csv", SMALL, header=SPEC_HEADER)
    result = run(runner, table, "--type", "spec", "--source", "测试焦化指标体系 (2030)", "--issuer", "测试单位",
                 "--set", "sectors=焦化", "--set", "id=spec-coking-imported-test", "--out", content)
    assert result.exit_code == 0, result.output
    assert "权重提示" not in result.output                    # 0.6 + 0.4 = 1; 0.5 + 0.5 = 1; 1
    assert_check_passes(runner, content)
    client = request.getfixturevalue("client")               # the knowledge base built from `content`, as kb build does
    # water 3 (≤3 → Ⅱ, limiting), energy 9 (Ⅰ), management Ⅰ:
    # Y_I = 100 × (0.6 × 0.5 + 0.4 × 1) = 70 < 85; Y_II = 100 × (0.6 × 1 + 0.4) = 100 ≥ 85, limiting at Ⅱ → Ⅱ级,
    # the whole system entered (system_weight 1 found from the weights) → decided, score 100.
    body = {"sector": "焦化", "values": {"单位产品取水量": "3", "单位产品综合能耗": 9, "清洁生产管理": 1}}
    data = client.post("/api/assess", json=body).get_json()
    assert data["spec"]["id"] == "spec-coking-imported-test"  # source year 2030: the sector's default
    assert data["overall"]["scores"] == {"1": 70.0, "2": 100.0, "3": 100.0}
    assert data["overall"]["level"] == 2 and data["overall"]["score"] == 100.0 and data["coverage"]["entered_pct"] == 100
    html = client.get("/assess?sector=焦化").get_data(as_text=True)
    assert "单位产品综合能耗" in html and "限定性" in html
    monkeypatch.setenv("KB_HOME", str(request.getfixturevalue("settings").home))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", content)
    values = tmp_path / "values.yaml"
    values.write_text("单位产品取水量: 3\n单位产品综合能耗: 9\n清洁生产管理: 1\n", encoding="utf-8")
    cli = runner.invoke(main, ["assess", "--sector", "焦化", "--values", str(values)])
    assert cli.exit_code == 0 and "总体级别：Ⅱ级，综合评价指数 100" in cli.stdout, cli.output


def test_origin_and_confidence_can_be_given(runner, tmp_path):
    table = write_csv(tmp_path / "目录.csv", ROWS)
    out = tmp_path / "out"
    result = run(runner, table, "--source", SOURCE, "--out", out, "--origin", "行业协会", "--confidence", "中")
    assert result.exit_code == 0, result.output
    docs = assert_check_passes(runner, out)
    assert {(d.source["origin"], d.source["confidence"]) for d in docs.values()} == {("行业协会", "中")}
    bad = run(runner, table, "--source", SOURCE, "--out", out, "--confidence", "很高")
    assert bad.exit_code == 2 and "--confidence" in bad.output


def test_maturity_columns_repeated_rows_and_set_names(runner, tmp_path):
    """Branches of a row an editor meets: a 推广比例 column keeps its header, --set maturity fills a row
    without one, a row repeating an earlier 编号 is refused with that row's number, and --set names its fields."""
    header = ["序号", "编号", "技术名称", "所属行业", "技术类别", "主要技术内容", "工序", "目前推广比例"]
    rows = [
        ["1", "JN-01", "高炉炉顶煤气余压透平发电技术（TRT）", "钢铁", "节能", "利用高炉煤气压力能发电。", "炼铁", "60%"],
        ["2", "JN-02", "纯低温余热发电技术", "水泥", "节能", "利用窑头窑尾废气余热发电。", "熟料烧成", ""],
        ["3", "JN-01", "高炉煤气余压发电", "钢铁", "节能", "同一编号的另一行。", "炼铁", ""],
    ]
    table = write_csv(tmp_path / "catalogue.csv", rows, header=header)
    out = tmp_path / "out"
    result, report = run_json(runner, table, "--source", SOURCE, "--set", "maturity=已推广",
                              "--set", "applicability=按来源所述的适用企业", "--out", out)
    assert result.exit_code == 1
    assert report["rejected"] == [{"row": 4, "reason": f"与第 2 行的编号或名称相同（id {report['created'][0]}）"}]
    metas = {m["title"]: m for m in (load_content([out]).documents[i].meta for i in report["created"])}
    assert metas["高炉炉顶煤气余压透平发电技术（TRT）"]["maturity"] == "目前推广比例：60%"
    assert metas["纯低温余热发电技术"]["maturity"] == "已推广"
    # the id comes from the 编号, not the 序号: renumbering the rows keeps every id
    renumbered = write_csv(tmp_path / "renumbered.csv", [["9", *r[1:]] for r in rows[:2]], header=header)
    _, again = run_json(runner, renumbered, "--source", SOURCE, "--set", "maturity=已推广",
                        "--set", "applicability=按来源所述的适用企业", "--out", out)
    assert sorted(again["unchanged"]) == sorted(report["created"])

    refused = run(runner, table, "--source", SOURCE, "--set", "investment=100", "--out", out)
    assert refused.exit_code == 2
    assert "--set 只能用于 sectors、category、tags、process、applicability、maturity，收到「investment」" in refused.output
