"""An agent-style session with the taskvec MCP server, driven through the MCP Python client over stdio.

It starts `taskvec serve` as a subprocess (as Claude Desktop or VS Code would), then does what an agent does:

  1. indexes a small household handbook, written for this example, with task 'retrieval';
  2. searches it with the right task and prints the hits;
  3. searches it with a task it was not indexed with: the guard refuses, and the refusal says what to do;
  4. follows that advice (index for 'similarity' too) and finds a paraphrase;
  5. indexes a few labelled examples and classifies new texts few-shot, then zero-shot from label descriptions.

    python examples/agent_session.py                     # bundled all-MiniLM-L6-v2, a temporary store
    python examples/agent_session.py --store ./demo-db --keep
    TASKVEC_MODEL=/path/to/model python examples/agent_session.py

It exits with status 1 if anything unexpected happens: a tool error where none was due, no refusal where one
was, or (with --check-answers, the default for the bundled model) a wrong top answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import textwrap
import traceback
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import TextContent

HANDBOOK = [
    ("bread-proof", "kitchen", "Dough left to rise too long collapses in the oven: the gluten stretches past its limit "
     "and the loaf bakes flat and dense. Shape it when it has roughly doubled."),
    ("knife-care", "kitchen", "Wash a good kitchen knife by hand and dry it at once; the dishwasher dulls the edge "
     "and loosens the handle."),
    ("rice-rinse", "kitchen", "Rinse rice until the water runs clear, so the grains cook separately instead of "
     "turning into one sticky mass."),
    ("tomato-split", "garden", "Tomatoes split when heavy rain follows a dry spell: the fruit swells faster than its "
     "skin can stretch. Water evenly and mulch the bed."),
    ("compost-smell", "garden", "A compost heap that smells of ammonia holds too much green material; mix in dry "
     "leaves, cardboard or straw."),
    ("lawn-moss", "garden", "Moss takes over a lawn in shade and in compacted, wet soil. Aerate it in autumn and let "
     "more light through."),
    ("chain-skip", "bicycle", "A chain that skips when you pedal hard is usually worn and stretched; replace it "
     "before it wears out the cassette as well."),
    ("brake-squeal", "bicycle", "Squealing rim brakes usually mean dirty pads or rims; clean both with alcohol and "
     "angle the pads slightly."),
    ("tyre-pressure", "bicycle", "Check tyre pressure every week: soft tyres pinch-flat on kerbs and make every ride "
     "slower."),
    ("emergency-fund", "money", "Keep three months of essential spending in an easy-access savings account before "
     "you start investing."),
    ("receipts", "money", "Keep the receipts of work expenses for at least six years, in case the tax office asks "
     "for them."),
    ("card-abroad", "money", "When paying abroad, choose the local currency: the card terminal's own conversion "
     "usually has a poor exchange rate."),
]  # fmt: skip
QUESTIONS = [  # (question, the id a good model ranks first)
    ("Why did my loaf come out flat?", "bread-proof"),
    ("My bike chain slips when I climb a hill", "chain-skip"),
    ("How long should I hold on to expense receipts?", "receipts"),
    ("Why are my tomatoes cracking?", "tomato-split"),
]
PARAPHRASE = ("Wash the rice until the water is clear so it does not go sticky.", "rice-rinse")
EXAMPLES = [  # labelled examples for few-shot classification
    ("Simmer the onions slowly until they caramelise.", "kitchen"),
    ("The sauce split when I added cold butter.", "kitchen"),
    ("Sow the carrots thinly in light, stone-free soil.", "garden"),
    ("Aphids are all over the roses again.", "garden"),
    ("The rear derailleur needs a quarter turn on the barrel adjuster.", "bicycle"),
    ("My inner tube keeps going flat overnight.", "bicycle"),
    ("Set up a standing order to savings on payday.", "money"),
    ("The bank charged me an overdraft fee.", "money"),
]
TO_CLASSIFY = [  # (text, expected label)
    ("The sourdough starter smells like nail polish.", "kitchen"),
    ("Slugs ate all my lettuce seedlings.", "garden"),
    ("The gears will not shift onto the smallest cog.", "bicycle"),
    ("Should I pay off my credit card before saving?", "money"),
]
LABELS = {
    "kitchen": "cooking, baking and food",
    "garden": "plants, lawns and growing vegetables",
    "bicycle": "bike repair and cycling",
    "money": "saving, spending, banks and taxes",
}


class Unexpected(Exception):
    """Something an agent would not expect: the session stops and the script exits with status 1."""


def say(text: str = "", indent: int = 0, *, wrap: bool = True) -> None:
    prefix = " " * indent
    if wrap and text:
        text = textwrap.fill(text, width=100, initial_indent=prefix, subsequent_indent=prefix)
    print(text if wrap else prefix + text)


def shorten(text: str, width: int = 72) -> str:
    return textwrap.shorten(text, width=width, placeholder=" …")


async def call(client: Client, tool: str, arguments: dict[str, Any], *, refused: bool = False) -> Any:
    """Call a tool; the structured result, or (refused=True) the error text of the refusal that must come."""
    result = await client.call_tool(tool, arguments)
    text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
    if result.is_error and not refused:
        raise Unexpected(f"{tool} failed: {text}")
    if refused and not result.is_error:
        raise Unexpected(f"{tool} should have been refused, but answered: {shorten(text, 200)}")
    return text if refused else result.structured_content


def first_hit(result: dict[str, Any]) -> dict[str, Any]:
    if not result["hits"]:
        raise Unexpected(f"no hits for {result['query']!r}")
    return result["hits"][0]


def check(ok: bool, what: str, strict: bool) -> str:
    """✓ or ✗ for an answer; a wrong one stops the session when answers are checked."""
    if not ok and strict:
        raise Unexpected(what)
    return "✓" if ok else "✗"


async def session(client: Client, strict: bool) -> None:
    tools = await client.list_tools()
    say(f"tools: {', '.join(t.name for t in tools.tools)}")

    say()
    say("1. Index the household handbook for question answering (task 'retrieval').")
    docs = [{"id": i, "text": text, "metadata": {"topic": topic}} for i, topic, text in HANDBOOK]
    indexed = await call(client, "index", {"collection": "handbook", "task": "retrieval", "documents": docs})
    counts = f"{indexed['documents']} documents: {indexed['inserted']} new, {indexed['updated']} updated"
    say(f"{counts}, in {indexed['seconds']:.1f}s", 3)
    say(indexed["space"]["description"], 3)

    say()
    say("2. Search with the task the collection was indexed with.")
    for question, expected in QUESTIONS:
        found = await call(client, "search", {"collection": "handbook", "query": question, "limit": 3})
        mark = check(first_hit(found)["id"] == expected, f"expected {expected!r} first for {question!r}", strict)
        say(f"Q: {question}  (expected first: {expected}) {mark}", 3)
        for rank, hit in enumerate(found["hits"], 1):
            say(f"{rank}. [{hit['score']:.3f}] {hit['id']:14} {shorten(hit['text'], 60)}", 6, wrap=False)

    say()
    say("3. Search with a task the collection was not indexed with ('similarity'): the guard refuses.")
    refusal = await call(
        client, "search", {"collection": "handbook", "query": PARAPHRASE[0], "task": "similarity"}, refused=True
    )
    if "task='retrieval'" not in refusal or "task='similarity'" not in refusal:
        raise Unexpected(f"the refusal does not name the held task and the way out: {refusal}")
    say("Refused, as it should be. The error the agent reads:", 3)
    say(refusal.removeprefix("Error executing tool search: "), 6)

    say()
    say("4. Follow its advice: index the handbook for 'similarity' too, then look for a paraphrase.")
    await call(client, "index", {"collection": "handbook", "task": "similarity", "documents": docs})
    described = await call(client, "describe_collection", {"collection": "handbook"})
    spaces = [f"{s['space']['task']} ({s['rows']} rows)" for s in described["spaces"]]
    say(f"'handbook' now holds: {', '.join(spaces)}", 3)
    similar = await call(client, "similar", {"collection": "handbook", "text": PARAPHRASE[0], "limit": 2})
    top = first_hit(similar)
    mark = check(top["id"] == PARAPHRASE[1], f"expected {PARAPHRASE[1]!r} first for the paraphrase", strict)
    say(f"{PARAPHRASE[0]!r} is closest to {top['id']} [{top['score']:.3f}] (expected {PARAPHRASE[1]}) {mark}", 3)

    say()
    say("5. Classify new texts: few-shot from labelled examples, then zero-shot from label descriptions.")
    labelled = [{"text": text, "metadata": {"label": label}} for text, label in EXAMPLES]
    await call(client, "index", {"collection": "examples", "task": "classification", "documents": labelled})
    texts = [text for text, _ in TO_CLASSIFY]
    say(f"{'text':48} {'expected':8} | {'few-shot':10} | zero-shot", 3, wrap=False)
    few = await call(client, "classify", {"texts": texts, "collection": "examples"})
    zero = await call(client, "classify", {"texts": texts, "labels": LABELS})
    for (text, expected), a, b in zip(TO_CLASSIFY, few["results"], zero["results"], strict=True):
        marks = [check(r["label"] == expected, f"expected {expected!r} for {text!r}", strict) for r in (a, b)]
        line = f"{shorten(text, 48):48} {expected:8} | {a['label']:8} {marks[0]} | {b['label']:8} {marks[1]}"
        say(line, 3, wrap=False)


async def run(args: argparse.Namespace) -> int:
    store = args.store or Path(tempfile.mkdtemp(prefix="taskvec-example-"))
    script = Path(sys.executable).with_name("taskvec")
    command, command_args = (
        (str(script), ["serve"]) if script.exists() else (sys.executable, ["-m", "taskvec.cli", "serve"])
    )
    env = {k: v for k, v in os.environ.items() if k.startswith(("TASKVEC_", "HF_", "TRANSFORMERS_"))}
    env |= {"TASKVEC_STORE": str(store), "TOKENIZERS_PARALLELISM": "false"}
    env.setdefault("TASKVEC_LOG_LEVEL", "WARNING")  # the server logs to stderr; keep this transcript readable
    if args.model:
        env["TASKVEC_MODEL"] = args.model
    strict = args.check_answers if args.check_answers is not None else "TASKVEC_MODEL" not in env

    say("taskvec agent session")
    say(f"server: {command} {' '.join(command_args)} (stdio), store {store}")
    say(f"model: {env.get('TASKVEC_MODEL', 'bundled all-MiniLM-L6-v2')}; answers checked: {'yes' if strict else 'no'}")
    params = StdioServerParameters(command=command, args=command_args, env=env)
    try:
        async with Client(params, read_timeout_seconds=args.timeout) as client:
            await session(client, strict)
    except Unexpected as exc:
        say()
        say(f"UNEXPECTED: {exc}")
        return 1
    except Exception as exc:  # the server did not start, a call timed out, the connection broke
        traceback.print_exc()
        say()
        say(f"UNEXPECTED: {type(exc).__name__}: {exc} (traceback on stderr)")
        return 1
    finally:
        if not args.store and not args.keep:
            shutil.rmtree(store, ignore_errors=True)
    say()
    say("Done: every step behaved as expected" + ("." if strict else " (answers shown, not checked)."))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="LanceDB folder to use (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary store")
    parser.add_argument("--model", help="model folder or hub id for the server (default: TASKVEC_MODEL or bundled)")
    parser.add_argument(
        "--check-answers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="fail on a wrong top answer (default: on for the bundled model, off for any other)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for any one answer")
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
