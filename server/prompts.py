"""Prompts an agent's user can pick (``prompts/list``): the usual taskvec workflows, spelt out step by step with
the right task for each step, so the agent does not have to work out the task rules from the tool descriptions."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer


def register_prompts(server: MCPServer, *, writes: bool, default_collection: str | None) -> None:
    """The prompts that fit the server: one that indexes only where writing is allowed."""
    fallback = default_collection or "notes"

    def collection_of(collection: str | None) -> str:
        return collection or fallback

    if writes:

        @server.prompt(
            name="index_and_search",
            title="Index documents, then search them",
            description="Index the given files or texts for retrieval, then answer a question from them",
        )
        def index_and_search(documents: str, question: str, collection: str | None = None) -> str:
            name = collection_of(collection)
            return (
                f"Make these documents searchable, then answer a question from them.\n\nDocuments: {documents}\n"
                f"Question: {question}\n\n"
                f"1. Read the documents and call the `index` tool with collection={name!r}, task='retrieval' and "
                "one entry per document: a stable id (the file name or a title), its text, and any metadata worth "
                "filtering on (source, date, author). Long texts are chunked by the server; send each document "
                "whole.\n"
                f"2. Call `search` with collection={name!r}, task='retrieval' and the question as the query "
                "(rephrase it as a question, not keywords; add filter={...} on metadata where the question "
                "narrows it; mode='hybrid' when exact names or numbers matter).\n"
                "3. Answer from the hits only, citing the id of each document you use. If no hit answers the "
                "question, say so instead of guessing."
            )

        @server.prompt(
            name="find_near_duplicates",
            title="Find near-duplicates",
            description="Find paraphrases and near-duplicates of a text among a collection's documents",
        )
        def find_near_duplicates(text: str, collection: str | None = None, threshold: str = "0.9") -> str:
            name = collection_of(collection)
            return (
                f"Find the documents of collection {name!r} that say the same as this text:\n\n{text}\n\n"
                f"1. Call `describe_collection` for {name!r}. If it does not list the task 'similarity', read its "
                "documents with `get_documents` (follow next_offset) and index them again with `index`, "
                "task='similarity', keeping their ids and metadata: near-duplicates are found in that task's "
                "embedding space, not in retrieval's.\n"
                f"2. Call `similar` with collection={name!r}, the text, and threshold={threshold}.\n"
                "3. List the matches with their ids and scores, most similar first, and say how each differs from "
                "the text, if at all."
            )

    @server.prompt(
        name="answer_from_collection",
        title="Answer from a collection",
        description="Answer a question from the documents of an indexed collection, citing them",
    )
    def answer_from_collection(question: str, collection: str | None = None) -> str:
        name = collection_of(collection)
        return (
            f"Answer this question from the documents in collection {name!r}: {question}\n\n"
            f"1. Call `describe_collection` for {name!r} to see the tasks it was indexed with. Search with one of "
            "them: 'retrieval' for questions over documents, 'code' for code, 'similarity' for texts like a "
            "given one. A search in any other task is refused.\n"
            "2. Call `search` with that task and the question; try a rephrased query or mode='hybrid' if the "
            "first hits miss.\n"
            "3. Answer from the hits only, citing the id of each document you use, and say so when they do not "
            "answer the question."
        )
