"""`kb assess`: an enterprise's indicator values (YAML) → the same assessment as POST /api/assess."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import yaml


@click.command()
@click.option("--sector", required=True, help="行业名或别名，如 电镀。")
@click.option("--values", "values_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="指标取值 YAML 文件：{指标 id: 数值或级别}（也可写成 {values: {…}}）。")
@click.option("--spec", "spec_id", help="标准条目 id；默认该行业最新的评价指标体系。")
@click.option("--target-level", type=click.IntRange(1, 3), help="对标的目标级别（默认：比总体级别高一级）。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
def assess(sector: str, values_file: Path, spec_id: str | None, target_level: int | None, as_json: bool) -> None:
    """清洁生产水平自评：按行业评价指标体系的Ⅰ/Ⅱ/Ⅲ级基准值对标，并为差距推荐技术。"""
    from .assess import AssessError, run

    try:
        raw = yaml.safe_load(values_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        click.echo(f"错误：无法读取 {values_file}：{exc}", err=True)
        sys.exit(2)
    if isinstance(raw, dict) and isinstance(raw.get("values"), dict):
        raw = raw["values"]
    data = {"sector": sector, "values": raw}
    if spec_id:
        data["spec"] = spec_id
    if target_level:
        data["target_level"] = target_level

    from .cli import _open_kb

    kb = _open_kb()
    try:
        result = run(kb, data)
    except AssessError as exc:
        click.echo(f"错误：{exc.message}", err=True)
        for detail in exc.details:
            click.echo(f"  {detail['field']}: {detail['message']}", err=True)
        sys.exit(2)
    finally:
        kb.close()
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    click.echo(readable(result))


def _level(level) -> str:
    from .assess import LEVEL_NAMES

    return "—" if level is None else LEVEL_NAMES.get(level, str(level))


def readable(result: dict) -> str:
    from .assess import fmt

    spec, overall = result["spec"], result["overall"]
    lines = [f"标准：{spec['title']}（{spec['id']}）", ""]
    for row in result["indicators"]:
        value = "未填写" if row["value"] is None else f"{fmt(row['value'])} {row['unit']}".rstrip()
        t = row["targets"]
        lines.append(f"  {row['name']}：{value}　→ {_level(row['level']) if row['value'] is not None else '—'}"
                     f"　（Ⅰ {fmt(t['1']) if t['1'] is not None else '—'} / Ⅱ {fmt(t['2']) if t['2'] is not None else '—'}"
                     f" / Ⅲ {fmt(t['3']) if t['3'] is not None else '—'}）")
    lines.append("")
    score = "" if overall["score"] is None else f"，综合评价指数 {fmt(overall['score'])}"
    lines.append(f"总体级别：{_level(overall['level'])}{score}")
    if overall.get("scores"):
        s = overall["scores"]
        lines.append(f"  YⅠ={fmt(s['1'])}　YⅡ={fmt(s['2'])}　YⅢ={fmt(s['3'])}")
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
                lines.append(f"    · {tech['title']}（{tech['id']}）")
    return "\n".join(lines) + "\n"
