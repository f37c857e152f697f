"""Enterprise profile → ranked technologies with reasons and matching cases (TF-IDF over the entries)."""
