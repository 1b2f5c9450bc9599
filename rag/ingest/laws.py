"""Law files → Law records. Reads the national database's markdown (YAML front matter, 章/节/条),
plain .txt and .docx law texts with the same structure, and PDFs with a text layer (pypdf)."""

from __future__ import annotations

import codecs
import datetime
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import yaml

from ..errors import RagError
from ..records import Article, Law
from .numerals import CN_NUMBER, cn_to_int, make_label

__all__ = ["ParseError", "NoTextLayer", "parse_law", "parse_text", "load_laws", "law_files", "pdf_text", "SUFFIXES", "MAX_PDF_PAGES"]

SUFFIXES = (".md", ".txt", ".docx", ".pdf")
MAX_PDF_PAGES = 2000  # the longest law (民法典) is about 300 pages
_SPACE = r"[ \t\u3000\xa0]"
_LABEL = rf"第(?P<num>{CN_NUMBER})条(?:之(?P<sub>{CN_NUMBER}))?"
_ARTICLE_MD = re.compile(rf"^-\s+\*\*{_LABEL}\*\*{_SPACE}*(?P<text>.*)$")
_ARTICLE_PLAIN = re.compile(rf"^{_LABEL}(?:{_SPACE}+|$)(?P<text>.*)$")
# A source defect of some library files: articles as bare lines, label and text run together
# ("第一条依法登记……"), without the bold list item
_ARTICLE_BARE = re.compile(rf"^{_LABEL}(?P<text>.*)$")
_MIN_BARE_ARTICLES = 3
_HEADING_MD = re.compile(r"^(#{1,6})\s+(.*)$")
_STRUCTURE = re.compile(rf"^第{CN_NUMBER}(分编|编|章|节){_SPACE}+\S")
_MERGED_HEADING = re.compile(rf"^(?P<heading>第{CN_NUMBER}(?:分编|编|章|节) .+?){_LABEL} (?P<text>.+)$")
_RANK = {"编": 1, "分编": 2, "章": 3, "节": 4}
_TOC = re.compile(rf"^目{_SPACE}*录$")
# The lookahead keeps matching linear in the line length (".*(通过|…).*" backtracks quadratically)
_NOTE = re.compile(r"^[（(](?=.*(?:通过|公布|修订|修正|施行|发布)).*[）)]$")
_MAX_TITLE = 1000  # characters; the longest title in the national database has about 240
# Front matter fields read as text; a list or table there (a YAML alias bomb included) is refused
_META_TEXT = ("id", "title", "author", "date", "publication_date", "effective_date", "status", "group")
_SCALAR = (str, int, float, datetime.date)


@dataclass
class ParseError(RagError):
    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


class NoTextLayer(ParseError):
    """A PDF whose pages hold no text (a scan): refused rather than indexed as an empty law."""


