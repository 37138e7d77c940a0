"""The ``rerank`` tool: order texts the agent already has by relevance to a query, with a cross-encoder."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from taskvec.control import CallControl
from taskvec.results import RerankResult
from taskvec.tools.spec import ToolInput, ToolSpec, read_only

if TYPE_CHECKING:
    from taskvec.service import TaskvecService


class RerankInput(ToolInput):
    query: str = Field(description="The question or need to rank the texts for")
    texts: list[str] = Field(min_length=1, description="The texts to rank (search hits, snippets, passages)")
    task: str = Field(
        default="rerank", description="The rerank task (kind 'rerank') that scores the pairs; see taskvec://tasks"
    )
    limit: int | None = Field(default=None, ge=1, description="Return only the best this many (default: all)")


def _rerank(service: TaskvecService, params: RerankInput, control: CallControl) -> RerankResult:
    return service.rerank(params.query, params.texts, params.task, limit=params.limit, control=control)


RERANK = ToolSpec(
    name="rerank",
    title="Rerank texts",
    description=(
        "Order a list of texts by relevance to a query with a cross-encoder, which reads the query and each text "
        "together: more precise than embedding similarity, and slower (one forward pass per text). Use it on "
        "texts you already have; to rerank a collection's hits, call search with rerank=true instead. Returns "
        "the texts best first, each with its position in the request and its score."
    ),
    input_model=RerankInput,
    output_model=RerankResult,
    annotations=read_only("Rerank texts"),
    handler=_rerank,
)
