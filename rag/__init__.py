"""法规问答: retrieval-augmented question answering over Chinese laws and regulations."""

from .answering import LLMConfig, load_llm_config
from .api import ArticleView, answer, answer_stream, article, get_index, retrieve
from .errors import GenerationError, IndexUnavailable, InvalidQuestion, RagError
from .index import build_index, open_index
from .ingest import NoTextLayer, ParseError, load_laws, parse_law
from .library import (
    AddResult,
    LawEntry,
    Library,
    LibraryError,
    Preview,
    add_laws,
    create_library,
    list_laws,
    list_libraries,
    open_library,
    preview_laws,
    remove_laws,
)
from .records import Answer, Article, Chunk, Citation, Hit, Law, Stance

__all__ = [
    "answer",
    "answer_stream",
    "LLMConfig",
    "load_llm_config",
    "retrieve",
    "get_index",
    "article",
    "ArticleView",
    "build_index",
    "open_index",
    "parse_law",
    "load_laws",
    "Answer",
    "Article",
    "Chunk",
    "Citation",
    "Hit",
    "Law",
    "Stance",
    "RagError",
    "InvalidQuestion",
    "IndexUnavailable",
    "GenerationError",
    "ParseError",
    "NoTextLayer",
    "Library",
    "LawEntry",
    "Preview",
    "AddResult",
    "LibraryError",
    "create_library",
    "open_library",
    "list_libraries",
    "list_laws",
    "preview_laws",
    "add_laws",
    "remove_laws",
]
