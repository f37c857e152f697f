"""Fuzz the JSON API from its own OpenAPI document: no 5xx, every response matching the schema.

Every operation × 100 generated cases (600 requests for the six operations) per run, each counted so the test fails if
fewer than 500 were actually sent.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings as hyp_settings

from kb.config import load_settings
from kb.knowledge import KnowledgeBase
from web import create_app

from conftest import case as case_text, technology, write

SENT: list[str] = []
# The app has to exist when the module is collected: schemathesis parametrizes the test by the operations of the
# app's own OpenAPI document (narrowed to this knowledge base's sectors, specs and ids), and its lazy loader
# (schemathesis.pytest.from_fixture) does not run under pytest 9. The folder is removed when the run ends.
_FOLDER = tempfile.TemporaryDirectory(prefix="kb-fuzz-")


def _app():
    root = Path(_FOLDER.name)
    content = root / "content"
    write(content, "technologies", "general-activated-carbon", technology(
        "general-activated-carbon", "活性炭吸附法有机废气治理", tags="[溶剂, 危险废物]",
        body="废气中的挥发性有机物被活性炭孔隙吸附。"))
    write(content, "technologies", "coking-cdq", technology(
        "coking-cdq", "干熄焦", sectors="[焦化, 钢铁]", tags="[余热, 水耗]", process="熄焦", category="节能",
        body="红焦在干熄炉内与循环气体换热。", extra="investment_wan: 8000\ninvestment_source: {kind: 案例报道, title: 干熄焦项目投产报道, "
              "issuer: 某日报, year: 2017, origin: 新闻转载, confidence: 中}\n"))
    write(content, "cases", "case-coating-vocs", case_text("case-coating-vocs"))
    settings = load_settings(root / "instance", bundled_content=content, editable_content=root / "editable")
    knowledge = KnowledgeBase(settings)
    knowledge.build()           # as `kb build` does before the site is served
    knowledge.close()
    return create_app({"KB_SETTINGS": settings})


schema = schemathesis.openapi.from_wsgi("/api/openapi.json", _app())


@schema.parametrize()
@hyp_settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_openapi_document(case):
    SENT.append(case.operation.label)
    case.call_and_validate()


def test_fuzzing_sent_enough_requests():
    # runs after the parametrized test in file order
    if not SENT:
        pytest.skip("fuzz test did not run in this session (deselected)")
    assert len(SENT) >= 500, f"only {len(SENT)} generated requests"
    operations = {f"{method.upper()} {path}" for path, item in schema.raw_schema["paths"].items() for method in item}
    assert set(SENT) == operations
