"""A search request → a response, on any engine: plan the text (query.py), correct typos and
homophones (spelling.py), execute the plan on the engine's Reader (kb/search/engine.py)."""
from __future__ import annotations

from dataclasses import replace
from typing import Callable

from ..analysis import Analysis, normalize
from .engine import MAX_QUERY_CHARS, Reader, SearchRequest, SearchResponse
from .query import plan_query
from ..spelling import correct


def search_planned(reader: Reader, analysis: Analysis, req: SearchRequest) -> SearchResponse:
    """The request's text planned with this analysis and executed on the reader, with correction."""
    return spelled(analysis, req,
                   lambda r: reader.execute(plan_query(analysis, r.text[:MAX_QUERY_CHARS]), r),
                   lambda text: reader.matches(plan_query(analysis, text)))


def spelled(shared: Analysis, req: SearchRequest, run: Callable[[SearchRequest], SearchResponse],
            finds_anything: Callable[[str], bool]) -> SearchResponse:
    """Search with typo/homophone correction (kb/spelling.py): the corrected query is used
    when the words it corrects find nothing as typed, or when the query as typed finds nothing;
    otherwise the response only offers it. `run` searches a request, `finds_anything` tells whether
    some text matches a document; every reader passes its own, so they answer alike."""
    if not req.correct:
        return run(req)
    norm = normalize(req.text[:MAX_QUERY_CHARS]).lower()
    correction, use = correct(shared.speller, norm, shared.cuts(norm), finds_anything)
    if correction is None:
        return run(req)
    response = run(replace(req, text=correction.text)) if use else run(req)
    if not use and response.total == 0:
        corrected = run(replace(req, text=correction.text))
        if corrected.total:
            response, use = corrected, True
    correction.applied = use
    response.query = req.text
    response.correction = correction
    return response
