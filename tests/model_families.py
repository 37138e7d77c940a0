"""Tiny random models of each architecture family the profiles name, saved in sentence-transformers' folder format.

Each builder writes what the real model's folder has: ``config.json`` and weights, a tokenizer, ``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json`` and ``config_sentence_transformers.json`` with the
profile's retrieval prompts. The folder is named after the real model, so ``profile_for`` picks its profile.
Hidden sizes are tiny (32): a folder builds and loads in well under a second.

Tokenizers:

* BERT families (bge, gte, nomic-style) use the real uncased WordPiece tokenizer of the bundled all-MiniLM-L6-v2,
  which bge and gte share.
* XLM-RoBERTa (multilingual-e5) and Qwen3: no installed package ships their tokenizers, so each is transformers'
  own tokenizer class (``XLMRobertaTokenizer``: SentencePiece-style Unigram with ``<s>``=0, ``<pad>``=1;
  ``Qwen2Tokenizer``: byte-level BPE, pad ``<|endoftext|>``) built over a small vocabulary made here. The
  pipelines (normaliser, pre-tokenizer, special tokens, post-processor) are the real classes'; only the
  vocabularies are small. The Qwen3 one appends ``<|endoftext|>`` to every input and pads on the left, as
  Qwen3-Embedding's tokenizer does.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HIDDEN = 32
MAX_SEQ_LENGTH = 64

# Words the small vocabularies know as whole pieces (others fall back to characters or bytes).
_CORPUS = (
    "the quick brown fox jumps over lazy dog vaccines teach immune system to recognise a pathogen short "
    "considerably longer sentence that goes on and about nothing in particular query passage search document "
    "instruct given web retrieve relevant passages answer represent this for searching classification topic "
    "The Vaccines A Instruct Query Represent"
)


@dataclass(frozen=True)
class Family:
    """A model family: how to build its tiny folder, and what the engine should make of it."""

    name: str  # the folder name, chosen so that profile_for picks the intended profile
    profile: str  # the ModelProfile.name it must resolve to
    pooling: str
    build: Callable[[Path, int], None]  # writes config, weights and tokenizer into the folder
    lora_targets: tuple[str, ...]  # attention projections a LoRA adapter attaches to
    padding_side: str = "right"


def _save_random(folder: Path, seed: int, model_class: Any, config: Any, tokenizer: Any) -> None:
    """A randomly initialised ``model_class(config)`` (seeded) and ``tokenizer``, saved into ``folder``."""
    import torch

    torch.manual_seed(seed)
    model_class(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


# The size all tiny models share: 2 layers of width 32, feed-forward 64.
_TINY = {"hidden_size": HIDDEN, "num_hidden_layers": 2, "intermediate_size": 64}


def save_tiny_bert(folder: Path, seed: int) -> None:
    """A 2-layer random BERT (hidden 32) with the real all-MiniLM-L6-v2 (uncased WordPiece) tokenizer."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from taskvec.engine.model_files import bundled_default_model_path

    config = BertConfig(vocab_size=30522, num_attention_heads=2, max_position_embeddings=128, **_TINY)
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_default_model_path()))
    _save_random(folder, seed, BertModel, config, tokenizer)


def xlmr_tokenizer() -> Any:
    """transformers' XLMRobertaTokenizer over a small Unigram vocabulary (fairseq's special ids: <s> 0, <pad> 1)."""
    from transformers import XLMRobertaTokenizer

    chars = string.ascii_letters + string.digits + string.punctuation
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + w, -5.0) for w in dict.fromkeys(_CORPUS.split())]
    vocab += [("▁", -8.0)] + [(c, -10.0) for c in chars] + [("▁" + c, -11.0) for c in chars]
    vocab.append(("<mask>", 0.0))
    return XLMRobertaTokenizer(vocab=vocab)