def law_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and directories into the sorted list of law files they hold. An empty path is an error, not
    the working directory that Path("") stands for (an unset shell variable would index everything under it)."""
    found: list[Path] = []
    for path in map(_law_path, paths):
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.suffix.lower() in SUFFIXES and p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"找不到法规文件或目录：{path}")
    return found


def _law_path(path: str | Path) -> Path:
    if isinstance(path, str) and not path.strip():
        raise FileNotFoundError("法规文件或目录的路径是空的")
    return Path(path)


def load_laws(paths: Iterable[str | Path]) -> tuple[list[Law], list[ParseError]]:
    """Parse every law file under paths; unreadable files are reported, the rest are kept."""
    laws: list[Law] = []
    errors: list[ParseError] = []
    for path in law_files(paths):
        try:
            laws.append(parse_law(path))
        except ParseError as error:
            errors.append(error)
    return laws, errors


def parse_law(path: str | Path) -> Law:
    path = Path(path)
    if path.suffix.lower() == ".docx":
        return parse_text(_docx_lines(path), source=str(path), markdown=False)
    if path.suffix.lower() == ".pdf":
        return parse_text(pdf_text(path), source=str(path), markdown=False)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ParseError(str(path), 1, f"无法读取文件：{error.strerror or error}") from error
    return parse_text(_decode(raw, str(path)), source=str(path), markdown=path.suffix.lower() == ".md")


def _decode(raw: bytes, source: str) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GBK/GB18030; a UTF-8 file with a few
    broken bytes is refused at the line of the first one rather than read as GBK."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as error:
            line = raw[: error.start].decode("utf-16", "replace").count("\n") + 1
            raise ParseError(source, line, "UTF-16 文件中有无效的字节（文件可能已损坏或被截断）") from error
    if b"\x00" in raw[:4096]:
        raise ParseError(source, 1, "二进制文件，不是法规文本")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        utf8_error = error
    lenient = raw.decode("utf-8", "replace")
    broken = lenient.count("\ufffd")
    if sum(ord(c) > 127 for c in lenient) - broken >= 10 * broken:
        line = raw[: utf8_error.start].count(b"\n") + 1
        raise ParseError(source, line, "这一行有无效的 UTF-8 字节（文件可能已损坏或被截断）")
    try:
        return raw.decode("gb18030")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ParseError(source, line, "无法识别文件编码（支持 UTF-8、UTF-16 与 GBK/GB18030）") from error


def _docx_lines(path: Path) -> str:
    import docx  # python-docx; imported here so that markdown-only use does not need it

    try:
        document = docx.Document(str(path))
    except Exception as error:  # python-docx raises several unrelated types for bad files
        raise ParseError(str(path), 1, f"无法读取 .docx：{error}") from error
    return "\n".join(paragraph.text for paragraph in document.paragraphs)


# Subset fonts often map a character's glyph to its radical's code point (⼀ U+2F00 for 一, ⺠ U+2EA0 for 民):
# Kangxi radicals decompose (NFKC) to the ideographs; these are the supplement's forms that are whole characters
_RADICALS = str.maketrans(
    "⺟⺠⻓⻔⻛⻜⻢⻣⻤⻥⻦⻩⻬⻮⻰⻳⻅⻆⻋⻉⻄⻘⻝⻚⻨⻧⻪⻗⻙⺧⺩⺬⺳⺶⺮⺊⺌⺗⺁⻊⻁⻈⻟⺰⻑⻒⻕⻫⻭⻯⻲",
    "母民长门风飞马骨鬼鱼鸟黄齐齿龙龟见角车贝西青食页麦卤黾雨韦牛王示网羊竹卜小心厂足虎讠饣纟長镸門齊齒龍龜",
)
_PDF_SPACE = re.compile(r"[\u2000-\u200a\u202f\u205f]")  # em and other spaces some PDF writers use for U+3000
_PAGE_NUMBER = re.compile(r"^[-—–－\s]*\d{1,4}[-—–－\s]*$|^第\s*\d+\s*页(?:\s*共\s*\d+\s*页)?$")
_LINE_END = "。；：！？：;:!?」”）)"


def pdf_text(path: str | Path) -> str:
    """The text of a PDF's text layer, as the lines of a plain law text: page numbers dropped, lines that
    a page's width broke joined again, radical code points and odd spaces made the characters they stand for.
    NoTextLayer for a PDF without text (a scan); ParseError for one that cannot be read."""
    import pypdf  # imported here so that reading other formats does not need it

    source = str(path)
    try:
        reader = pypdf.PdfReader(source)
        if reader.is_encrypted and not reader.decrypt(""):
            raise ParseError(source, 1, "PDF 已加密，无法读取；请先去掉密码")
        if len(reader.pages) > MAX_PDF_PAGES:
            raise ParseError(source, 1, f"PDF 有 {len(reader.pages)} 页，超过 {MAX_PDF_PAGES} 页的上限")
        pages = [page.extract_text() or "" for page in reader.pages]
    except ParseError:
        raise
    except Exception as error:  # pypdf raises many types for damaged or unsupported files
        raise ParseError(source, 1, f"无法读取 PDF：{error}") from error
    lines = [_pdf_line(line) for page in pages for line in page.split("\n")]
    lines = [line for line in lines if line and not _PAGE_NUMBER.match(line)]
    if sum(len(line) for line in lines) < 10:
        raise NoTextLayer(source, 1, "这个 PDF 没有文字层（可能是扫描件或图片），读不出条文；请先用文字识别（OCR）转成文字，或改传 .docx、.txt")
    return "\n".join(_joined(lines))


def _pdf_line(line: str) -> str:
    line = "".join(unicodedata.normalize("NFKC", c) if "\u2f00" <= c <= "\u2fdf" else c for c in line)
    return _PDF_SPACE.sub("\u3000", line.translate(_RADICALS)).strip()


def _article_label(body: str) -> tuple[int, int] | None:
    """(number, sub) of a line that begins with an article label, with or without a space after it."""
    article = _ARTICLE_BARE.match(body)
    if not article:
        return None
    try:
        return cn_to_int(article.group("num")), cn_to_int(article.group("sub")) if article.group("sub") else 0
    except ValueError:
        return None


def _joined(lines: list[str]) -> list[str]:
    """Lines broken by the page width joined: a line that does not end a sentence goes on in the next,
    unless the next begins an article, a heading, a note or the contents. A line begins an article when
    a space follows its label, or when its label is the next one expected and the line before ended a
    sentence (so that a line that wrapped before "第十条的规定" is not taken for one); a label run into
    its text ("第一条为了…", as some writers drop the space) gets its space back."""
    out: list[str] = []
    last = (0, 0)
    for line in lines:
        body = line.replace("\u3000", " ")
        label = _article_label(body)
        spaced = bool(_ARTICLE_PLAIN.match(body))
        # Unspaced, the next label expected opens an article where the line before ended a sentence or a heading
        after_break = not out or last == (0, 0) or out[-1].endswith(tuple(_LINE_END)) or _is_heading(out[-1])
        if label is not None and (spaced or (after_break and label in {(last[0] + 1, 0), (last[0], last[1] + 1), (1, 0)})):
            starts, last = True, label
            if not spaced:
                cut = _ARTICLE_BARE.match(body).start("text")
                line = line[:cut] + "\u3000" + line[cut:]
        else:
            starts = spaced or bool(_STRUCTURE.match(body) or _TOC.match(body.replace(" ", "")) or body.startswith(("（", "(")))
        if out and not starts and not _is_heading(out[-1]) and not out[-1].endswith(tuple(_LINE_END)):
            out[-1] += line
        else:
            out.append(line)
    return out


def _is_heading(line: str) -> bool:
    body = line.replace("\u3000", " ")
    return bool(_STRUCTURE.match(body) and len(body) <= 40 or _TOC.match(body.replace(" ", "")))


def _clean(text: str) -> str:
    return re.sub(rf"{_SPACE}+", " ", text.replace("**", "")).strip()


def _heading_title(text: str) -> str:
    """'第一章　　总  则' → '第一章 总则'."""
    text = _clean(text)
    match = re.match(rf"^(第{CN_NUMBER}(?:分编|编|章|节))\s*(.*)$", text)
    if match:
        return f"{match.group(1)} {match.group(2).replace(' ', '')}".strip()
    return text.replace(" ", "")


def _front_matter(lines: list[str], source: str) -> tuple[dict, int]:
    if not lines or lines[0].strip() != "---":
        return {}, 0
    for end in range(1, len(lines)):
        if lines[end].strip() == "---":
            try:
                meta = yaml.safe_load("\n".join(lines[1:end])) or {}
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                line = mark.line + 2 if mark else 1
                raise ParseError(source, line, f"YAML 文件头格式错误：{getattr(error, 'problem', error)}") from error
            except RecursionError as error:
                raise ParseError(source, 2, "YAML 文件头嵌套过深") from error
            if not isinstance(meta, dict):
                raise ParseError(source, 2, "YAML 文件头不是键值表")
            for key in (*_META_TEXT, "urls"):
                value = meta.get(key)
                if key == "urls" and isinstance(value, list):
                    value = value[0] if value else None
                if value is not None and not isinstance(value, _SCALAR):
                    line = next((i + 1 for i in range(1, end) if lines[i].startswith(f"{key}:")), 2)
                    raise ParseError(source, line, f"YAML 文件头的 {key} 应为文字，不能是列表或键值表")
            return meta, end + 1
    raise ParseError(source, 1, "YAML 文件头没有结束的 ---")


def _has_bare_articles(lines: list[str]) -> bool:
    """True for a markdown body with no bold article item whose bare "第N条…" lines count
    第一条, 第二条, … in order, so that quotations of another law's articles are not taken."""
    if any(_ARTICLE_MD.match(line.strip()) for line in lines):
        return False
    numbers = []
    for line in lines:
        match = _ARTICLE_BARE.match(line.strip())
        if match and not match.group("sub"):
            try:
                numbers.append(cn_to_int(match.group("num")))
            except ValueError:
                return False
    return len(numbers) >= _MIN_BARE_ARTICLES and numbers == list(range(1, len(numbers) + 1))


