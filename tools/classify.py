"""The ``classify`` and ``cluster`` tools."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from taskvec.control import CallControl
from taskvec.results import ClassifyResult, ClusterResult
from taskvec.tools.common import FilterField, task_field
from taskvec.tools.spec import ToolInput, ToolSpec, read_only

if TYPE_CHECKING:
    from taskvec.service import TaskvecService


class ClassifyInput(ToolInput):
    texts: list[str] = Field(description="Texts to label", min_length=1)
    labels: list[str] | dict[str, str] | None = Field(
        default=None,
        description="Zero-shot: label names, or {name: description} (descriptions usually score better)",
    )
    collection: str | None = Field(
        default=None,
        description="Few-shot: a collection of labelled examples indexed with this task, label in metadata",
    )
    task: str = task_field("classification")
    top_k: int | None = Field(default=None, ge=1, description="How many labels to score per text (default all)")
    method: Literal["centroid", "knn"] = Field(default="centroid", description="Few-shot scoring method")
    label_field: str = Field(default="label", description="Few-shot: metadata key that holds each example's label")


def _classify(service: TaskvecService, params: ClassifyInput, control: CallControl) -> ClassifyResult:
    return service.classify(
        params.texts,
        labels=params.labels,
        collection=params.collection,
        task=params.task,
        top_k=params.top_k,
        method=params.method,
        label_field=params.label_field,
    )


CLASSIFY = ToolSpec(
    name="classify",
    title="Classify texts",
    description=(
        "Label texts. Zero-shot: pass labels (names, or {name: description}). Few-shot: pass the collection of "
        "labelled examples (indexed with the same task and metadata {label: ...}). Give exactly one of labels or "
        "collection. task='classification' for what a text is about (topics, intents), task='sentiment' for how "
        "its writer feels or stands (sentiment, emotion, attitude). Returns, per text, the best label and the "
        "score of each label."
    ),
    input_model=ClassifyInput,
    output_model=ClassifyResult,
    annotations=read_only("Classify texts"),
    handler=_classify,
)


class ClusterInput(ToolInput):
    collection: str | None = Field(
        default=None, description="Cluster this collection's documents (indexed with the task), or pass texts instead"
    )
    texts: list[str] | None = Field(default=None, description="Cluster these texts instead of a collection")
    k: int | None = Field(default=None, ge=1, description="Number of clusters (default: chosen by silhouette)")
    task: str = task_field("clustering")
    filter: FilterField


def _cluster(service: TaskvecService, params: ClusterInput, control: CallControl) -> ClusterResult:
    return service.cluster(
        collection=params.collection, texts=params.texts, k=params.k, task=params.task, filter=params.filter
    )


CLUSTER = ToolSpec(
    name="cluster",
    title="Cluster texts",
    description=(
        "Group a collection's documents (indexed with task='clustering') or a list of texts by topic with k-means. "
        "k is chosen by silhouette when omitted. Returns the groups, largest first, each with a representative "
        "text (closest to its centre) and up to 20 members."
    ),
    input_model=ClusterInput,
    output_model=ClusterResult,
    annotations=read_only("Cluster texts"),
    handler=_cluster,
)
