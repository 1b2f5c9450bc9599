"""Hits → Answer: how well the articles answer (a Stance), the extractive reader, or an LLM grounded in them."""

from .abstention import (
    CALIBRATION_PATH,
    FEATURES,
    INDEX_CALIBRATION,
    Calibration,
    SecondArticle,
    StanceModel,
    Support,
    SupportModel,
    load_calibration,
    measure_support,
)
from .generate import (
    LLM,
    LLMConfig,
    add_llm_options,
    generate_answer,
    get_backend,
    llm_config_from_options,
    model_articles,
    load_llm_config,
    stream_answer,
)
from .llm_models import DEFAULT_LOCAL_LLM, LOCAL_LLMS, InstallError, install_llm, installed_llm, list_llms
from .reader import ABSTAIN_TEXT, READ_HITS, read

__all__ = [
    "read",
    "ABSTAIN_TEXT",
    "READ_HITS",
    "Support",
    "FEATURES",
    "measure_support",
    "SupportModel",
    "StanceModel",
    "Calibration",
    "SecondArticle",
    "CALIBRATION_PATH",
    "INDEX_CALIBRATION",
    "load_calibration",
    "LLM",
    "LLMConfig",
    "load_llm_config",
    "generate_answer",
    "get_backend",
    "model_articles",
    "stream_answer",
    "add_llm_options",
    "llm_config_from_options",
    "LOCAL_LLMS",
    "DEFAULT_LOCAL_LLM",
    "InstallError",
    "install_llm",
    "installed_llm",
    "list_llms",
]