def parse_text(text: str, *, source: str = "<text>", markdown: bool = True) -> Law:
    """Parse a law text. markdown=True reads the database's markdown, False reads plain lines (.txt/.docx)."""
    # Lone surrogates (possible in a str, never in a decoded file) could not be written to the index
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    meta, start = _front_matter(lines, source)
    article_re = _ARTICLE_MD if markdown else _ARTICLE_PLAIN
    bare = markdown and _has_bare_articles(lines[start:])
    if bare:
        article_re = _ARTICLE_BARE
    title = _clean(str(meta.get("title") or ""))
    title_line = next((i + 1 for i in range(1, start) if lines[i].startswith("title:")), 1)
    headings: list[tuple[int, str]] = []
    articles: list[Article] = []
    note: list[str] = []
    preamble: list[str] = []
    current: dict | None = None
    in_toc = False
    toc: list[str] = []

    def close() -> None:
        nonlocal current
        if current is not None:
            number, sub = current["number"], current["sub"]
            articles.append(
                Article(
                    label=make_label(number, sub),
                    number=number,
                    sub=sub,
                    text="\n".join(p for p in current["paragraphs"] if p),
                    path=tuple(h for _, h in headings),
                    line=current["line"],
                )
            )
            current = None

    def push_heading(rank: int, heading: str) -> None:
        close()
        while headings and headings[-1][0] >= rank:
            headings.pop()
        headings.append((rank, heading))

    for index in range(start, len(lines)):
        line_no = index + 1
        raw_line = lines[index]
        stripped = raw_line.strip()
        if not stripped or stripped.startswith("![") or re.fullmatch(r"\|[\s|:-]*\|?", stripped):
            continue
        if any(ord(c) < 32 and c not in "\t" for c in stripped):
            stripped = "".join(c for c in stripped if ord(c) >= 32 or c == "\t")
        if markdown and stripped == "---":
            in_toc = False
            continue
        heading_md = _HEADING_MD.match(stripped) if markdown else None
        body = _clean(heading_md.group(2)) if heading_md else _clean(stripped.lstrip("-").strip())
        if _TOC.match(body.replace(" ", "")):
            close()
            in_toc = True
            continue
        article_match = article_re.match(stripped)
        loose = False
        if heading_md and not article_match:
            # A source defect seen in the library: "## 第五章　　信息公开和公众参与第五十三条 公民……"
            merged = _MERGED_HEADING.match(body)
            if merged:
                push_heading(_RANK[_STRUCTURE.match(merged.group("heading")).group(1)], _heading_title(merged.group("heading")))
                article_match, loose = merged, True
        if article_match:
            in_toc = False
            close()
            try:
                number = cn_to_int(article_match.group("num"))
                sub = cn_to_int(article_match.group("sub")) if article_match.group("sub") else 0
                make_label(number, sub)
            except ValueError as error:
                number_text = article_match.group("num") + (f"之{article_match.group('sub')}" if article_match.group("sub") else "")
                shown = number_text if len(number_text) <= 12 else number_text[:12] + "…"
                raise ParseError(source, line_no, f"条号无法识别：第{shown}条（条号应在 1 至 9999 之间）") from error
            current = {"number": number, "sub": sub, "line": line_no, "paragraphs": [_clean(article_match.group("text"))]}
            current["loose"] = loose or bare or not markdown
            continue
        if in_toc and not heading_md:
            # A plain-text table of contents ends where its first entry comes round again
            entry = _heading_title(body)
            if markdown or not toc or entry != toc[0]:
                toc.append(entry)
                continue
            in_toc = False
        structure = _STRUCTURE.match(body)
        if heading_md or (structure and len(body) <= 40 and not markdown):
            in_toc = False
            rank = _RANK[structure.group(1)] if structure else 3
            push_heading(rank, _heading_title(body))
            continue
        if markdown and stripped.startswith(">"):
            if not articles and current is None:
                note.append(_clean(stripped.lstrip("> ")))
            continue
        if current is not None and (current["loose"] or raw_line[:1] in (" ", "\t", "\u3000")):
            current["paragraphs"].append(_clean(re.sub(r"^[-*+]\s+", "", stripped)))
            continue
        close()
        if markdown and stripped.startswith("**") and stripped.endswith("**") and not articles:
            if not title:
                title, title_line = body, line_no
            continue
        if not markdown and not title:
            title, title_line = body, line_no
            continue
        if not markdown and not articles and _NOTE.match(body):
            note.append(body)
            continue
        preamble.append(body.lstrip("| ").rstrip(" |"))
    close()

    if not title:
        raise ParseError(source, 1, "找不到法规标题（front matter 的 title 或首行）")
    if len(title) > _MAX_TITLE:
        raise ParseError(source, title_line, f"标题过长（{len(title)} 字），不像法规标题；正文是否缺少换行？")
    if not articles and not preamble:
        raise ParseError(source, len(lines), "没有找到任何条文或正文")
    urls = meta.get("urls") or []
    doc_id = str(meta.get("id") or hashlib.sha1(title.encode("utf-8")).hexdigest()[:16])
    return Law(
        doc_id=doc_id,
        title=title,
        articles=tuple(articles),
        author=_clean(str(meta.get("author") or "")),
        publication_date=str(meta.get("publication_date") or meta.get("date") or ""),
        effective_date=str(meta.get("effective_date") or ""),
        status=str(meta.get("status") or ""),
        category=str(meta.get("group") or ""),
        url=str(urls[0]) if isinstance(urls, list) and urls else str(urls or ""),
        note="\n".join(n.strip("（）()") for n in note if n),
        preamble="\n".join(preamble),
        source=source,
    )
