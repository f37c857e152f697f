"""Fuzz the JSON API from its own OpenAPI document: no 5xx, every response matching the schema.

Every operation × up to 100 generated cases per run, each counted so the test fails if fewer than 500 were actually
sent or an operation was left out.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings as hyp_settings

from kb.config import load_settings
from kb.knowledge import KnowledgeBase
from web import create_app
from web.openapi import openapi_document

from conftest import case as case_text, technology, write

BUNDLED_SPECS = Path(__file__).resolve().parents[1] / "kb" / "content" / "specs"
SENT: list[str] = []
RAN: set[tuple[str, str]] = set()        # the operations whose test ran in this process
# The operations come from the OpenAPI document's paths, which need no knowledge base; the app (and the schema it
# serves, narrowed to this knowledge base's sectors, specs and ids) is built by a fixture when the tests run, in
# pytest's own temporary folder. (schemathesis's lazy loader, schemathesis.pytest.from_fixture, does not run under
# pytest 9, so each test asks the loaded schema for its operation's Hypothesis strategy instead.)
OPERATIONS = [(path, method.upper()) for path, methods in openapi_document()["paths"].items() for method in methods]


@pytest.fixture(scope="module")
def served_schema(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    content = root / "content"
    write(content, "technologies", "general-activated-carbon", technology(
        "general-activated-carbon", "活性炭吸附法有机废气治理", tags="[溶剂, 危险废物]",
        body="废气中的挥发性有机物被活性炭孔隙吸附。"))
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        body="红焦在干熄炉内与循环气体换热。", extra="investment_wan: 8000\ninvestment_source: {kind: 案例报道, title: 干熄焦项目投产报道, "
              "issuer: 某日报, year: 2017, origin: 新闻转载, confidence: 中}\n"))
    write(content, "cases", "case-coating-vocs", case_text("case-coating-vocs"))
    spec = "spec-coking-hjt126-2003"             # a real spec with levels, so that /api/assess is in the document and fuzzed
    write(content, "specs", spec, (BUNDLED_SPECS / f"{spec}.md").read_text(encoding="utf-8"))
    settings = load_settings(root / "instance", bundled_content=content, editable_content=root / "editable")
    knowledge = KnowledgeBase(settings)
    knowledge.build()           # as `kb build` does before the site is served
    knowledge.close()
    return schemathesis.openapi.from_wsgi("/api/openapi.json", create_app({"KB_SETTINGS": settings}))


@pytest.mark.parametrize(("path", "method"), OPERATIONS, ids=[f"{m} {p}" for p, m in OPERATIONS])
def test_api_conforms_to_its_openapi_document(served_schema, path, method):
    operation = served_schema[path][method]
    RAN.add((path, method))

    @given(case=operation.as_strategy())
    @hyp_settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
    def conforms(case):
        SENT.append(operation.label)
        case.call_and_validate()

    conforms()


def test_fuzzing_sent_enough_requests():
    # runs after the parametrized test in file order (in one process: `make test` distributes by file)
    if RAN != set(OPERATIONS):
        pytest.skip("not every operation's fuzz test ran in this process (deselected, or split over xdist workers)")
    assert len(SENT) >= 500, f"only {len(SENT)} generated requests"
    assert set(SENT) == {f"{method} {path}" for path, method in OPERATIONS}
