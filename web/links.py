"""The links of one search page (facet toggles, chips, sort, pager, export), built from its parameters once.

A page has a link per facet value and per active filter, and each link carries every parameter; the
parameters are encoded once per request and each link is a join of those pieces, so building a link
costs one pass over the (capped, see web.context) parameters and never re-parses the request.
"""
from __future__ import annotations

from typing import Iterable
from urllib.parse import urlencode

from .context import FILTER_PARAMS

# what a search link carries: unknown parameters are not echoed into every link of the page
LINKED_PARAMS = ("q", "sort", "per_page", *FILTER_PARAMS)


class SearchLinks:
    def __init__(self, params: Iterable[tuple[str, str]], search_path: str, export_path: dict[str, str]):
        self._pieces = [((k, v), urlencode([(k, v)])) for k, v in params if k in LINKED_PARAMS]
        self._search_path = search_path
        self._export_path = export_path

    def _join(self, path: str, pieces: list[tuple[tuple[str, str], str]]) -> str:
        return path + "?" + "&".join(encoded for _, encoded in pieces)

    def url_with(self, **changes) -> str:
        """This search with some parameters toggled (filters), replaced (others) or removed (None); page 1."""
        pieces = self._pieces
        for key, value in changes.items():
            if value is None:
                pieces = [p for p in pieces if p[0][0] != key]
                continue
            pair = (key, str(value))
            if key in FILTER_PARAMS and any(p[0] == pair for p in pieces):
                pieces = [p for p in pieces if p[0] != pair]
            else:
                if key not in FILTER_PARAMS:
                    pieces = [p for p in pieces if p[0][0] != key]
                pieces = pieces + [(pair, urlencode([pair]))]
        return self._join(self._search_path, pieces)

    def page_url(self, page: int) -> str:
        return self._join(self._search_path, self._pieces + [(("page", str(page)), f"page={page}")])

    def export_url(self, fmt: str) -> str:
        """The export of what this page shows (every page of it)."""
        return self._join(self._export_path[fmt], self._pieces)
