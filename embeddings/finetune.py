"""Fine-tune an embedding model on (question, gold passage, hard negatives) examples.

The loss is sentence-transformers' MultipleNegativesRankingLoss: every other passage in the batch
is a negative, and each example brings its own hard negatives (mined by the caller, e.g. BM25's
best non-gold articles). The tuned folder is an ordinary sentence-transformers model; the settings
and a digest of the training data are saved beside it as ``finetune.json``, so that a folder says
how it was made.

Needs the ``finetune`` extra (``datasets``, ``accelerate``): ``pip install -e .[finetune]``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

__all__ = ["TrainingExample", "FinetuneSettings", "finetune", "FINETUNE_FILE"]

FINETUNE_FILE = "finetune.json"


@dataclass(frozen=True)
class TrainingExample:
    query: str
    positive: str
    negatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class FinetuneSettings:
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    negatives: int = 3  # hard negatives per example; examples with fewer are dropped
    freeze_embeddings: bool = True  # the 250k-row token table stays as is: 800 questions cannot move it well
    max_seq_length: int = 256
    seed: int = 0


def _digest(examples: Sequence[TrainingExample]) -> str:
    hasher = hashlib.sha256()
    for example in examples:
        hasher.update(json.dumps(asdict(example), ensure_ascii=False).encode("utf-8"))
    return hasher.hexdigest()[:16]


def finetune(
    base: str | Path,
    examples: Sequence[TrainingExample],
    out: str | Path,
    *,
    settings: FinetuneSettings = FinetuneSettings(),
    query_prompt: str = "query: ",
    passage_prompt: str = "passage: ",
    device: str | None = None,
    negatives_mined_by: str = "",
) -> Path:
    """Train a copy of the model folder ``base`` and write it to ``out`` (replaced atomically).
    ``negatives_mined_by`` (e.g. "hybrid:indexes/stard-laws-round1") is recorded with the settings."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
        from sentence_transformers.sentence_transformer.training_args import BatchSamplers
    except ImportError:  # sentence-transformers 5.x
        from sentence_transformers.losses import MultipleNegativesRankingLoss
        from sentence_transformers.training_args import BatchSamplers

    usable = [e for e in examples if len(e.negatives) >= settings.negatives]
    if not usable:
        raise ValueError(f"没有可用的训练样例（每条需要至少 {settings.negatives} 个难负例）")
    negative_columns = [f"negative_{i + 1}" for i in range(settings.negatives)]
    columns: dict[str, list[str]] = {"query": [e.query for e in usable], "positive": [e.positive for e in usable]}
    for i, name in enumerate(negative_columns):
        columns[name] = [e.negatives[i] for e in usable]
    dataset = Dataset.from_dict(columns)

    model = SentenceTransformer(str(base), device=device, local_files_only=True)
    model.max_seq_length = settings.max_seq_length
    if settings.freeze_embeddings:
        for name, parameter in model.named_parameters():
            if "word_embeddings" in name:
                parameter.requires_grad_(False)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=".finetune-", dir=out.parent) as work:
        arguments = SentenceTransformerTrainingArguments(
            output_dir=str(Path(work) / "checkpoints"),
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            warmup_ratio=settings.warmup_ratio,
            seed=settings.seed,
            data_seed=settings.seed,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            prompts={"query": query_prompt, "positive": passage_prompt, **{n: passage_prompt for n in negative_columns}},
            save_strategy="no",
            dataloader_pin_memory=model.device.type == "cuda",  # pinned memory only helps copies to a GPU (on CPU: a warning)
            report_to=[],
            logging_steps=10,
            disable_tqdm=False,  # the trainer's progress bar with its ETA (on CPU an epoch takes tens of minutes)
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=arguments, train_dataset=dataset, loss=MultipleNegativesRankingLoss(model)
        )
        trainer.train()
        staged = Path(work) / "model"
        model.save(str(staged))
        record = {
            "base": str(base),
            "settings": asdict(settings),
            "negatives_mined_by": negatives_mined_by,
            "examples": len(usable),
            "examples_digest": _digest(usable),
            "train_seconds": round(time.perf_counter() - started, 1),
        }
        (staged / FINETUNE_FILE).write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
        previous = out.with_name(out.name + ".previous")
        if out.exists():
            out.rename(previous)
        staged.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    return out
