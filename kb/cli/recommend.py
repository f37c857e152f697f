"""`kb recommend`: an enterprise profile on the command line → the same JSON as POST /api/recommend."""
from __future__ import annotations

import sys

import click

from ..recommend.profile import ProfileError, parse_profile
from .common import CliContext, echo_json, pass_cli


@click.command()
@click.option("--sector", help="行业名或别名（必填），如 印染、水泥、电镀。")
@click.option("--problem", help="企业面临的问题（必填），如「染色废水量大，回用率低」。")
@click.option("--focus", multiple=True, help="关注点，可重复：节能、节水、VOCs、废水、危险废物、降碳……")
@click.option("--process", help="工序，如 前处理、熄焦、烘干。")
@click.option("--max-investment-wan", type=float, help="投资上限（万元）。")
@click.option("--max-payback-years", type=float, help="投资回收期上限（年）。")
@click.option("--limit", default=10, show_default=True, type=int, help="返回条数（1-50）。")
@click.option("--province", help="企业所在省份（如 江苏）：同省案例优先列出。")
@click.option("--json", "as_json", is_flag=True, help="输出 JSON。")
@pass_cli
def recommend(cli: CliContext, sector: str | None, problem: str | None, focus: tuple[str, ...], process: str | None,
              max_investment_wan: float | None, max_payback_years: float | None, limit: int, as_json: bool,
              province: str | None = None) -> None:
    """按企业情况推荐值得在审核中考察的清洁生产技术，并说明理由、列出可引用的案例。"""
    data: dict = {"sector": sector, "problem": problem, "limit": limit}
    for key, value in (("focus", list(focus)), ("process", process), ("max_investment_wan", max_investment_wan),
                       ("max_payback_years", max_payback_years), ("province", province)):
        if value not in (None, []):
            data[key] = value
    data = {k: v for k, v in data.items() if v is not None}
    try:
        profile = parse_profile(data)
    except ProfileError as exc:
        for detail in exc.details:
            click.echo(f"错误：{detail['message']}", err=True)
        sys.exit(2)

    kb = cli.open_kb()
    try:
        response = kb.recommender().recommend(profile, url_of=cli.url_of())
    finally:
        kb.close()
    if as_json:
        echo_json(response)
        return
    click.echo(_readable(response))


def _readable(response: dict) -> str:
    profile = response["profile"]
    lines = [f"行业：{profile['sector']}　问题：{profile['problem']}"]
    extras = []
    if profile.get("focus"):
        extras.append(f"关注点：{'、'.join(profile['focus'])}")
    if profile.get("process"):
        extras.append(f"工序：{profile['process']}")
    if profile.get("max_investment_wan") is not None:
        extras.append(f"投资上限：{profile['max_investment_wan']:g} 万元")
    if profile.get("max_payback_years") is not None:
        extras.append(f"回收期上限：{profile['max_payback_years']:g} 年")
    if profile.get("province"):
        extras.append(f"省份：{profile['province']}（同省案例优先）")
    if extras:
        lines.append("　".join(extras))
    for note in response["notes"]:
        lines.append(f"提示：{note}")
    if not response["results"]:
        lines.append("没有找到可推荐的技术。")
        return "\n".join(lines)
    lines.append(f"\n推荐 {len(response['results'])} 项技术：\n")
    for rank, item in enumerate(response["results"], 1):
        lines.append(f"{rank}. {item['title']}  [{'、'.join(item['sectors'])}]  {item['id']}  得分 {item['score']:.3f}")
        for reason in item["reasons"]:
            lines.append(f"   · {reason}")
        if item["cases"]:
            lines.append(f"   案例：{'；'.join(c['title'] + '（' + c['id'] + '）' for c in item['cases'])}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
