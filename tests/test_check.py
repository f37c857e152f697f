"""`kb check`: every problem reported at its file and line, all at once, never a traceback."""
from __future__ import annotations

from kb.config import load_settings
from kb.loader import load_content
from kb.cli import main

from conftest import case, technology, write


def problems_of(root):
    return [str(p) for p in load_content([root]).problems]


def test_valid_content_has_no_problems(content):
    result = load_content([content])
    assert result.problems == []
    assert {d.type for d in result.documents.values()} == {"technology", "case"}


def test_bad_yaml_is_reported_with_its_line(content):
    path = write(content, "technologies", "broken", "---\nid: broken\ntype: technology\ntitle: [未闭合\n---\n正文\n")
    found = [p for p in problems_of(content) if "broken.md" in p]
    assert len(found) == 1
    assert f"{path.name}:4:" in found[0] or f"{path.name}:5:" in found[0]
    assert "YAML" in found[0]


def test_missing_required_field_names_the_field(content):
    text = technology("general-no-summary", "没有摘要的条目").replace(
        "summary: 这是用于测试的技术条目摘要，描述技术要点。\n", "")
    write(content, "technologies", "general-no-summary", text)
    found = [p for p in problems_of(content) if "general-no-summary.md" in p]
    assert found == [f"{content / 'technologies' / 'general-no-summary.md'}:2: summary: 缺少必填字段"]


def test_unknown_sector_points_at_the_list_item_and_lists_valid_ones(content):
    write(content, "technologies", "general-x", technology("general-x", "测试条目", sectors="[通用, 火星采矿]"))
    found = [p for p in problems_of(content) if "general-x.md" in p]
    assert len(found) == 1
    assert ":5: sectors: 未知行业「火星采矿」" in found[0]
    assert "印染" in found[0] and "包装印刷" in found[0]


def test_sector_alias_resolves_to_canonical_name(content):
    doc = load_content([content]).documents["building-cement-whr"]
    assert doc.sectors == ["建材"]


def test_id_must_equal_file_name(content):
    write(content, "technologies", "general-file-name", technology("general-other-id", "名字不符的条目"))
    found = [p for p in problems_of(content) if "general-file-name.md" in p]
    assert found and ":2: id: id「general-other-id」必须与文件名「general-file-name」一致" in found[0]


def test_duplicate_id_in_one_folder_tree(content):
    write(content, "cases", "coking-cdq", case("coking-cdq"))
    found = [p for p in problems_of(content) if "重复" in p]
    assert len(found) == 1 and "coking-cdq" in found[0]


def test_case_naming_missing_technology(content):
    write(content, "cases", "case-coating-bad-link", case("case-coating-bad-link", technologies="[general-activated-carbon, no-such-tech]"))
    found = [p for p in problems_of(content) if "case-coating-bad-link.md" in p]
    assert found == [f"{content / 'cases' / 'case-coating-bad-link.md'}:15: technologies[1]: 技术条目「no-such-tech」不存在"]


def test_case_needs_a_reported_or_related_technology(content):
    text = case("case-coating-unlinked", technologies="[]")
    write(content, "cases", "case-coating-unlinked", text)
    found = [p for p in problems_of(content) if "case-coating-unlinked.md" in p]
    assert len(found) == 1 and ":15: technologies:" in found[0] and "related_technologies" in found[0]

    related = text.replace("technologies: []", "related_technologies: [general-activated-carbon, no-such-tech]")
    write(content, "cases", "case-coating-unlinked", related)
    found = [p for p in problems_of(content) if "case-coating-unlinked.md" in p]
    assert found == [f"{content / 'cases' / 'case-coating-unlinked.md'}:15: related_technologies[1]: 技术条目「no-such-tech」不存在"]


def test_wrong_enum_and_nested_field_located(content):
    text = technology("general-bad-benefit", "效益填错的条目", category="省钱",
                      extra="benefits:\n  - indicator: 节电率\n    unit: \"%\"\n")
    write(content, "technologies", "general-bad-benefit", text)
    found = [p for p in problems_of(content) if "general-bad-benefit.md" in p]
    assert any(":6: category: 取值必须是" in p for p in found)
    assert any(":12: benefits[0].value: 缺少必填字段" in p for p in found)


def test_near_duplicate_titles_are_flagged(content):
    write(content, "technologies", "coking-cdq-2", technology("coking-cdq-2", "干熄焦技术", sectors="[焦化]"))
    found = [p for p in problems_of(content) if "疑似重复" in p]
    assert len(found) == 1 and "coking-cdq" in found[0]


