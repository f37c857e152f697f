"""Chinese search: analysis (text → tokens) → schema → writer (index) → query and searcher.

Everything outside this package talks to the engine through `kb.search.engine`.
"""
