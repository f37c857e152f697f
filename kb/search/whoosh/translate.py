"""The engine-neutral query plan (kb/search/query.py) → the Whoosh query objects the vectorised
evaluator (evaluate.py) and Whoosh's own collectors take.

The translation is one to one (Term → Term, AnyOf → Or, AllOf → And), so both read the plan with
Whoosh's semantics, which are the plan's: a compound sums its matching children's scores.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from whoosh import query as Q

from ..query import AllOf, AnyOf, Filter, Node, QueryPlan, Term


def whoosh_query(node: Node | None) -> Q.Query:
    if node is None:
        return Q.NullQuery
    if isinstance(node, Term):
        return Q.Term(node.field, node.text, boost=node.boost)
    if isinstance(node, AnyOf):
        return Q.Or([whoosh_query(part) for part in node.parts])
    if isinstance(node, AllOf):
        return Q.And([whoosh_query(part) for part in node.parts])
    raise TypeError(f"not a query plan node: {node!r}")


def whoosh_filter(filters: list[Filter]) -> Q.Query | None:
    """All filters, each any of its values; None when there is none (Whoosh's "no filter")."""
    clauses: list[Q.Query] = []
    for f in filters:
        terms = [Q.Term(f.field, value) for value in f.values]
        clauses.append(terms[0] if len(terms) == 1 else Q.Or(terms))
    return Q.And(clauses) if clauses else None


@dataclass
class WhooshPlan:
    """A query plan with its word groups as Whoosh queries; the words, synonyms, emphasis and
    expansions are the plan's own."""
    words: list[str]
    synonyms: dict[str, list[str]]
    groups: list[Q.Query]
    emphasis: list[float]
    expansions: dict[str, list[str]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    implied: list[str] = field(default_factory=list)

    def conjunction(self) -> Q.Query:
        return Q.And(self.groups) if len(self.groups) > 1 else (self.groups[0] if self.groups else Q.NullQuery)

    def disjunction(self) -> Q.Query:
        return Q.Or(self.groups) if len(self.groups) > 1 else self.conjunction()


def whoosh_plan(plan: QueryPlan) -> WhooshPlan:
    return WhooshPlan(plan.words, plan.synonyms, [whoosh_query(g) for g in plan.groups], plan.emphasis,
                      plan.expansions, plan.dropped, plan.sectors, plan.implied)