def _save_xlmr(folder: Path, seed: int) -> None:
    from transformers import XLMRobertaConfig, XLMRobertaModel

    tokenizer = xlmr_tokenizer()
    config = XLMRobertaConfig(
        vocab_size=len(tokenizer),
        num_attention_heads=2,
        max_position_embeddings=MAX_SEQ_LENGTH + 2,  # positions start after the pad id, as in XLM-R's 514
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **_TINY,
    )
    _save_random(folder, seed, XLMRobertaModel, config, tokenizer)


def qwen_tokenizer() -> Any:
    """transformers' Qwen2Tokenizer (byte-level BPE) with merges learnt from a few sentences; it appends
    <|endoftext|> to every input and pads on the left, like Qwen3-Embedding's tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import Qwen2Tokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    bpe.train_from_iterator([_CORPUS] * 3, trainer)
    learnt = json.loads(bpe.to_str())["model"]
    tokenizer = Qwen2Tokenizer(vocab=learnt["vocab"], merges=[tuple(m) for m in learnt["merges"]], padding_side="left")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    eos = tokenizer.eos_token
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"$A {eos}", pair=f"$A {eos} $B {eos}", special_tokens=[(eos, tokenizer.eos_token_id)]
    )
    return tokenizer


def _save_qwen3(folder: Path, seed: int) -> None:
    from transformers import Qwen3Config, Qwen3Model

    tokenizer = qwen_tokenizer()
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in the real models
        head_dim=8,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **_TINY,
    )
    _save_random(folder, seed, Qwen3Model, config, tokenizer)


_BERT_LORA = ("query", "key", "value")
FAMILIES = {
    f.name: f
    for f in (
        Family("bge-small-en-v1.5-tiny", "bge-v1.5", "cls", save_tiny_bert, _BERT_LORA),
        Family("gte-small-tiny", "gte", "mean", save_tiny_bert, _BERT_LORA),
        Family("multilingual-e5-small-tiny", "e5-v2", "mean", _save_xlmr, _BERT_LORA),
        Family(
            "Qwen3-Embedding-tiny", "qwen3-embedding", "lasttoken", _save_qwen3, ("q_proj", "k_proj", "v_proj"), "left"
        ),
        # Matryoshka: nomic-embed-text-v1.5's prompts and mean pooling on a BERT body. The real model is a
        # NomicBert, which needs trust_remote_code; the engine does not load remote code.
        Family("nomic-embed-text-v1.5-tiny", "nomic-embed-text-v1.5", "mean", save_tiny_bert, _BERT_LORA),
    )
}


def make_family_model(root: Path, name: str, *, seed: int = 0) -> Path:
    """Build the tiny folder of family ``name`` under ``root`` (named after the family, so the profile matches)."""
    from taskvec.engine.profiles import profile_for

    family = FAMILIES[name]
    folder = root / family.name
    folder.mkdir(parents=True, exist_ok=True)
    family.build(folder, seed)
    profile = profile_for(family.name, folder)
    assert profile.name == family.profile, f"{family.name} resolves to profile {profile.name}"
    query, document = profile.prompts["retrieval"]
    write_sentence_transformers_files(folder, family.pooling, prompts={"query": query, "document": document})
    return folder


def write_sentence_transformers_files(
    folder: Path, pooling: str, *, normalize: bool = True, prompts: dict[str, str] | None = None
) -> None:
    """modules.json, the pooling config and sentence_bert_config.json; config_sentence_transformers.json with
    ``prompts`` (empty ones left out, as sentence-transformers would) where prompts are given."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {
                "word_embedding_dimension": HIDDEN,
                "pooling_mode_cls_token": pooling == "cls",
                "pooling_mode_mean_tokens": pooling == "mean",
                "pooling_mode_lasttoken": pooling == "lasttoken",
                "include_prompt": True,
            }
        )
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False})
    )
    if prompts is not None:
        (folder / "config_sentence_transformers.json").write_text(
            json.dumps({"prompts": {k: v for k, v in prompts.items() if v}, "similarity_fn_name": "cosine"})
        )
