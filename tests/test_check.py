"""`kb check`: every problem reported at its file and line, all at once, never a traceback."""
from __future__ import annotations

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


# -- provenance rules (issue 15) ---------------------------------------------------------------------

def _case_text(name="case-coating-prov", body_extra="", front_extra="", kind="清洁生产审核", findings="审核发现"):
    text = case(name).replace("kind: 清洁生产审核\n", f"kind: {kind}\n" if kind else "")
    text = text.replace("## 审核发现", f"## {findings}")
    text = text.replace("results: [VOCs 排放量下降]\n", f"results: [VOCs 排放量下降]\n{front_extra}")
    return text.replace("\n成效。\n", f"\n成效。{body_extra}\n")


def test_editor_markers_in_body_fail_with_file_and_line(content):
    path = write(content, "cases", "case-coating-prov", _case_text(body_extra="投资约300万元（约数，未填入投资字段），`year` 按报道年份记。"))
    found = [p for p in problems_of(content) if "case-coating-prov.md" in p]
    line = path.read_text(encoding="utf-8").splitlines().index(
        next(l for l in path.read_text(encoding="utf-8").splitlines() if "未填入投资字段" in l)) + 1
    assert any(f"case-coating-prov.md:{line}: body: 「未填字段」说明「未填入投资字段」" in p for p in found), found
    assert any(f"case-coating-prov.md:{line}: body: 字段名「`year`」" in p for p in found), found


def test_editor_markers_in_shown_front_matter_fail(content):
    text = _case_text().replace("problems: [喷涂废气收集效率低]", "problems: [喷涂废气收集效率低（来源为转载页，可信度较低）]")
    write(content, "cases", "case-coating-prov", text)
    found = [p for p in problems_of(content) if "case-coating-prov.md" in p]
    assert found and all(":10: problems: 可信度说明「可信度」" in p for p in found), found


def test_editor_notes_field_may_hold_the_same_words(content):
    write(content, "cases", "case-coating-prov", _case_text(
        front_extra='editor_notes:\n  - "投资为约数，未填入 investment_wan 字段；来源为转载页，可信度较低，待核实"\n'))
    assert [p for p in problems_of(content) if "case-coating-prov.md" in p] == []


def test_every_case_needs_a_kind(content):
    write(content, "cases", "case-coating-prov", _case_text(kind=None))
    found = [p for p in problems_of(content) if "case-coating-prov.md" in p]
    assert found == [f"{content / 'cases' / 'case-coating-prov.md'}:3: kind: 案例必须写 kind：清洁生产审核、技改项目、园区/集群 或 政策示范"]


def test_case_needs_origin_and_confidence(content):
    write(content, "cases", "case-coating-prov", _case_text().replace("  origin: 企业/政府公开\n  confidence: 高\n", ""))
    found = [p for p in problems_of(content) if "case-coating-prov.md" in p]
    assert [p.split(": ", 2)[1] for p in found] == ["source.origin", "source.confidence"]


def test_technology_without_origin_fails(content):
    write(content, "technologies", "general-no-origin", technology("general-no-origin", "无来源性质的条目").replace(
        "  origin: 标准\n  confidence: 高", ""))
    found = [p for p in problems_of(content) if "general-no-origin" in p]
    assert [p.split(": ", 2)[1] for p in found] == ["source.origin", "source.confidence"], found


def test_figures_from_a_standard_need_their_own_source(content):
    figures = ("benefits:\n  - indicator: 去除率\n    value: 90\n    unit: \"%\"\n"
               "investment: 约50万元\n")
    write(content, "technologies", "general-std-figures", technology("general-std-figures", "标准来源的数字", extra=figures))
    found = [p for p in problems_of(content) if "general-std-figures" in p]
    assert any("benefits[0]: 来源是标准/政策文件" in p and "benefits[0].source" in p for p in found), found
    assert any("investment: 来源是标准/政策文件" in p and "investment_source" in p for p in found), found
    # naming where each figure was read clears the rule
    sourced = figures.replace("    unit: \"%\"\n", "    unit: \"%\"\n    source: {kind: 文献, title: 某期刊论文, issuer: 某大学, year: 2020,"
                                                   " origin: 期刊论文, confidence: 高}\n")
    sourced += "investment_source: {kind: 案例报道, title: 某报道, issuer: 某报社, year: 2021, origin: 新闻转载, confidence: 中}\n"
    write(content, "technologies", "general-std-figures", technology("general-std-figures", "标准来源的数字", extra=sourced))
    assert [p for p in problems_of(content) if "general-std-figures" in p] == []


