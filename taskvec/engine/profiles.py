"""Built-in model profiles: the prompts each well-known embedding model was trained with, per task.

A profile is chosen by matching the model's name. Where a model folder carries its own sentence-transformers
files, those win for pooling, normalisation and sequence length; the profile supplies prompts (and defaults for
folders without those files). Every prompt below names its source.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

# (query prompt, document prompt) per task kind; a symmetric task uses the same prompt on both sides.
Prompts = dict[str, tuple[str, str]]

# The folder of adapters shipped with taskvec: adapters/<model slug>/<task>/ (installed as taskvec.adapters).
SHIPPED_ADAPTERS = Path(__file__).resolve().parents[2] / "adapters"


@dataclass(frozen=True)
class TaskVerdict:
    """What a built-in task runs with by default, as the ship rule decided it on the held-out panel
    (taskvec.eval.ship, docs/panel.md): the shipped adapter or none (alone, or blended with the bare model at
    ``blend``, taskvec.engine.blend), the profile's prompt or none, and why."""

    adapter: bool
    prompt: bool
    why: str
    blend: float | None = None

    @property
    def status(self) -> str:
        return "adapter" if self.adapter else "prompt" if self.prompt else "bare"


@dataclass(frozen=True)
class ModelProfile:
    name: str
    match: tuple[str, ...]  # lower-case substrings of the model name or folder name
    prompts: Prompts
    source: str
    pooling: str = "mean"
    normalize: bool = True
    max_seq_length: int = 512
    padding_side: str = "right"
    adapters_slug: str | None = None  # subfolder of SHIPPED_ADAPTERS holding this model's task adapters
    task_descriptions: dict[str, str] = field(default_factory=dict)
    # Per built-in task: the ship rule's verdict. A task without one runs the profile's prompts, unchecked.
    verdicts: dict[str, TaskVerdict] = field(default_factory=dict)

    def task_prompts(self, task: str, kind: str) -> tuple[str, str]:
        """(query, document) prompts of a built-in task: its own where the profile names it, else its kind's."""
        return self.prompts.get(task, self.prompts.get(kind, ("", "")))

    def adapter_folder(self, task: str) -> Path | None:
        """The adapter shipped for ``task`` (adapters/<slug>/<task>), whether or not it runs by default."""
        if not self.adapters_slug:
            return None
        folder = _shipped_adapters_root() / self.adapters_slug / task
        return folder if (folder / "adapter_config.json").is_file() else None

    def shipped_adapter(self, task: str) -> Path | None:
        """The adapter ``task`` runs with by default: the shipped one, only where the verdict says so and the
        folder's own panel record (written by ``taskvec eval panel --card``) passes the ship rule too, so that an
        adapter written over the shipped one by ``taskvec train`` never runs unless it passed."""
        folder = self.adapter_folder(task)
        verdict = self.verdicts.get(task)
        if folder is None or verdict is None or not verdict.adapter:
            return None
        return folder if panel_passes(folder, verdict.blend) else None

    def shipped_reranker(self) -> Path | None:
        """The rerank adapter the built-in ``rerank`` task runs: the shipped one, only where its own record says it
        passed the rerank ship rule (``taskvec eval checks/panel --rerank --card``; taskvec.train.rerank_card)."""
        folder = self.adapter_folder("rerank")
        if folder is None:
            return None
        try:
            ships = json.loads((folder / "taskvec_training.json").read_text()).get("ships")
        except (OSError, ValueError, AttributeError):
            return None
        return folder if ships is True else None


