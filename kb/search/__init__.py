"""Chinese search: query (text → plan) and engine (the interface), with the Whoosh adapter in `whoosh/`.

Text analysis (jieba, glossary, synonyms) is `kb.analysis`, shared with the recommender; what each
entry contributes to the index is `kb.fields`. Everything outside this package talks to the engine
through `kb.search.engine`.
"""
