"""The Whoosh adapter: everything that knows Whoosh lives in this folder.

schema (fields and the jieba tokenizer) → writer (documents → segments) → arrays (numpy views of a
generation) → evaluate (a query on those arrays) → searcher (filters, facets, highlighting, pages).
"""
