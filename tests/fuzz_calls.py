"""A seeded generator of hostile MCP messages for the stdio fuzz test, as raw JSON-RPC lines.

Every ``index``, ``delete`` and ``drop_collection`` it makes is broken in at least one field, so none may change
the store (a drop names the fuzzed store's collection only in a call that is malformed otherwise, or by a near
miss of its name); reads (``get_documents`` among them) may succeed or fail. Each item is (line, request id or None
for a notification, kind).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

TOOLS = [
    "index", "search", "similar", "classify", "cluster", "rerank", "list_collections", "describe_collection", "delete",
    "get_documents", "drop_collection",
]  # fmt: skip
HOME = "home"  # the collection the fuzzed store holds
# Names that are not HOME but look like it (or like every collection), and values that are no name at all.
NEAR_MISSES = [
    "Home", "HOME", "home ", " home", "home\n", "home\u0000", "hom", "homee", "home/", "../home", "./home", "home.lance",
    "home') OR (1=1", "*", "%", ".", "..", "", "missing", 5, None, True, [HOME], {"name": HOME},
]  # fmt: skip
HOSTILE_STRINGS = [
    "",
    " ",
    "\n",
    "fz\n",
    "../etc",
    "a/b",
    "x" * 70,
    "home') OR (1=1",
    "null",
    "\u0000",
    "é中文🙂",
    "'; DROP TABLE home; --",
    "a" * 5000,
]
HUGE_NUMBERS = [10**30, -(10**30), 2**63, 2**53 + 1, 1e308, -1e-308, 0, -1]
SURROGATE = "\\ud800"  # written into the JSON text as an escape: a lone surrogate after parsing


def _deep_filter(depth: int, op: str) -> dict[str, Any]:
    node: dict[str, Any] = {"lang": "en"}
    for _ in range(depth):
        node = {op: node} if op == "$not" else {op: [node]}
    return node


def _filter(rng: random.Random) -> Any:
    choices: list[Any] = [
        {"lang": "en"},
        {"year": {"$gte": rng.choice(HUGE_NUMBERS)}},
        {"year": {"$in": list(range(rng.choice([1, 1000, 200_000])))}},
        {"tag": {"$in": ["a", 1]}},
        {"$or": []},
        {"bad key!": 1},
        {"x": {"$between": [1, 2]}},
        {"x": [1, 2]},
        {"x": {"y": {"z": 1}}},
        "{not json",
        "[1, 2]",
        _deep_filter(rng.choice([5, 17, 44, 60]), rng.choice(["$not", "$and", "$or"])),
        {"lang": rng.choice(HOSTILE_STRINGS)},
        {"year": {"$gt": "2020-01-01"}},
        {"year": {"$gt": True}},
    ]
    return rng.choice(choices)


def _texts(rng: random.Random) -> Any:
    return rng.choice(
        [[], ["ok", ""], "not a list", [1, 2], ["same"] * 50, ["x" * 100] * 3, [rng.choice(HOSTILE_STRINGS)]]
    )


def _bad_document(rng: random.Random) -> Any:
    return rng.choice(
        [
            {"text": ""},
            {"text": "   "},
            {"text": 5},
            {"id": "x" * 600, "text": "long id"},
            {"text": "ok", "metadata": {"nested": {"a": 1}}},
            {"text": "ok", "metadata": {"n": rng.choice([10**30, 2**64])}},
            {"text": "ok", "metadata": {"bad key!": 1}},
            {"text": "ok", "colour": "red"},
            {"text": "ok", "metadata": "tags"},
            "just a string",
            None,
        ]
    )


def _arguments(tool: str, rng: random.Random) -> tuple[dict[str, Any], bool]:
    """Arguments for ``tool`` and whether they are certainly invalid."""
    collection = rng.choice(["home", "home", "missing", *HOSTILE_STRINGS, 5, None])
    task = rng.choice(["retrieval", "similarity", "clustering", "classification", "code", "summarise", "", 7])
    if tool == "index":
        good = {"id": f"new-{rng.randrange(10**6)}", "text": "a fine document"}
        docs = [good, _bad_document(rng)]
        rng.shuffle(docs)
        args: dict[str, Any] = {"collection": collection, "documents": docs, "task": task}
        if rng.random() < 0.3:
            args["chunking"] = rng.choice([{"max_tokens": 4}, {"overlap": -1}, {"enabled": "yes"}, {"oops": 1}])
        return args, True
    if tool == "delete":
        args = rng.choice(
            [
                {"collection": collection},
                {"collection": collection, "ids": "not-a-list"},
                {"collection": collection, "ids": [1, 2]},
                {"collection": collection, "filter": _deep_filter(rng.choice([17, 44]), "$not")},
                {"collection": collection, "filter": {"year": {"$in": list(range(5000))}}},
                {"collection": collection, "filter": "{not json"},
                {"collection": collection, "filter": {"x": {"$between": [1, 2]}}},
                {"collection": "missing-collection", "ids": ["a"]},
            ]
        )
        return args, True
    if tool == "drop_collection":
        args = rng.choice(
            [
                {"collection": rng.choice(NEAR_MISSES)},
                {
                    "collection": HOME,
                    rng.choice(["confirm", "force", "ids", "filter"]): rng.choice([True, [HOME], "yes"]),
                },
                {"name": HOME},
                {"collections": [HOME]},
                {},
            ]
        )
        return args, True
    if tool == "get_documents":
        args = {"collection": collection}
        if rng.random() < 0.7:
            args["ids"] = rng.choice(
                [["h1", "h2", "nope"], [], "h1", [1, 2], ["x" * 600], [f"h{i}" for i in range(1025)], [None], None]
            )
        if rng.random() < 0.4:
            args["filter"] = _filter(rng)
        if rng.random() < 0.4:
            args["limit"] = rng.choice([0, 1, 10, 1000, 1001, -5, 10**20, "ten", None])
        if rng.random() < 0.4:
            args["offset"] = rng.choice([0, 5, -1, 10**20, 2**63, "x", None])
        if rng.random() < 0.1:
            args["peek"] = True  # not an argument of get_documents
        return args, False
    if tool in ("search", "similar"):
        key = "query" if tool == "search" else "text"
        args = {key: rng.choice(["kettle", "", "x" * 3000, *HOSTILE_STRINGS]), "collection": collection}
        if rng.random() < 0.6:
            args["filter"] = _filter(rng)
        if rng.random() < 0.4:
            args["limit"] = rng.choice([0, 1, 10, 1001, -5, 10**20, "ten"])
        if tool == "search" and rng.random() < 0.3:
            args["mode"] = rng.choice(["vector", "hybrid", "semantic"])
        if rng.random() < 0.5:
            args["task"] = task
        return args, False
    if tool == "classify":
        args = {"texts": _texts(rng)}
        args.update(
            rng.choice([{"labels": ["a", "b"]}, {"labels": []}, {"labels": {"a": ""}}, {"collection": collection}, {}])
        )
        return args, False
    if tool == "cluster":
        args = rng.choice([{"texts": _texts(rng)}, {"collection": collection}, {"texts": ["same text"] * 10}, {}])
        if rng.random() < 0.4:
            args["k"] = rng.choice([0, 1, 2, 5000, -1, 10**20])
        return args, False
    if tool == "describe_collection":
        return {"collection": collection}, False
    if tool == "rerank":  # the fuzzed server has no rerank task: every call must fail cleanly
        args = {"query": rng.choice(["kettle", "", *HOSTILE_STRINGS]), "texts": _texts(rng)}
        if rng.random() < 0.4:
            args["limit"] = rng.choice([0, 1, 10, -5, 10**20, "ten"])
        if rng.random() < 0.5:
            args["task"] = rng.choice(["rerank", *HOSTILE_STRINGS, 7])
        return args, False
    return {}, False


def fuzz_messages(seed: int, count: int) -> Iterator[tuple[bytes, int | None, str]]:
    rng = random.Random(seed)
    for n in range(count):
        request_id = 1 + n
        roll = rng.random()
        if roll < 0.07:  # broken at the wire: not JSON, lone surrogates, deep nesting, wrong shapes
            kind = rng.choice(["not-json", "surrogate", "deep", "shape", "unknown-method", "unknown-tool"])
            if kind == "not-json":
                line = f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", "params": {{'
            elif kind == "surrogate":
                line = json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "id": request_id,
                        "method": "tools/call",
                        "params": {"name": "search", "arguments": {"collection": "home", "query": "@@"}},
                    }
                ).replace("@@", SURROGATE)
            elif kind == "deep":
                flt = _deep_filter(rng.choice([100, 300]), "$and")
                params = {"name": "search", "arguments": {"collection": "home", "query": "x", "filter": flt}}
                line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
            elif kind == "shape":
                line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": 5})
            elif kind == "unknown-method":
                line = json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/explode"})
            else:
                line = json.dumps(
                    {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": "explode"}}
                )
            yield line.encode(), request_id, "wire"
            continue
        tool = rng.choice(TOOLS)
        arguments, broken = _arguments(tool, rng)
        message = {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool}}
        message["params"]["arguments"] = arguments
        yield json.dumps(message).encode(), request_id, "bad-write" if broken else "call"
