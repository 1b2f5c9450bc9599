"""Libraries of laws (knowledge bases) that people change themselves: add, preview, list and remove laws.

A library is a folder holding its law files and its index; every change is an incremental build
(rag.index.build_index: only new or changed articles are encoded, through the index's embedding cache)
that writes a whole new index version and switches to it atomically. Until the switch, questions are
answered from the previous version (rag.api.get_index follows the switch), and a change that fails
leaves the library as it was. The UI (ui/library.py), `rag library …` and the Gradio API call these
functions.

Layout of a library folder:
    library.json         name, creation time and settings (embedding model, store)
    laws/<id>.<suffix>   the law files, each under a name made from its content's SHA-256 (the name a file
                         was uploaded with is never used as a path; it is kept in the record beside it)
    laws/<id>.json       the file's record: name as uploaded, when and by whom it was added, what was parsed
    index/               the index; the law files of its live version are its manifest's inputs
    changes.jsonl        one line per change: time, action, laws, user (where the server has a login)
    .lock                held while a change is made

An index directory built by `rag index` (and the bundled laws' default index) opens as a read-only
library: its laws can be listed and read, not changed."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from embeddings.home import cache_dir
from embeddings.model import ModelSpec
from embeddings.registry import default_spec

from .errors import RagError
from .index import StoreSpec, build_index, write_atomic
from .ingest import ParseError, parse_law
from .records import Law

__all__ = [
    "Library",
    "LibraryInfo",
    "LawEntry",
    "Preview",
    "AddResult",
    "Upload",
    "Limits",
    "UPLOAD_LIMITS",
    "LOCAL_LIMITS",
    "LIBRARY_SUFFIXES",
    "LibraryError",
    "LibraryReadOnly",
    "UploadRefused",
    "library_root",
    "create_library",
    "open_library",
    "list_libraries",
    "library_info",
    "list_laws",
    "law_outline",
    "preview_laws",
    "add_laws",
    "remove_laws",
    "read_changes",
    "numbering_warnings",
]

LIBRARY_FILE = "library.json"
CHANGES_FILE = "changes.jsonl"
LAWS_DIR = "laws"
INDEX_DIR = "index"
LIBRARY_SUFFIXES = (".md", ".txt", ".docx", ".pdf")
_NAME = re.compile(r"^[\w\-]{1,40}$")  # letters (Chinese included), digits, _ and -: never a path of its own
_PREVIEW_ARTICLES = 3  # articles shown in a preview
_PREVIEW_CHARS = 160  # characters of each


@dataclass(frozen=True)
class Limits:
    """What one upload may hold. None: no limit."""

    files: int | None = 20
    file_bytes: int = 20 * 1024 * 1024  # 民法典 as a PDF is about 2 MB, as markdown 0.4 MB
    total_bytes: int | None = 100 * 1024 * 1024


UPLOAD_LIMITS = Limits()  # the web page and its API
LOCAL_LIMITS = Limits(files=None, total_bytes=None)  # rag library add: the files are the user's own


class LibraryError(RagError):
    """A library cannot be created, read or changed as asked; the message says why."""


class LibraryReadOnly(LibraryError):
    """The library is an index built by `rag index` (or the server is read-only): it cannot be changed here."""


class UploadRefused(LibraryError):
    """An upload breaks the limits (count, size, kind of file)."""


@dataclass(frozen=True)
class Library:
    """A library folder (writable) or an index directory opened as a read-only library."""

    name: str
    path: Path  # the library folder, or the index directory of a read-only one
    index: Path  # its index directory
    writable: bool

    @property
    def laws_dir(self) -> Path:
        return self.path / LAWS_DIR

    def settings(self) -> dict:
        """library.json of a library folder ({} for a read-only index)."""
        if not self.writable:
            return {}
        try:
            return json.loads((self.path / LIBRARY_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise LibraryError(f"法规库设置文件损坏：{self.path / LIBRARY_FILE}（{error}）") from error


@dataclass(frozen=True)
class LibraryInfo:
    """A library's settings and size, as the UI's library panel and `rag library list` show them."""

    name: str
    path: str
    writable: bool
    model: str
    rescorer: str  # the second model whose vectors re-score unsure candidates ("": none)
    store: str
    laws: int
    articles: int
    chunks: int
    bytes: int  # the folder's size on disk
    version: str  # the index's live version ("" when the library holds no law yet)
    created: str
    updated: str  # when the live version was written

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LawEntry:
    """One law of a library, as listed."""

    doc_id: str
    title: str
    category: str
    author: str
    publication_date: str
    effective_date: str
    status: str
    articles: int
    file: str = ""  # the name the file was uploaded with ("" for a law of a read-only index)
    added: str = ""
    added_by: str = ""
    url: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Preview:
    """What the parser understood of one file, before it is added."""

    file: str  # the name the file was uploaded with
    title: str = ""
    doc_id: str = ""
    articles: int = 0
    author: str = ""
    category: str = ""
    publication_date: str = ""
    effective_date: str = ""
    status: str = ""
    outline: tuple[str, ...] = ()  # 编/章/节 headings in order, each indented two spaces per level below the first
    first_articles: tuple[tuple[str, str], ...] = ()  # (label, beginning of its text) of the first articles
    warnings: tuple[str, ...] = ()  # numbering problems and other things to check before adding
    blocking: bool = False  # the warnings keep the file out unless adding is forced (article numbers skip or repeat)
    error: str = ""  # why the file cannot be read ("" when it can)
    existing: str = ""  # "same": this very file is in the library; "replaces": a law of the same id or title is
    sha256: str = ""

    @property
    def ok(self) -> bool:
        """Whether adding would add it (without forcing)."""
        return not self.error and not self.blocking and self.existing != "same"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["outline"] = list(self.outline)
        data["first_articles"] = [{"article": label, "text": text} for label, text in self.first_articles]
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class AddResult:
    """What became of one file of an add: added (new or replacing the law's earlier file) or not, and why."""

    file: str
    title: str
    doc_id: str
    articles: int
    warnings: tuple[str, ...]
    added: bool
    note: str  # 已添加 / 已替换旧版本 / why it was not added

    def to_dict(self) -> dict:
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        return data


@dataclass(frozen=True)
class Upload:
    """A file to add: where its bytes are, and the name it was uploaded with (shown, never used as a path)."""

    name: str
    path: Path

    @classmethod
    def of(cls, item: str | Path | Upload) -> Upload:
        if isinstance(item, Upload):
            return item
        return cls(name=Path(item).name, path=Path(item))


Progress = Callable[[str, int, int], None]  # (stage, done, total): 解析文件 / 编码条文 / 写入新版本 / 加载新版本


@dataclass
class _Parsed:
    upload: Upload
    sha256: str
    suffix: str
    law: Law | None
    preview: Preview
    stored: Path | None = None
    new_file: bool = False


# ---------------------------------------------------------------------------------------------- libraries


def library_root() -> Path:
    """Where `rag library create` puts libraries: $RAG_HOME/libraries."""
    return cache_dir() / "libraries"


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not _NAME.match(name):
        raise LibraryError("法规库名称只能由文字、数字、下划线和连字符组成，1 至 40 个字符，例如“本单位制度”或 hr-rules")
    return name


def create_library(
    name: str,
    *,
    root: str | Path | None = None,
    model: ModelSpec | None = None,
    store: str = "faiss",
    user: str | None = None,
    via: str = "python",
) -> Library:
    """A new, empty library folder root/name (root: library_root()); its laws are added with add_laws()."""
    name = _check_name(name)
    model = model or default_spec()
    if store not in ("faiss", "milvus"):
        raise LibraryError(f"不支持的存储：{store}（可选 faiss、milvus）")
    base = (Path(root) if root is not None else library_root()).resolve()
    base.mkdir(parents=True, exist_ok=True)
    folder = base / name
    if folder.resolve().parent != base.resolve():
        raise LibraryError(f"法规库名称不能指向别处：{name}")
    try:
        folder.mkdir()
    except FileExistsError:
        raise LibraryError(f"已有名为“{name}”的法规库：{folder}") from None
    (folder / LAWS_DIR).mkdir()
    settings = {
        "name": name,
        "created": _now(),
        "model": {"name": model.name, "max_seq_length": model.max_seq_length, "backend": model.backend, "dtype": model.dtype},
        "store": {"kind": store},
    }
    write_atomic(folder / LIBRARY_FILE, json.dumps(settings, ensure_ascii=False, indent=1).encode("utf-8"))
    library = Library(name=name, path=folder, index=folder / INDEX_DIR, writable=True)
    _log(library, "create", [], user, via)
    return library


def open_library(path: str | Path) -> Library:
    """The library in a folder: a library folder, its index directory, or an index built by `rag index`
    (read-only). LibraryError when it is none of these."""
    path = Path(path).resolve()
    for folder in (path, path.parent):
        if (folder / LIBRARY_FILE).is_file() and (folder == path or path.name == INDEX_DIR):
            try:
                name = json.loads((folder / LIBRARY_FILE).read_text(encoding="utf-8"))["name"]
            except (OSError, ValueError, KeyError, TypeError):
                name = folder.name
            return Library(name=str(name), path=folder, index=folder / INDEX_DIR, writable=True)
    if (path / "CURRENT").is_file():
        return Library(name=path.name, path=path, index=path, writable=False)
    raise LibraryError(f"{path} 既不是法规库也不是索引目录；新建法规库：rag library create 名称")


def list_libraries(root: str | Path | None = None) -> list[Library]:
    """The library folders under root (default library_root()), by name."""
    base = Path(root) if root is not None else library_root()
    if not base.is_dir():
        return []
    return [open_library(folder) for folder in sorted(base.iterdir()) if (folder / LIBRARY_FILE).is_file()]


def _live(library: Library) -> tuple[str, dict | None]:
    """The index's live version name and its manifest (None when the library holds no law yet)."""
    try:
        version = (library.index / "CURRENT").read_text().strip()
        return version, json.loads((library.index / version / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "", None


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(OSError):
            if path.is_file():
                total += path.stat().st_size
    return total


def library_info(library: Library) -> LibraryInfo:
    """The library's settings and size."""
    version, manifest = _live(library)
    settings = library.settings()
    counts = (manifest or {}).get("counts", {})
    model = (manifest or {}).get("model", {}).get("name") or settings.get("model", {}).get("name", "")
    store = ((manifest or {}).get("store") or {}).get("kind") or settings.get("store", {}).get("kind", "faiss")
    articles = 0
    if manifest is not None:
        from .api import get_index

        articles = sum(law.articles for law in get_index(library.index).laws)
    return LibraryInfo(
        name=library.name,
        path=str(library.path),
        writable=library.writable,
        model=model,
        rescorer=((manifest or {}).get("rescorer") or {}).get("name", ""),
        store=store,
        laws=counts.get("laws", 0),
        articles=articles,
        chunks=counts.get("chunks", 0),
        bytes=_folder_bytes(library.path),
        version=version,
        created=settings.get("created", ""),
        updated=(manifest or {}).get("created", ""),
    )


# ------------------------------------------------------------------------------------------------ reading


def _records(library: Library) -> dict[str, dict]:
    """Stored file name → its record, for the law files of the live version."""
    _, manifest = _live(library)
    if manifest is None or not library.writable:
        return {}
    records = {}
    for source in manifest.get("inputs", []):
        stored = Path(source)
        try:
            records[stored.name] = json.loads(stored.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            records[stored.name] = {"file": stored.name}
    return records


def list_laws(library: Library, query: str = "") -> list[LawEntry]:
    """The laws of the library's live version, most recently added first (then by title); `query`
    keeps those whose title (or doc id) contains it."""
    _, manifest = _live(library)
    if manifest is None:
        return []
    from .api import get_index

    by_doc = {record.get("doc_id"): record for record in _records(library).values()}
    entries = []
    for law in get_index(library.index).laws:
        record = by_doc.get(law.doc_id, {})
        entries.append(
            LawEntry(
                doc_id=law.doc_id,
                title=law.title,
                category=law.category,
                author=law.author,
                publication_date=law.publication_date,
                effective_date=law.effective_date,
                status=law.status,
                articles=law.articles,
                file=record.get("file", ""),
                added=record.get("added", ""),
                added_by=record.get("user") or "",
                url=law.url,
            )
        )
    query = (query or "").strip().strip("《》").lower()
    if query:
        entries = [e for e in entries if query in e.title.lower() or query == e.doc_id.lower()]
    entries.sort(key=lambda e: e.title)
    entries.sort(key=lambda e: e.added, reverse=True)
    return entries


def law_outline(library: Library, law: str) -> list[str]:
    """The article labels of one law (title or doc id) of the library, in order: what the viewer pages through."""
    from .api import get_index

    entry = _find(library, law)
    loaded = get_index(library.index)
    labels: list[str] = []
    for chunk in loaded.chunks:
        if chunk.doc_id == entry.doc_id and chunk.article and (not labels or labels[-1] != chunk.article):
            labels.append(chunk.article)
    return labels


def read_changes(library: Library, limit: int = 50) -> list[dict]:
    """The last `limit` changes of the library, newest first."""
    try:
        lines = (library.path / CHANGES_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    changes = []
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            changes.append(json.loads(line))
        if len(changes) >= limit:
            break
    return changes


# ------------------------------------------------------------------------------------------------ preview


def numbering_warnings(law: Law) -> list[str]:
    """Article numbers that do not run 第一条, 第二条, … (之一, 之二 after their article): skipped, repeated or
    out of order; each names the articles and the line of the file."""
    warnings: list[str] = []
    seen: set[tuple[int, int]] = set()
    previous = None
    for article in law.articles:
        key = (article.number, article.sub)
        where = f"（第 {article.line} 行）" if article.line else ""
        if key in seen:
            warnings.append(f"条号重复：{article.label}出现了不止一次{where}")
        elif previous is None:
            if key != (1, 0):
                warnings.append(f"条号不从第一条开始：第一条是{article.label}{where}")
        elif key < (previous.number, previous.sub):
            warnings.append(f"条号顺序颠倒：{previous.label}之后是{article.label}{where}")
        elif article.sub == 0 and article.number != previous.number + 1:
            warnings.append(f"条号跳过：{previous.label}之后是{article.label}{where}")
        elif article.sub and not (
            (article.number == previous.number and article.sub == previous.sub + 1)
        ):
            warnings.append(f"条号跳过：{previous.label}之后是{article.label}{where}")
        seen.add(key)
        previous = article
        if len(warnings) >= 10:
            warnings.append("……（条号问题太多，只列出前 10 个）")
            break
    return warnings


def _outline(law: Law) -> tuple[str, ...]:
    lines: list[str] = []
    shown: tuple[str, ...] = ()
    for article in law.articles:
        if article.path != shown:
            common = 0
            while common < min(len(shown), len(article.path)) and shown[common] == article.path[common]:
                common += 1
            lines += ["  " * depth + heading for depth, heading in enumerate(article.path) if depth >= common]
            shown = article.path
    return tuple(lines)


def _preview_of(name: str, law: Law, sha256: str) -> Preview:
    warnings = numbering_warnings(law)
    blocking = bool(warnings)
    if not law.articles:
        warnings.append("没有识别出条文（“第一条”这样开头的行）：全文将作为一段收录")
    return Preview(
        file=name,
        title=law.title,
        doc_id=law.doc_id,
        articles=len(law.articles),
        author=law.author,
        category=law.category,
        publication_date=law.publication_date,
        effective_date=law.effective_date,
        status=law.status,
        outline=_outline(law),
        first_articles=tuple(
            (a.label, a.text if len(a.text) <= _PREVIEW_CHARS else a.text[:_PREVIEW_CHARS] + "……")
            for a in law.articles[:_PREVIEW_ARTICLES]
        ),
        warnings=tuple(warnings),
        blocking=blocking,
        sha256=sha256,
    )


def _check_uploads(uploads: list[Upload], limits: Limits) -> None:
    if not uploads:
        raise UploadRefused("没有要添加的文件。")
    if limits.files is not None and len(uploads) > limits.files:
        raise UploadRefused(f"一次最多上传 {limits.files} 个文件，这次有 {len(uploads)} 个；请分几次上传。")
    total = 0
    for upload in uploads:
        suffix = Path(upload.name).suffix.lower()
        if suffix not in LIBRARY_SUFFIXES:
            raise UploadRefused(f"不支持的文件类型：{upload.name}（支持 {'、'.join(LIBRARY_SUFFIXES)}）")
        try:
            size = upload.path.stat().st_size
        except OSError as error:
            raise UploadRefused(f"无法读取上传的文件：{upload.name}（{error.strerror or error}）") from error
        if not upload.path.is_file():
            raise UploadRefused(f"不是文件：{upload.name}")
        if size > limits.file_bytes:
            raise UploadRefused(f"文件过大：{upload.name}（{size / 1048576:.1f} MB，每个文件不超过 {limits.file_bytes // 1048576} MB）")
        total += size
    if limits.total_bytes is not None and total > limits.total_bytes:
        raise UploadRefused(f"一次上传的文件共 {total / 1048576:.1f} MB，超过 {limits.total_bytes // 1048576} MB；请分几次上传。")


def _read_upload(upload: Upload, limits: Limits) -> bytes:
    with open(upload.path, "rb") as handle:
        data = handle.read(limits.file_bytes + 1)
    if len(data) > limits.file_bytes:
        raise UploadRefused(f"文件过大：{upload.name}（每个文件不超过 {limits.file_bytes // 1048576} MB）")
    return data


def _parse(upload: Upload, data: bytes, folder: Path) -> tuple[Law | None, str]:
    """The law in the bytes, parsed from a copy under a generated name in `folder`; or the reason it cannot be read."""
    suffix = Path(upload.name).suffix.lower()
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / f"{digest[:32]}{suffix}"
    existed = copy.exists()
    if not existed:
        write_atomic(copy, data)
    try:
        return parse_law(copy), ""
    except ParseError as error:
        return None, error.reason
    except Exception as error:  # a parser failure on odd input must not fail the whole upload
        return None, f"无法解析：{type(error).__name__}: {error}"
    finally:
        if folder.name.startswith(".preview"):
            copy.unlink(missing_ok=True)


def preview_laws(files: Sequence[str | Path | Upload], library: Library | None = None, *, limits: Limits = UPLOAD_LIMITS) -> list[Preview]:
    """What the parser understands of each file (title, outline, article count, first articles, warnings),
    and, given the library, whether the file or its law is already there. Nothing is written to the library."""
    uploads = [Upload.of(f) for f in files]
    _check_uploads(uploads, limits)
    base = library.path if library is not None and library.writable else Path(cache_dir())
    scratch = base / f".preview-{os.getpid()}-{threading.get_ident()}"
    live = _live_laws(library) if library is not None else {}
    previews = []
    try:
        for upload in uploads:
            data = _read_upload(upload, limits)
            law, error = _parse(upload, data, scratch)
            digest = hashlib.sha256(data).hexdigest()
            if law is None:
                previews.append(Preview(file=upload.name, error=error, sha256=digest))
                continue
            preview = _preview_of(upload.name, law, digest)
            previews.append(_with_existing(preview, live))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return previews


def _live_laws(library: Library | None) -> dict[str, tuple[str, str, str]]:
    """doc_id and title of each law in the library → (doc_id, title, its file's sha256)."""
    if library is None:
        return {}
    found = {}
    records = _records(library)
    with contextlib.suppress(RagError):
        for entry in list_laws(library):
            digest = next((r.get("sha256", "") for r in records.values() if r.get("doc_id") == entry.doc_id), "")
            found[entry.doc_id] = found[entry.title] = (entry.doc_id, entry.title, digest)
    return found


def _with_existing(preview: Preview, live: dict[str, tuple[str, str, str]]) -> Preview:
    match = live.get(preview.doc_id) or live.get(preview.title)
    if match is None:
        return preview
    same = match[2] == preview.sha256
    return Preview(**{**asdict(preview), "existing": "same" if same else "replaces"})


# ------------------------------------------------------------------------------------------------ changes


@contextlib.contextmanager
def _changing(library: Library) -> Iterator[None]:
    """Held while the library changes: one change at a time, across threads and processes."""
    if not library.writable:
        raise LibraryReadOnly(
            f"“{library.name}”是用 rag index 建的索引，不是法规库，不能在这里增删法规；"
            "新建法规库：rag library create 名称（或在“法规库”页中新建）"
        )
    with open(library.path / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _inside(library: Library, path: Path) -> Path:
    """The path, or LibraryError when it resolves outside the library's laws folder."""
    resolved = path.resolve()
    if resolved.parent != library.laws_dir.resolve():
        raise LibraryError(f"拒绝写入法规库之外的位置：{path}")
    return resolved


def _build(library: Library, files: list[Path], progress: Progress | None) -> None:
    settings = library.settings()
    spec = ModelSpec(**settings.get("model", {}))
    store = StoreSpec(kind=settings.get("store", {}).get("kind", "faiss"))

    def encoded(done: int, total: int) -> None:
        if progress:
            progress("编码条文", done, total)

    if progress:
        progress("编码条文", 0, 0)
    build_index(sorted(files), library.index, model=spec, store=store, progress=encoded)
    if progress:
        progress("加载新版本", 0, 1)
    from .api import get_index

    get_index(library.index, wait=True)  # this process answers from the new version from now on
    if progress:
        progress("加载新版本", 1, 1)


def _live_files(library: Library) -> list[Path]:
    _, manifest = _live(library)
    return [Path(p) for p in (manifest or {}).get("inputs", [])]


def add_laws(
    library: Library,
    files: Sequence[str | Path | Upload],
    *,
    user: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
    limits: Limits = UPLOAD_LIMITS,
    via: str = "python",
) -> list[AddResult]:
    """Add the laws in the files to the library in one incremental build, then switch to the new version.

    A file is left out (added=False, with the reason) when it cannot be parsed, when its article numbers
    skip or repeat (unless force), when this very file is already in the library, or when another file
    of the same upload holds the same law. A law already in the library under another file (same id or
    title) is replaced by the new file. If the build fails, the library stays as it was."""
    uploads = [Upload.of(f) for f in files]
    _check_uploads(uploads, limits)
    with _changing(library):
        library.laws_dir.mkdir(exist_ok=True)
        live = _live_files(library)
        live_laws = _live_laws(library)
        parsed: list[_Parsed] = []
        for position, upload in enumerate(uploads):
            if progress:
                progress("解析文件", position, len(uploads))
            data = _read_upload(upload, limits)
            digest = hashlib.sha256(data).hexdigest()
            stored = _inside(library, library.laws_dir / f"{digest[:32]}{Path(upload.name).suffix.lower()}")
            new_file = not stored.exists()
            law, error = _parse(upload, data, library.laws_dir)
            preview = _preview_of(upload.name, law, digest) if law else Preview(file=upload.name, error=error, sha256=digest)
            parsed.append(_Parsed(upload, digest, stored.suffix, law, _with_existing(preview, live_laws), stored, new_file))
        if progress:
            progress("解析文件", len(uploads), len(uploads))
        results: list[AddResult] = []
        taking: list[_Parsed] = []
        replaced: list[Path] = []
        by_doc = {r.get("doc_id"): Path(library.laws_dir / name) for name, r in _records(library).items()}
        by_title = {r.get("title"): Path(library.laws_dir / name) for name, r in _records(library).items()}
        for item in parsed:
            preview, law = item.preview, item.law
            note = ""
            if law is None:
                note = f"未添加：{preview.error}"
            elif preview.existing == "same" or item.stored in live:
                note = "未添加：这个文件已在法规库中"
            elif preview.blocking and not force:
                note = "未添加：条号有问题（见警告），请修正文件后再上传"
            elif any(t.law.doc_id == law.doc_id or t.law.title == law.title for t in taking):
                note = "未添加：本次上传的另一个文件是同一部法规"
            if note:
                results.append(_result(item, False, note))
                continue
            old = by_doc.get(law.doc_id) or by_title.get(law.title)
            if old is not None and old in live:
                replaced.append(old)
            taking.append(item)
            results.append(_result(item, True, "已替换旧版本" if old is not None and old in live else "已添加"))
        unused = [item.stored for item in parsed if item.new_file and item not in taking]
        try:
            if taking:
                for item in taking:
                    record = {
                        "file": item.upload.name,
                        "sha256": item.sha256,
                        "doc_id": item.law.doc_id,
                        "title": item.law.title,
                        "articles": len(item.law.articles),
                        "added": _now(),
                        "user": user,
                    }
                    write_atomic(item.stored.with_suffix(".json"), json.dumps(record, ensure_ascii=False, indent=1).encode("utf-8"))
                _build(library, [p for p in live if p not in replaced] + [item.stored for item in taking], progress)
        except BaseException:
            for item in taking:
                if item.new_file:
                    item.stored.unlink(missing_ok=True)
                    item.stored.with_suffix(".json").unlink(missing_ok=True)
            raise
        finally:
            for path in unused:
                path.unlink(missing_ok=True)
        for path in replaced:
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
        if taking:
            _log(library, "add", [_law_record(item.law, item.upload.name, result.note) for item, result in
                                  zip(taking, [r for r in results if r.added])], user, via)
    return results


def _result(item: _Parsed, added: bool, note: str) -> AddResult:
    preview = item.preview
    return AddResult(
        file=item.upload.name, title=preview.title, doc_id=preview.doc_id, articles=preview.articles,
        warnings=preview.warnings, added=added, note=note,
    )


def _law_record(law: Law, file: str, note: str = "") -> dict:
    return {"title": law.title, "doc_id": law.doc_id, "file": file, **({"note": note} if note else {})}


def _find(library: Library, law: str) -> LawEntry:
    wanted = (law or "").strip().strip("《》")
    entries = list_laws(library)
    match = next((e for e in entries if e.doc_id == wanted), None) or next((e for e in entries if e.title == wanted), None)
    if match is None:
        raise LibraryError(f"法规库“{library.name}”中没有这部法规：{law}")
    return match


def remove_laws(
    library: Library, laws: Sequence[str], *, user: str | None = None, progress: Progress | None = None, via: str = "python"
) -> list[LawEntry]:
    """Remove laws (each a title or doc id) from the library in one incremental build; returns what was removed.
    A library keeps at least one law."""
    with _changing(library):
        entries = []
        for law in laws:
            entry = _find(library, law)
            if entry not in entries:
                entries.append(entry)
        if not entries:
            raise LibraryError("没有指定要删除的法规。")
        records = _records(library)
        doomed = {library.laws_dir / name for name, r in records.items() if r.get("doc_id") in {e.doc_id for e in entries}}
        live = _live_files(library)
        keep = [p for p in live if p not in doomed]
        if not keep:
            raise LibraryError("法规库至少要保留一部法规；要换掉全部法规，请先添加新的，再删除旧的。")
        _build(library, keep, progress)
        for path in doomed:
            _inside(library, path).unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
        _log(library, "remove", [{"title": e.title, "doc_id": e.doc_id, "file": e.file} for e in entries], user, via)
    return entries


# ------------------------------------------------------------------------------------------------ the log


_log_lock = threading.Lock()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _log(library: Library, action: str, laws: list[dict], user: str | None, via: str) -> None:
    """Append one change record to changes.jsonl: one os.write of a whole line under an flock.
    via: where the change came from (web, api, cli, python); user: the login, where the server has one."""
    version, _ = _live(library)
    record = {"time": _now(), "action": action, "laws": laws, "user": user, "via": via, "version": version}
    line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
    with _log_lock:
        handle = os.open(library.path / CHANGES_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            os.write(handle, line)
        finally:
            os.close(handle)