def panel_passes(folder: Path, blend: float | None = None) -> bool:
    """Whether an adapter folder's recorded panel (taskvec_training.json) passes the ship rule, read in full, at
    the adapter share ``blend`` (None: the adapter alone): a pass at one share says nothing of another."""
    try:
        panel = json.loads((folder / "taskvec_training.json").read_text())["panel"]
        decision = panel["decision"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(decision.get("adapter")) and not decision.get("provisional", True) and panel.get("blend") == blend


def _shipped_adapters_root() -> Path:
    """The shipped adapters: the repository's adapters/ folder, or the installed taskvec.adapters package."""
    if SHIPPED_ADAPTERS.is_dir():
        return SHIPPED_ADAPTERS
    try:
        import taskvec.adapters as pkg

        return Path(next(iter(pkg.__path__)))
    except ImportError:  # pragma: no cover
        return SHIPPED_ADAPTERS


_MINILM_VERDICTS = {
    "retrieval": TaskVerdict(
        adapter=True,
        prompt=False,
        why="adapter: the multi-domain adapter (SciFact, STS-B pairs, TAT-QA finance, Stack Overflow; LoRA on every "
        "linear layer) is up on argkp-retrieval on the held-out panel (nDCG@10 +0.0318, noise 0.0115) and level on "
        "medquad-retrieval (-0.0081, noise 0.0139) and wikiqa-retrieval (+0.0006, noise 0.0156); the profile gives "
        "retrieval no prompt",
    ),
    "similarity": TaskVerdict(
        adapter=True,
        prompt=False,
        why="adapter: on the held-out panel the shipped adapter (no prompt) is up on sick-similarity (Spearman "
        "+0.0067, noise 0.0024) and argkp-pairs (cosine AP +0.0140, noise 0.0059) and level on biosses-similarity",
    ),
    "classification": TaskVerdict(
        adapter=False,
        prompt=False,
        why="bare model: no adapter ships for classification; every adapter read on its panel (the sentiment "
        "task's, alone and blended at 0.5 and 0.75, and the multi-domain, similarity and topical-source adapters of "
        "docs/training-data.md) is below the bare model on agnews-classification, the sentiment adapter by -0.0158 "
        "(noise 0.0047); the profile gives classification no prompt",
    ),
    "sentiment": TaskVerdict(
        adapter=True,
        prompt=False,
        why="adapter: the sentiment adapter (trained on AmazonCF counterfactual sentences and Emotion tweets) is up "
        "on fpb-sentiment (accuracy +0.0090, noise 0.0056) and emobank-sentiment (+0.0180, noise 0.0068) and level "
        "on dailydialog-emotion (+0.0089, noise 0.0097) on the sentiment task's held-out panel; the profile gives "
        "sentiment no prompt",
    ),
    "clustering": TaskVerdict(
        adapter=True,
        prompt=True,
        blend=0.25,
        why="adapter blended with the bare model at share 0.25 (taskvec.engine.blend): on the held-out panel the "
        "blend is level on banking77-clustering (V-measure +0.0008, noise 0.0037), agnews-clustering (+0.0065, "
        "noise 0.0086), medquad-clustering (+0.0072, noise 0.0117) and argkp-topic-clustering (+0.0003, noise "
        "0.0061), where the shipped adapter alone with its "
        "'topic: ' prompt is below the bare model on banking77-clustering (-0.0059, noise 0.0040); the share was "
        "chosen on validation sets outside the panel (docs/training-data.md)",
    ),
    "code": TaskVerdict(
        adapter=False,
        prompt=False,
        why="bare model: on the held-out panel the profile's 'query: ' / 'code: ' prompts are below the bare model "
        "on cosqa-code (nDCG@10 -0.0236, noise 0.0163) and level on nl2bash-code (-0.0027, noise 0.0116) and "
        "conala-code (-0.0102, noise 0.0130); no adapter is shipped for code",
    ),
}

# Qwen3-Embedding instructions, from the model card and its evaluation code ("Instruct: {task}\nQuery:").
_QWEN3 = "Instruct: {}\nQuery:"

PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile(
        name="all-MiniLM-L6-v2",
        match=("all-minilm-l6-v2",),
        # Not instruction-tuned: the model card gives no prompts. These short prompts are taskvec's own; each
        # shipped LoRA adapter was trained with its task's prompt, so prompt and adapter work as a pair.
        prompts={
            # No prompt for retrieval, similarity and classification. Measured on the validation splits carved
            # from the training data, the prompts cost the base model points ("query: "/"passage: " SciFact nDCG@10
            # 0.8815 -> 0.8754, "paraphrase: " STS-B Spearman 0.8645 -> 0.8520) and adapters trained with them
            # barely won those back; without a prompt an adapter starts exactly at the base model, so early stopping
            # can never ship one that is worse on validation than the model without it.
            "retrieval": ("", ""),
            "similarity": ("", ""),
            "classification": ("", ""),
            "clustering": ("topic: ", "topic: "),
            "code": ("query: ", "code: "),
        },
        source="taskvec's own prompts, trained together with the shipped adapters (adapters/all-MiniLM-L6-v2)",
        max_seq_length=256,
        adapters_slug="all-MiniLM-L6-v2",
        # The ship rule on the held-out panel (docs/panel.md; each adapter's card records the figures): an adapter
        # or prompt runs by default only where it is below the bare model on no panel set beyond that set's noise.
        verdicts=_MINILM_VERDICTS,
    ),
    ModelProfile(
        name="bge-v1.5",
        match=("bge-small-en-v1.5", "bge-base-en-v1.5", "bge-large-en-v1.5", "bge-"),
        # BGE model card: the instruction goes on retrieval queries only; passages and symmetric tasks get none.
        prompts={
            "retrieval": ("Represent this sentence for searching relevant passages: ", ""),
            "code": ("Represent this sentence for searching relevant passages: ", ""),
            "similarity": ("", ""),
            "classification": ("", ""),
            "clustering": ("", ""),
        },
        source="BAAI/bge-*-en-v1.5 model card (query instruction for retrieval); mteb bge_models.py",
        pooling="cls",
    ),
    ModelProfile(
        name="e5-v2",
        match=("multilingual-e5", "e5-small-v2", "e5-base-v2", "e5-large-v2", "e5-"),
        # E5 model card: "query: " / "passage: " for retrieval; "query: " on both sides for symmetric tasks.
        prompts={
            "retrieval": ("query: ", "passage: "),
            "code": ("query: ", "passage: "),
            "similarity": ("query: ", "query: "),
            "classification": ("query: ", "query: "),
            "clustering": ("query: ", "query: "),
        },
        source="intfloat/e5-*-v2 and multilingual-e5 model cards (FAQ: prefixes per task type)",
    ),
    ModelProfile(
        name="nomic-embed-text-v1.5",
        match=("nomic-embed-text",),
        prompts={
            "retrieval": ("search_query: ", "search_document: "),
            "code": ("search_query: ", "search_document: "),
            "similarity": ("classification: ", "classification: "),
            "classification": ("classification: ", "classification: "),
            "clustering": ("clustering: ", "clustering: "),
        },
        source="nomic-ai/nomic-embed-text-v1.5 model card (task instruction prefixes)",
        max_seq_length=8192,
    ),
    ModelProfile(
        name="snowflake-arctic-embed",
        match=("snowflake-arctic-embed", "arctic-embed"),
        prompts={
            "retrieval": ("Represent this sentence for searching relevant passages: ", ""),
            "code": ("Represent this sentence for searching relevant passages: ", ""),
            "similarity": ("", ""),
            "classification": ("", ""),
            "clustering": ("", ""),
        },
        source="Snowflake/snowflake-arctic-embed-* model cards (query prefix for retrieval only)",
        pooling="cls",
    ),
    ModelProfile(
        name="qwen3-embedding",
        match=("qwen3-embedding",),
        # Qwen3-Embedding model card: instruct the query side only for retrieval; symmetric tasks instruct both.
        prompts={
            "retrieval": (
                _QWEN3.format("Given a web search query, retrieve relevant passages that answer the query"),
                "",
            ),
            "code": (
                _QWEN3.format("Given a code search query, retrieve relevant code that answers the query"),
                "",
            ),
            "similarity": (_QWEN3.format("Retrieve semantically similar text"),) * 2,
            "classification": (_QWEN3.format("Classify the given text by its topic, sentiment or intent"),) * 2,
            # the form of Qwen3's own instructions for MTEB's sentiment and emotion sets ("Classify the emotion
            # expressed in the given Twitter message ...", "Classify the sentiment expressed in the given movie review")
            "sentiment": (_QWEN3.format("Classify the sentiment or emotion expressed in the given text"),) * 2,
            "clustering": (_QWEN3.format("Identify the topic or theme of the given text"),) * 2,
        },
        source="Qwen/Qwen3-Embedding model card and evaluation instructions (last-token pooling, left padding)",
        pooling="lasttoken",
        max_seq_length=8192,
        padding_side="left",
    ),
    ModelProfile(
        name="gte",
        match=("gte-small", "gte-base", "gte-large", "thenlper/gte"),
        prompts={k: ("", "") for k in ("retrieval", "code", "similarity", "classification", "clustering")},
        source="thenlper/gte-* model card: no instructions needed",
    ),
)

# Used for any model that no profile matches: no prompts, the folder's own settings.
GENERIC_PROFILE = ModelProfile(
    name="generic",
    match=(),
    prompts={k: ("", "") for k in ("retrieval", "code", "similarity", "classification", "clustering")},
    source="no known profile: no prompts; add them in a tasks TOML file",
)


def profile_for(model_name: str, folder: Path | None = None) -> ModelProfile:
    """The first profile whose pattern appears in the model's name (or folder name)."""
    haystack = f"{model_name} {folder.name if folder else ''}".lower()
    for profile in PROFILES:
        if any(pattern in haystack for pattern in profile.match):
            return profile
    return GENERIC_PROFILE
