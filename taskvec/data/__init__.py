"""The data layer: one reader per file layout, shared by the quality harness, training and ``taskvec index``.

Readers take a path, return plain dataclasses and raise :class:`~taskvec.errors.DataError` naming the file, the
line or field, and the fix. They read files where they lie and copy nothing (some sets are non-commercial).
Nothing here imports torch, lancedb or mcp.

- :mod:`~taskvec.data.records`: JSONL, CSV, TSV and Parquet records (each with its ``file:line``), text lines
- :mod:`~taskvec.data.fields`: column-name aliases (MTEB's, Hugging Face's) and checked field access
- :mod:`~taskvec.data.beir`: BEIR folders (corpus, queries, qrels)
- :mod:`~taskvec.data.sts`: the STS Benchmark's tab-separated files, with genre and source filters
- :mod:`~taskvec.data.pairs`: text pairs (scored or 0/1, MTEB's list records), the Twitter URL Corpus, and
  query/positive training records
- :mod:`~taskvec.data.labelled`: labelled texts (records, ``text;label`` lines)
- :mod:`~taskvec.data.newsgroups`: the 20 Newsgroups archive (posts, subjects, thread keys)
- :mod:`~taskvec.data.clustering`: clustering sets, MTEB's several-sets records included
- :mod:`~taskvec.data.splits`: seeded folds and validation carve-outs by group
- :mod:`~taskvec.data.licence`: the licence line beside a data set

Which layout a folder or path holds is decided by the callers: :mod:`taskvec.eval.datasets` (a folder per task
kind), :mod:`taskvec.train.data` (a training path) and :mod:`taskvec.ingest.readers` (documents to index).
"""