def test_non_audit_case_may_head_its_findings_as_problem(content):
    write(content, "cases", "case-coating-prov", _case_text(kind="技改项目", findings="问题"))
    assert [p for p in problems_of(content) if "case-coating-prov.md" in p] == []
    # an audit case still needs 审核发现
    write(content, "cases", "case-coating-prov", _case_text(kind="清洁生产审核", findings="问题"))
    found = [p for p in problems_of(content) if "case-coating-prov.md" in p]
    assert len(found) == 1 and "正文缺少小节「## 审核发现」" in found[0]


def test_kb_check_fails_on_a_provenance_problem(runner, content):
    write(content, "technologies", "general-no-origin", technology("general-no-origin", "无来源性质的条目").replace(
        "  origin: 标准\n  confidence: 高", ""))
    result = runner.invoke(main, ["check", str(content)])
    assert result.exit_code == 1, result.output
    assert "general-no-origin.md" in result.output and "缺少来源性质" in result.output


def test_cli_stats_reports_origin_confidence_and_case_kind_per_sector(runner, content, monkeypatch):
    import json

    write(content, "cases", "case-coating-retrofit", case("case-coating-retrofit").replace(
        "kind: 清洁生产审核", "kind: 技改项目").replace("origin: 企业/政府公开\n  confidence: 高", "origin: 新闻转载\n  confidence: 低"))
    monkeypatch.setattr("kb.config.BUNDLED_CONTENT", content)
    data = json.loads(runner.invoke(main, ["stats", "--json"]).output)
    assert data["cases_by_kind"]["工业涂装"] == {"清洁生产审核": 1, "技改项目": 1}
    assert data["by_origin"]["工业涂装"] == {"企业/政府公开": 1, "新闻转载": 1}
    assert data["by_confidence"]["工业涂装"] == {"高": 1, "低": 1}
    assert data["by_origin"]["焦化"] == {"标准": 1}
    assert data["origin_by_type"]["technology"] == {"标准": 4}
    assert data["case_kind_totals"] == {"清洁生产审核": 1, "技改项目": 1}
    text = runner.invoke(main, ["stats"]).output
    row = [l for l in text.splitlines() if l.startswith("工业涂装")][1]
    assert row.split()[1:6] == ["1", "1", "0", "0", "0"] and "企业/政府公开 1、新闻转载 1" in row
    assert "案例类型合计：清洁生产审核 1、技改项目 1" in text


def test_spec_needs_origin_and_confidence(content):
    from pathlib import Path

    spec = (Path(__file__).resolve().parent.parent / "kb" / "content" / "specs" / "spec-plating-2015.md").read_text(encoding="utf-8")
    write(content, "specs", "spec-plating-2015", spec.replace("  origin: 标准\n", ""))
    found = [p for p in problems_of(content) if "spec-plating-2015.md" in p]
    assert len(found) == 1 and "source.origin: 缺少来源性质" in found[0]


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


def test_validated_files_are_remembered_per_taxonomy(content):
    """An unchanged file is not parsed twice against one taxonomy, and another taxonomy (a sector added to
    sectors.yaml) validates it afresh: the cache goes with the taxonomy, never with a reusable id()."""
    from kb.loader import load_file
    from kb.taxonomy import Sector, Taxonomy, load_taxonomy

    path = write(content, "technologies", "general-mars", technology("general-mars", "火星采矿尾气治理", sectors="[火星采矿]"))
    bundled = load_taxonomy()
    doc, problems = load_file(path, bundled)
    assert doc is None and "未知行业「火星采矿」" in problems[0].message
    assert load_file(path, bundled) == (doc, problems)
    wider = Taxonomy([*bundled.sectors, Sector("火星采矿", "mars", (), ())])
    doc, problems = load_file(path, wider)
    assert problems == [] and doc.sectors == ["火星采矿"]
    edited = path.read_text(encoding="utf-8").replace("火星采矿尾气治理", "火星采矿废气治理")
    path.write_text(edited, encoding="utf-8")
    assert load_file(path, wider)[0].title == "火星采矿废气治理"      # a changed file is read again


