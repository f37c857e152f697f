"""清洁生产技术知识库: content files → validated documents → store → index and model → web and CLI."""

__version__ = "0.1.0"
