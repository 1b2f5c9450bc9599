"""Errors meant for the user: the CLI and UI print their message, never a traceback."""

__all__ = ["RagError", "InvalidQuestion", "IndexUnavailable", "GenerationError"]


class RagError(Exception):
    """Base of all errors whose message is written for the person using the tool."""


class InvalidQuestion(RagError, ValueError):
    pass


class IndexUnavailable(RagError):
    """The index cannot be used as it is; the message says what to run."""


class GenerationError(RagError):
    """The configured LLM cannot be loaded or reached, or failed while answering; the message says why."""