def test_a_running_knowledge_base_re_checks_only_what_changed(monkeypatch):
    """One object per knowledge base (issue 19): after an edit, near-duplicate titles are compared again only
    for the changed technology, provenance is checked again only for changed files, and the findings equal
    a check from scratch. Before, every batch build of a server compared all pairs (minutes at 20k entries)."""
    import dataclasses

    import kb.checks as checks
    from bench.corpus import synthetic_documents
    from kb.config import BUNDLED_CONTENT

    bundled = load_content([BUNDLED_CONTENT]).documents
    documents = {**{d.id: d for d in synthetic_documents(600).values()}, **bundled}
    twin = next(d for d in bundled.values() if d.type == "technology")
    documents["zz-twin"] = dataclasses.replace(twin, id="zz-twin", title=twin.title + "。", path="zz-twin.md")
    running = checks.CrossChecks()
    assert [str(p) for p in running(documents)] == [str(p) for p in checks.cross_check(documents)]

    compared, provenance = [], []
    similar, check_one = checks.similar_pairs, checks.provenance_problems
    monkeypatch.setattr(checks, "similar_pairs",
                        lambda techs, t, only=None, **kw: compared.append(only) or similar(techs, t, only, **kw))
    monkeypatch.setattr(checks, "provenance_problems", lambda doc: provenance.append(doc.id) or check_one(doc))
    edited = dict(documents)
    edited["zz-twin"] = dataclasses.replace(documents["zz-twin"], title="完全不同的技术名称", content_hash="edited")
    found = running(edited)
    assert [[d.id for d in only] for only in compared] == [["zz-twin"]] and provenance == ["zz-twin"]
    monkeypatch.undo()
    assert [str(p) for p in found] == [str(p) for p in checks.cross_check(edited)]
    assert not any("zz-twin" in str(p) for p in found) and any("zz-twin" in str(p) for p in running(documents))


def test_near_duplicate_candidates_by_prefix_filtering_miss_no_pair():
    """similar_pairs finds candidates by prefix filtering (issue 19: every same-length pair was compared, ~45 s
    at 20k synthetic entries). Against a brute-force reference — every pair with the same Latin words whose
    keys difflib rates at or above the threshold — on titles drawn from a few words, so that many pairs are
    near the threshold: the same pairs, whole and with `only`."""
    import itertools
    import random
    from difflib import SequenceMatcher

    import kb.checks as checks
    from kb.documents import Document

    rng = random.Random(7)
    words = ["废水", "回用", "膜法", "余热", "回收", "脱硫", "除尘", "水", "热泵", "蒸发", "浓缩", "RTO", "SCR", "SNCR"]
    titles = ["".join(rng.sample(words, rng.randint(2, 5))) + rng.choice(["", "技术", "系统", "。"]) for _ in range(700)]
    titles += [t[:-1] + "热" for t in titles[:80]] + [t + "水" for t in titles[80:160]]
    docs = [Document(f"t-{n:04d}", "technology", title, ["通用"], {}, "", f"t-{n:04d}.md", str(n))
            for n, title in enumerate(titles)]

    def reference(probes, threshold=0.92):
        out = set()
        for a, b in itertools.combinations(docs, 2):
            if probes is not None and a.id not in probes and b.id not in probes:
                continue
            ka, kb_ = checks._title_key(a.title), checks._title_key(b.title)
            if ka and kb_ and checks._latin(a.title) == checks._latin(b.title) and \
                    (ka == kb_ or SequenceMatcher(None, ka, kb_).ratio() >= threshold):
                out.add((min(a.id, b.id), max(a.id, b.id)))
        return out

    expected = reference(None)
    assert len(expected) > 100           # the titles do hold many near pairs
    assert set(checks.similar_pairs(docs, 0.92)) == expected
    only = docs[::37]
    assert set(checks.similar_pairs(docs, 0.92, only=only)) == reference({d.id for d in only})
