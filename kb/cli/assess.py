"""`kb assess`: an enterprise's indicator values (YAML) → the same assessment as POST /api/assess."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from .common import CliContext, echo_json, fail, pass_cli


@click.command()
@click.option("--sector", required=True, help="行业名或别名，如 电镀。")
@click.option("--values", "values_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="指标取值 YAML 文件：{指标 id: 数值或级别}（也可写成 {values: {…}}）。")
@click.option("--spec", "spec_id", help="标准条目 id；默认该行业最新的评价指标体系。")
@click.option("--target-level", type=click.IntRange(1, 3), help="对标的目标级别（默认：比总体级别高一级）。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@click.option("--xlsx", "xlsx_out", type=click.Path(dir_okay=False, path_type=Path),
              help="另把评价结果写成 Excel 工作簿（指标、覆盖度与结论、差距、来源），与网页下载的相同。")
@pass_cli
def assess(cli: CliContext, sector: str, values_file: Path, spec_id: str | None, target_level: int | None, as_json: bool,
           xlsx_out: Path | None) -> None:
    """清洁生产水平自评：按行业评价指标体系的Ⅰ/Ⅱ/Ⅲ级基准值对标，并为差距推荐技术。"""
    from ..assess import AssessError, run

    try:
        raw = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        fail(f"无法读取 {values_file}：{exc}")
    if isinstance(raw, dict) and isinstance(raw.get("values"), dict):
        raw = raw["values"]
    data = {"sector": sector, "values": raw}
    if spec_id:
        data["spec"] = spec_id
    if target_level:
        data["target_level"] = target_level

    kb = cli.open_kb()
    try:
        result = run(kb, data)
        spec_doc = kb.document(result["spec"]["id"])
    except AssessError as exc:
        click.echo(f"错误：{exc.message}", err=True)
        for detail in exc.details:
            click.echo(f"  {detail['field']}: {detail['message']}", err=True)
        sys.exit(2)
    finally:
        kb.close()
    if xlsx_out is not None:
        from ..assess_workbook import assessment_workbook
        from ..files import atomic_write

        atomic_write(xlsx_out, assessment_workbook(spec_doc, result, sector=sector))
        click.echo(f"已写出 Excel：{xlsx_out}", err=True)
    if as_json:
        echo_json(result)
        return
    click.echo(readable(result))


def _level(level) -> str:
    from ..assess import LEVEL_NAMES

    return "—" if level is None else LEVEL_NAMES.get(level, str(level))


def _overall_lines(result: dict) -> list[str]:
    from ..assess import LEVEL_NAMES, fmt

    overall, coverage = result["overall"], result.get("coverage") or {}
    level = overall.get("level_name") or _level(overall["level"])
    score = "" if overall["score"] is None else f"，综合评价指数 {fmt(overall['score'])}"
    lines = [f"总体级别：{level}{score}"]
    for reason in overall.get("reasons") or []:
        lines.append(f"  原因：{reason}")
    if overall.get("at_least"):
        lines.append(f"  已确定至少达到{LEVEL_NAMES[overall['at_least']]}")
    if coverage.get("text"):
        lines.append(f"覆盖度：{coverage['text']}")
    if overall.get("scores"):
        s = overall["scores"]
        label = "部分得分（只按已填写指标归一化，不能据此定级）" if overall.get("partial") else "综合评价指数"
        lines.append(f"  {label}：YⅠ={fmt(s['1'])}　YⅡ={fmt(s['2'])}　YⅢ={fmt(s['3'])}")
    if overall.get("bounds") and overall.get("partial"):
        b = overall["bounds"]
        lines.append("  按整个指标体系的可能范围：" + "　".join(
            f"Y{name}={fmt(b[k][0])}–{fmt(b[k][1])}" for k, name in (("1", "Ⅰ"), ("2", "Ⅱ"), ("3", "Ⅲ"))))
    return lines


def readable(result: dict) -> str:
    from ..assess import fmt

    spec, overall = result["spec"], result["overall"]
    force = {True: "现行", False: "已废止或被替代"}.get(spec.get("in_force"), "是否现行未注明")
    lines = [f"标准：{spec['title']}（{spec['id']}，{force}）", ""]
    for row in result["indicators"]:
        value = "未填写" if row["value"] is None else f"{fmt(row['value'])} {row['unit']}".rstrip()
        t = row["targets"]
        lines.append(f"  {row['name']}：{value}　→ {_level(row['level']) if row['value'] is not None else '—'}"
                     f"　（Ⅰ {fmt(t['1']) if t['1'] is not None else '—'} / Ⅱ {fmt(t['2']) if t['2'] is not None else '—'}"
                     f" / Ⅲ {fmt(t['3']) if t['3'] is not None else '—'}）")
    lines.append("")
    lines.extend(_overall_lines(result))
    if overall["missing"]:
        lines.append(f"未填写：{'、'.join(overall['missing'])}")
    lines.append(f"判定规则：{result['rule']['text']}")
    lines.append(f"注意：{result['rule']['verify']}")
    for note in result.get("notes", []):
        lines.append(f"提示：{note}")
    if result["gaps"]:
        lines.append("")
        lines.append("差距与可考察的技术：")
        names = {r["id"]: r["name"] for r in result["indicators"]}
        for gap in result["gaps"]:
            lines.append(f"- {names.get(gap['indicator'], gap['indicator'])}：目标{_level(gap['target_level'])}，需 {gap['needed']}")
            for tech in gap["technologies"]:
                reasons = f"：{'；'.join(tech['reasons'][:2])}" if tech.get("reasons") else ""
                lines.append(f"    · {tech['title']}（{tech['id']}）{reasons}")
    return "\n".join(lines) + "\n"
