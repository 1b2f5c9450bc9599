"""jieba with its dictionary read from a memory-mapped trie: the same words and tags, loaded in milliseconds.

jieba keeps its dictionary as two Python dicts built in every process: ``Tokenizer.FREQ`` (349k words and
their prefixes, 498k keys, unmarshalled from its cache: 1.5 s here) and posseg's ``word_tag_tab`` (parsed
from dict.txt at ``import jieba.posseg``: 0.5 s). Both hold the GIL, so they are most of a fresh process's
time to its first answer. Here both tables live in one ``marisa_trie.RecordTrie`` built once from jieba's
own dict.txt, cached in ``$RAG_HOME/jieba/`` and mapped at load; jieba's code runs unchanged on top of it,
so every segmentation and tag is jieba's (tests/test_jieba_trie.py compares them with a stock Tokenizer).

The tables are read-only: ``jieba.add_word`` and user dictionaries are not supported on them."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = ["install"]

_TRIE_FILE = "dict.marisa"
_META_FILE = "meta.json"  # total frequency and tag names; written before the trie, whose presence marks completion
_RECORD = "<IB"  # frequency, tag number (_NO_TAG: a prefix of a word, not a word)
_NO_TAG = 255
_MISSING = object()


def _records(trie, key: str, default=_MISSING):
    """The trie's records of key; a key it cannot hold (a lone surrogate is no UTF-8) is absent like any other."""
    try:
        return trie[key]
    except (KeyError, UnicodeEncodeError):
        if default is _MISSING:
            raise KeyError(key) from None
        return default


class _Frequencies(Mapping[str, int]):
    """jieba's FREQ: each word's frequency, 0 for a prefix of a word that is not one itself."""

    def __init__(self, trie) -> None:
        self._trie = trie

    def __getitem__(self, key: str) -> int:
        return _records(self._trie, key)[0][0]

    def get(self, key: str, default=None):
        records = _records(self._trie, key, None)
        return default if records is None else records[0][0]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _records(self._trie, key, None) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._trie.keys())

    def __len__(self) -> int:
        return len(self._trie)


class _Tags(Mapping[str, str]):
    """posseg's word_tag_tab: each dictionary word's part-of-speech tag."""

    def __init__(self, trie, names: list[str]) -> None:
        self._trie, self._names = trie, names

    def __getitem__(self, key: str) -> str:
        tag = _records(self._trie, key)[0][1]
        if tag == _NO_TAG:
            raise KeyError(key)
        return self._names[tag]

    def get(self, key: str, default=None):
        records = _records(self._trie, key, None)
        return default if records is None or records[0][1] == _NO_TAG else self._names[records[0][1]]

    def __iter__(self) -> Iterator[str]:
        return (key for key, (_, tag) in self._trie.items() if tag != _NO_TAG)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _read_dictionary(path: Path) -> tuple[dict[str, tuple[int, int]], int, list[str]]:
    """dict.txt as jieba reads it: later lines win, the total counts every line, prefixes get frequency 0."""
    records: dict[str, tuple[int, int]] = {}
    total, names = 0, []
    numbers: dict[str, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        word, frequency, tag = line.strip().split(" ")
        total += int(frequency)
        if tag not in numbers:
            numbers[tag] = len(names)
            names.append(tag)
        records[word] = (int(frequency), numbers[tag])
    for word in list(records):
        for end in range(1, len(word)):
            records.setdefault(word[:end], (0, _NO_TAG))
    if len(names) >= _NO_TAG:
        raise ValueError(f"jieba 词典的词性多于 {_NO_TAG} 种")
    return records, total, names


def _build(dictionary: Path, folder: Path) -> None:
    import marisa_trie

    records, total, names = _read_dictionary(dictionary)
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    try:
        (work / _META_FILE).write_text(json.dumps({"total": total, "tags": names}), encoding="utf-8")
        marisa_trie.RecordTrie(_RECORD, records.items()).save(str(work / _TRIE_FILE))
        os.replace(work, folder)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        if not (folder / _TRIE_FILE).is_file():  # not another process's finished copy
            raise


def _load(folder: Path) -> tuple[_Frequencies, _Tags, int]:
    """A built folder's tables (mapped, not read) and total frequency."""
    import marisa_trie

    meta = json.loads((folder / _META_FILE).read_text(encoding="utf-8"))
    trie = marisa_trie.RecordTrie(_RECORD)
    trie.mmap(str(folder / _TRIE_FILE))
    return _Frequencies(trie), _Tags(trie, meta["tags"]), meta["total"]


def install() -> None:
    """Point jieba's default tokenizer and posseg at the trie (built on first use); a no-op once done.
    Must run before anything imports jieba.posseg or segments text."""
    import jieba

    if isinstance(jieba.dt.FREQ, _Frequencies):
        return
    dictionary = Path(jieba.__file__).parent / "dict.txt"
    stat = dictionary.stat()
    from embeddings.home import cache_dir

    folder = cache_dir() / "jieba" / f"{jieba.__version__}-{stat.st_size}-{stat.st_mtime_ns}"
    if not (folder / _TRIE_FILE).is_file():
        _build(dictionary, folder)
    frequencies, tags, total = _load(folder)
    with jieba.dt.lock:
        jieba.dt.FREQ, jieba.dt.total, jieba.dt.initialized = frequencies, total, True
        # posseg reads its tags from the tokenizer's dict file at import: give it an empty one, then the trie
        jieba.dt.dictionary, default = os.devnull, jieba.dt.dictionary
        try:
            import jieba.posseg
        finally:
            jieba.dt.dictionary = default
        jieba.posseg.dt.word_tag_tab = tags
