"""Province of a case's `region`, for the 地区 facet: Jiangsu users look for cases near them first.

Regions are written as the source gives them, province first (「江苏省常州市武进区」); an editor
may also start with a Jiangsu city (「苏州市…」). Anything else (「多地」) has no province.
"""
from __future__ import annotations

PROVINCES = ("北京", "天津", "上海", "重庆", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "江苏", "浙江",
             "安徽", "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "广西", "海南", "四川", "贵州",
             "云南", "西藏", "陕西", "甘肃", "青海", "宁夏", "新疆", "台湾", "香港", "澳门")
JIANGSU_CITIES = ("南京", "无锡", "徐州", "常州", "苏州", "南通", "连云港", "淮安", "盐城", "扬州", "镇江",
                  "泰州", "宿迁")


class UnknownProvince(ValueError):
    """A province filter or profile field that names no province-level division."""


def resolve_province(value: str) -> str:
    """The province a user typed (江苏 or 江苏省) as its short name; UnknownProvince says what is valid."""
    name = province_of(value)
    if name is None:
        raise UnknownProvince(f"未知省份「{value[:20]}」；请用省级行政区名或简称，如 江苏、浙江")
    return name


def province_of(region: str | None) -> str | None:
    text = (region or "").strip()
    for name in PROVINCES:
        if text.startswith(name):
            return name
    for city in JIANGSU_CITIES:
        if text.startswith(city):
            return "江苏"
    return None