def test_cli_check_reports_all_problems_and_exits_nonzero(runner, content):
    write(content, "technologies", "general-a", technology("general-a", "条目A", sectors="[不存在的行业]"))
    write(content, "technologies", "general-b", "---\nid: general-b\ntype: gadget\n---\n")
    write(content, "technologies", "general-c", "没有 front matter\n")
    result = runner.invoke(main, ["check", str(content)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = [l for l in result.output.splitlines() if ".md:" in l]
    assert len(lines) == 3
    assert any("general-a.md:5: sectors:" in l for l in lines)
    assert any("general-b.md:3: type:" in l for l in lines)
    assert any("general-c.md:1: front matter:" in l for l in lines)


def test_cli_check_passes_on_valid_content(runner, content):
    result = runner.invoke(main, ["check", str(content)])
    assert result.exit_code == 0, result.output
    assert "检查通过" in result.output and "技术 4" in result.output


def test_cli_stats_counts_and_gaps(runner, content, monkeypatch):
    import json

    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", content)
    result = runner.invoke(main, ["stats", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["counts"]["工业涂装"] == {"technology": 0, "case": 1, "spec": 0}
    assert data["counts"]["焦化"]["technology"] == 1
    assert "工业涂装" in data["sectors_with_fewer_than_3_cases"] and "焦化" in data["sectors_without_spec"]
    assert data["missing_optional"]["case-coating-vocs"] == ["investment_wan", "outcome"]
    text = runner.invoke(main, ["stats"]).output
    lines = text.splitlines()
    # Chinese sector names are padded by display width, so the numbers line up
    from kb.stats import display_width

    assert len({display_width(l) for l in lines[:15]}) == 1, lines[:15]


def test_cli_stats_marks_sectors_whose_spec_has_no_values(runner, content, monkeypatch):
    import json
    from pathlib import Path

    specs = Path(__file__).resolve().parent.parent / "kb" / "content" / "specs"
    for name in ("spec-coating-2016", "spec-plating-2015"):
        write(content, "specs", name, (specs / f"{name}.md").read_text(encoding="utf-8"))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", content)
    data = json.loads(runner.invoke(main, ["stats", "--json"]).output)
    assert data["counts"]["工业涂装"]["spec"] == 1 and data["counts"]["电镀"]["spec"] == 1
    assert data["sectors_with_citation_only_spec"] == ["工业涂装"]
    assert "工业涂装" not in data["sectors_without_spec"]
    text = runner.invoke(main, ["stats"]).output
    row = next(l for l in text.splitlines() if l.startswith("工业涂装"))
    assert row.rstrip().endswith("1*")
    assert "不能自评）的行业：工业涂装" in text


def test_glossary_problem_vocabulary_is_checked_with_file_and_line(runner, tmp_path):
    glossary = tmp_path / "glossary.yaml"
    glossary.write_text("terms: [VOCs]\nproblems:\n"
                        "- {sector: 通用, say: [异味, 味道大], means: [VOCs, 恶臭]}\n"
                        "- {sector: 火星, say: [味, 异味], means: [异味]}\n"
                        "- {sector: 通用, say: [异味], means: []}\n", encoding="utf-8")
    result = runner.invoke(main, ["check", str(glossary)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    lines = result.output.splitlines()
    assert any(l.endswith("glossary.yaml:4: problems[1].sector: 未知行业「火星」；可选：能源、钢铁、焦化、建材、有色金属、"
                          "石化化工、印染、造纸、化学原料药、电镀、农副食品加工、工业涂装、包装印刷、通用") for l in lines)
    assert any("glossary.yaml:4: problems[1].say: 说法「味」太短" in l for l in lines)
    assert any("glossary.yaml:4: problems[1].say: 说法「异味」与它对应的技术词相同" in l for l in lines)
    assert any("glossary.yaml:5: problems[2].means: 应为非空列表" in l for l in lines)
    assert any("glossary.yaml:5: problems[2].say: 说法「异味」在第 3 行已列出" in l for l in lines)


def test_bundled_glossary_problem_vocabulary_passes(runner):
    from kb.config import BUNDLED_CONTENT

    result = runner.invoke(main, ["check", str(BUNDLED_CONTENT / "glossary.yaml")])
    assert result.exit_code == 0, result.output
