"""vidrec: a batch-first video recommendation platform. The core package is stdlib-only at import."""

__version__ = "0.1.0"
