"""Law file → Law and Article records → chunks; the tables read from law texts (definitions, provisions, sanctions, names)."""

from .chunks import (
    DOCUMENT_HEADER,
    ChunkSettings,
    chinese_date,
    chunk_law,
    chunk_laws,
    embed_text,
    split_sentences,
    without_header,
)
from .definitions import Definition, DefinitionTable, extract_definitions, is_definition_question
from .laws import MAX_PDF_PAGES, SUFFIXES, NoTextLayer, ParseError, law_files, load_laws, parse_law, parse_text, pdf_text
from .names import LawNames, short_title
from .numerals import CN_NUMBER, cn_to_int, int_to_cn, make_label, parse_label
from .provisions import Provision, ProvisionTable, asked_provision
from .sanctions import MAX_SANCTIONS, SanctionTable, asks_sanction

__all__ = [
    "SUFFIXES",
    "ParseError",
    "NoTextLayer",
    "MAX_PDF_PAGES",
    "pdf_text",
    "law_files",
    "load_laws",
    "parse_law",
    "parse_text",
    "ChunkSettings",
    "chunk_law",
    "chunk_laws",
    "embed_text",
    "split_sentences",
    "without_header",
    "chinese_date",
    "DOCUMENT_HEADER",
    "Definition",
    "DefinitionTable",
    "extract_definitions",
    "is_definition_question",
    "Provision",
    "ProvisionTable",
    "asked_provision",
    "SanctionTable",
    "asks_sanction",
    "MAX_SANCTIONS",
    "LawNames",
    "short_title",
    "CN_NUMBER",
    "cn_to_int",
    "int_to_cn",
    "make_label",
    "parse_label",
]
