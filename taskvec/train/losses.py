"""Training objectives, one per task kind, on L2-normalised embeddings.

* ``in_batch_contrastive`` (retrieval, code): each query's positive against every other document in the batch,
  plus any hard negatives (InfoNCE / MultipleNegativesRankingLoss). Documents equal to a query's own positive are
  masked, so a document shared by two queries is not its own negative.
* ``cosent`` and ``angle`` (similarity): pair ranking by score; they only compare pairs, so any score scale works.
* ``supervised_contrastive`` (classification, clustering): texts of one label pulled together, others pushed away
  (Khosla et al. 2020).
* ``listwise_distillation`` (retrieval with ``--teacher``): KL divergence from a teacher's softmax over each
  query's candidates to the student's (docs/distillation.md).
* ``matryoshka``: any of the above averaged over the full vectors and their renormalised prefixes (Kusupati et al.
  2022), so that a space truncated to those dimensions (``TASKVEC_TRUNCATE_DIM``) keeps more of its quality.
  Caveat: a short LoRA run on a backbone never trained for truncation left it level (docs/results/compression.md).
* ``similarity_anchor``: keeps the batch's cosine-similarity structure near the frozen base model's. It is what
  lets an adapter learn its task without forgetting what the base did well on sets it never saw. Caveat: not for
  the similarity task, whose loss is about that structure itself; there it leaves only changes specific to the
  training pairs (docs/anchor.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def in_batch_contrastive(
    queries: torch.Tensor,
    documents: torch.Tensor,
    positive_of: torch.Tensor,
    *,
    scale: float = 20.0,
    same_as_positive: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each query over all batch documents, its own positive the target.

    ``documents`` holds the positives first (row ``i`` of ``positive_of`` points at query ``i``'s) and any hard
    negatives after. ``same_as_positive[i, j]`` marks documents that are also relevant to query ``i`` (other than its
    target) and so must not count as negatives.
    """
    logits = scale * queries @ documents.T
    if same_as_positive is not None:
        target_mask = F.one_hot(positive_of, documents.shape[0]).bool()
        logits = logits.masked_fill(same_as_positive & ~target_mask, float("-inf"))
    return F.cross_entropy(logits, positive_of)


def _pairwise_rank_loss(sim: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """log(1 + sum exp(s_j - s_i)) over pairs where gold(i) > gold(j): the CoSENT form, any similarity."""
    diff = sim[None, :] - sim[:, None]  # diff[i, j] = sim_j - sim_i
    wanted = scores[:, None] > scores[None, :]  # i should be more similar than j
    diff = diff.masked_fill(~wanted, float("-inf"))
    zero = torch.zeros(1, dtype=diff.dtype, device=diff.device)
    return torch.logsumexp(torch.cat([zero, diff.flatten()]), dim=0)


def cosent(a: torch.Tensor, b: torch.Tensor, scores: torch.Tensor, *, scale: float = 20.0) -> torch.Tensor:
    """CoSENT (Su 2022): rank pairs' cosine similarities in the order of their gold scores."""
    sim = F.cosine_similarity(a, b, dim=-1) * scale
    return _pairwise_rank_loss(sim, scores)


def angle(a: torch.Tensor, b: torch.Tensor, scores: torch.Tensor, *, scale: float = 20.0) -> torch.Tensor:
    """AnglE (Li & Li 2023): CoSENT on ``|cos + sin|`` of the angle between the vectors, which keeps a gradient
    where cosine saturates near 1. Dimensions ``i`` and ``i + D/2`` pair up for the sine term, as in
    sentence-transformers' ``pairwise_angle_sim`` (the cosine + sine form of the complex division).
    """
    if a.shape[-1] % 2:
        a, b = F.pad(a, (0, 1)), F.pad(b, (0, 1))
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    first_a, last_a = torch.chunk(a, 2, dim=-1)
    first_b, last_b = torch.chunk(b, 2, dim=-1)
    sines = (last_a * first_b - first_a * last_b).sum(-1)
    sim = ((a * b).sum(-1) + sines).abs() * scale
    return _pairwise_rank_loss(sim, scores)


def supervised_contrastive(
    embeddings: torch.Tensor, labels: torch.Tensor, *, temperature: float = 0.05
) -> torch.Tensor:
    """SupCon: for each anchor with at least one same-label partner, the mean log-probability of its partners."""
    n = embeddings.shape[0]
    logits = embeddings @ embeddings.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=embeddings.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    has_positive = positives.any(dim=1)
    if not has_positive.any():
        return embeddings.sum() * 0.0  # keeps the graph; nothing to learn from this batch
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1) / positives.sum(dim=1).clamp_min(1)
    return -pos_log_prob[has_positive].mean()


def listwise_distillation(
    student: torch.Tensor, teacher: torch.Tensor, *, scale: float = 20.0, temperature: float = 0.05
) -> torch.Tensor:
    """KL(teacher || student) over one query's candidates: ``student`` holds the query's cosines with them,
    ``teacher`` the teacher's scores of the same candidates, in the same order. The student's logits are
    ``scale x cosine``, as in the contrastive loss; the teacher's are ``score / temperature``. Only the teacher's
    order and spacing within the list matter, not where its scores lie: a cross-encoder's sigmoid and a rerank
    adapter's ``cosine + head`` both distil.
    """
    target = torch.softmax(teacher.to(student.dtype) / temperature, dim=-1)
    log_student = torch.log_softmax(student * scale, dim=-1)
    return (target * (torch.log(target.clamp_min(1e-30)) - log_student)).sum()


def similarity_anchor(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference between the student's and the teacher's in-batch cosine-similarity matrices.

    Relational, not pointwise: the adapter may rotate the space (a prompt shifts every vector), but texts the base
    model found alike should stay alike unless the task loss says otherwise.
    """
    s = student @ student.T
    t = teacher @ teacher.T
    return ((s - t) ** 2).mean()


def matryoshka(loss: Callable[..., torch.Tensor], dims: Sequence[int], *vectors: torch.Tensor) -> torch.Tensor:
    """``loss(*vectors)`` averaged with the same loss on each ``dims`` prefix of every vector, renormalised.

    Equal weights, as in sentence-transformers' MatryoshkaLoss: the full space keeps a share of the gradient, so
    truncation is learnt without giving up the full dimension. Without ``dims`` it is ``loss(*vectors)``.
    """
    parts = [loss(*vectors)]
    parts += [loss(*(F.normalize(v[:, :dim], dim=-1) for v in vectors)) for dim in dims]
    return torch.stack(parts).mean()
