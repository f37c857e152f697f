"""Side-by-side speed and relevance measurements of kb against peer engines (`python -m bench`)."""
