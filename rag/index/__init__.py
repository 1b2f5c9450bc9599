"""Chunks → a versioned index on disk: vectors, BM25, sentence vectors, a second model's vectors, category prior, behind one Store interface."""

from .build import (
    FORMAT,
    Index,
    LawInfo,
    build_index,
    check_stale,
    live_manifest,
    encoded_texts,
    in_shard,
    open_index,
    recorded_model,
    write_atomic,
)
from .lexical import ASKING, TOPIC_MARKERS, LexicalIndex, Tokenizer, content_terms, content_words, strip_filler, tokenize
from .milvus_store import valid_collection_name
from .prior import PRIOR_FILE, PRIOR_PATH, CategoryPrior, load_prior
from .rescore import Rescorer, rescorer_option
from .sentences import SentenceVectors, sentence_texts
from .store import IndexType, Store, StoreSpec, build_faiss

__all__ = [
    "Index",
    "LawInfo",
    "FORMAT",
    "build_index",
    "open_index",
    "check_stale",
    "live_manifest",
    "Rescorer",
    "rescorer_option",
    "encoded_texts",
    "in_shard",
    "recorded_model",
    "write_atomic",
    "Store",
    "StoreSpec",
    "IndexType",
    "build_faiss",
    "valid_collection_name",
    "LexicalIndex",
    "Tokenizer",
    "TOPIC_MARKERS",
    "ASKING",
    "tokenize",
    "content_terms",
    "content_words",
    "strip_filler",
    "SentenceVectors",
    "sentence_texts",
    "CategoryPrior",
    "PRIOR_FILE",
    "PRIOR_PATH",
    "load_prior",
]
