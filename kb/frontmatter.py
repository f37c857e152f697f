"""Split a Markdown file into YAML front matter and body, keeping line numbers for every field.

Editors fix what `kb check` points at, so every error must carry the line of the offending key,
including nested ones such as `benefits[2].value`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


# libyaml's parser when present: parsing every file is most of a build's time.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FrontMatterError(ValueError):
    def __init__(self, line: int, message: str, field: str = "front matter"):
        self.line = line
        self.field = field
        self.message = message
        super().__init__(f"{line}: {field}: {message}")


@dataclass
class Parsed:
    data: dict[str, Any]
    body: str
    body_line: int          # 1-based line where the body starts
    _root: yaml.Node

    def line_of(self, loc: tuple) -> int:
        """Line of the deepest node along loc (a tuple of keys and list indexes) that exists."""
        node = self._root
        line = node.start_mark.line + 2
        for key in loc:
            child = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):
                        child, line = v, k.start_mark.line + 2
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
                child = node.value[key]
                line = child.start_mark.line + 2
            if child is None:
                break
            node = child
        return line


def parse(text: str) -> Parsed:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise FrontMatterError(1, "文件必须以 YAML front matter 开头（第一行为 ---）")
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), None)
    if end is None:
        raise FrontMatterError(1, "front matter 没有结束行 ---")
    front = "\n".join(lines[1:end])
    try:
        root = yaml.compose(front, Loader=_Loader)
        data = _Loader(front).construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = (mark.line + 2) if mark else 2
        raise FrontMatterError(line, f"YAML 语法错误：{exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise FrontMatterError(2, f"YAML 语法错误：{exc}") from None
    if not isinstance(data, dict) or root is None:
        raise FrontMatterError(2, "front matter 必须是键值映射（key: value）")
    body = "\n".join(lines[end + 1 :])
    return Parsed(data=data, body=body, body_line=end + 2, _root=root)
