"""Question → ranked hits: follow-ups rewritten, named articles looked up, dense and BM25 scores fused."""

from .conversation import CUES, Cues, rewrite_question
from .lookup import ArticleRef, find_article_refs
from .rescore import RESCORE_SETTINGS_PATH, RescoreSettings, load_rescore_settings
from .search import Mode, RetrieveOptions, scope_of, search

__all__ = ["search", "RetrieveOptions", "Mode", "scope_of", "rewrite_question", "CUES", "Cues", "find_article_refs", "ArticleRef", "RescoreSettings", "load_rescore_settings", "RESCORE_SETTINGS_PATH"]
