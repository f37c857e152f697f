"""Markdown → sanitised HTML. Bodies come from editors; nothing they write may run in a reader's browser."""
from __future__ import annotations

import re

import markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "b", "i", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "a", "sup", "sub", "span", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


# A bare address in 参考 (the usual way sources are cited) becomes a link. Not inside code, not one
# already in Markdown link or autolink syntax, and Chinese punctuation ends it.
_BARE_URL = re.compile(r"(?<![<(\[\"'=/\w])(https?://[^\s<>()\[\]{}\"'，。；、）】》]+[^\s<>()\[\]{}\"'，。；、）】》.,;:!?])")
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def autolink(text: str) -> str:
    parts = _CODE.split(text)
    return "".join(part if i % 2 else _BARE_URL.sub(r"<\1>", part) for i, part in enumerate(parts))


def render_markdown(text: str) -> str:
    html = markdown.markdown(autolink(text), extensions=["tables", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
