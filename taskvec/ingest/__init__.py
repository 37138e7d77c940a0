"""Getting documents in: file readers (JSONL, CSV/TSV, Parquet, text, Markdown, folders) and token chunking."""

from taskvec.ingest.chunking import chunk_documents
from taskvec.ingest.readers import SUPPORTED_SUFFIXES, read_documents

__all__ = ["SUPPORTED_SUFFIXES", "chunk_documents", "read_documents"]
