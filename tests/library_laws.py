"""Small law files made by the tests of the libraries: a .docx, a text PDF, a markdown file of the national
database's format, and a .txt whose article numbers skip. The PDF is written by hand (no PDF library): its
text is drawn in a Chinese CID font that is not embedded (STSong-Light, UniGB-UCS2-H: text as UTF-16BE),
which PDF readers map to Unicode without a font file."""

from __future__ import annotations

from pathlib import Path

DOG_TITLE = "某市养犬管理规定"
DOG_ARTICLES = (
    ("第一章 总则", "第一条", "为了规范养犬行为，保障公民人身安全，维护社会公共秩序，制定本规定。"),
    ("第一章 总则", "第二条", "本规定适用于本市行政区域内的养犬管理。"),
    ("第二章 养犬行为", "第三条", "携犬出户时，应当为犬只佩戴犬牌，束犬链，犬链长度不得超过一点五米，并由成年人牵领。"),
    ("第二章 养犬行为", "第四条", "养犬人应当每年为犬只注射狂犬病疫苗，并向动物防疫机构领取免疫证明。"),
    ("第二章 养犬行为", "第五条", "本规定自2026年3月1日起施行。"),
)
DOG_QUESTION = "携犬出户时犬链长度有什么要求？"

TREE_TITLE = "某市城市绿化管理条例"
TREE_LINES = (
    "某市城市绿化管理条例",
    "（2025年3月1日某市人民代表大会常务委员会第十次会议通过）",
    "第一章　总　　则",
    "第一条　为了加强城市绿化管理，保护和改善城市生态环境，促进城市绿化事业",
    "的发展，制定本条例。",
    "第二条　本条例适用于本市行政区域内城市绿化的规划、建设、保护和管理。",
    "第二章　保护和管理",
    "第三条　任何单位和个人不得擅自砍伐城市树木。确需砍伐的，应当向绿化主管",
    "部门提出申请，经批准后方可砍伐，并按照规定补植。",
    "第四条　古树名木实行统一管理，严禁砍伐或者迁移古树名木。",
    "第五条　本条例自2025年5月1日起施行。",
)
TREE_QUESTION = "砍伐城市树木需要办理什么手续？"

PARKING_TITLE = "某市停车场管理办法"
PARKING_TEXT = """某市停车场管理办法
第一条 为了加强停车场管理，制定本办法。
第二条 本办法适用于本市行政区域内停车场的规划、建设和管理。
第四条 停车场经营者应当公示收费标准。
第四条 停车场应当设置消防设施。
"""  # 第三条 is missing and 第四条 repeats

PARK_MD = """---
title: 某市公园管理条例
author: 某市人民代表大会常务委员会
publication_date: 2024-06-01
effective_date: 2024-09-01
status: 有效
group: 地方性法规
---

# 某市公园管理条例

## 第一章 总则

- **第一条** 为了加强公园管理，发挥公园的休闲和生态功能，制定本条例。
- **第二条** 公园实行免费开放，但动物园、植物园等专类公园除外。
- **第三条** 游客在公园内不得放风筝、垂钓、游泳或者燃放烟花爆竹。
- **第四条** 本条例自2024年9月1日起施行。
"""
PARK_TITLE = "某市公园管理条例"
PARK_QUESTION = "公园里可以放风筝吗？"


def write_docx(path: Path, title: str = DOG_TITLE, articles=DOG_ARTICLES) -> Path:
    """A .docx as people write laws in Word: the title, then chapter headings and articles as paragraphs."""
    import docx

    document = docx.Document()
    document.add_paragraph(title)
    chapter = None
    for heading, label, text in articles:
        if heading != chapter:
            document.add_paragraph(heading)
            chapter = heading
        document.add_paragraph(f"{label}　{text}")
    document.save(str(path))
    return path


def text_pdf(lines: list[str] | tuple[str, ...], *, per_page: int = 40) -> bytes:
    """A PDF whose pages show the lines, one PDF text line each (so a long sentence given as two lines is
    broken as a page's width breaks it)."""
    lines = list(lines)
    pages = [lines[i : i + per_page] for i in range(0, len(lines), per_page)] or [[]]
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /UniGB-UCS2-H /DescendantFonts [4 0 R] >>",
        4: b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light /CIDSystemInfo << /Registry (Adobe) /Ordering (GB1)"
        b" /Supplement 2 >> /FontDescriptor 5 0 R /DW 1000 >>",
        5: b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 6 /FontBBox [-25 -254 1000 880] /ItalicAngle 0 /Ascent 880"
        b" /Descent -120 /CapHeight 880 /StemV 93 >>",
    }
    kids = []
    for n, page in enumerate(pages):
        shown = b"".join(b"<" + line.encode("utf-16-be").hex().encode() + b"> Tj T* " for line in page)
        content = b"BT /F1 12 Tf 16 TL 40 800 Td " + shown + b"ET"
        page_id, content_id = 6 + 2 * n, 7 + 2 * n
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
            % content_id
        )
        kids.append(page_id)
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[i] if i in offsets else b"0000000000 65535 f \n" for i in range(1, size))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


def scanned_pdf() -> bytes:
    """A PDF of one page with no text at all, as a scan without OCR looks to a text extractor."""
    return text_pdf([])


def write_laws(folder: Path) -> dict[str, Path]:
    """The four test files in folder: dog (.docx), tree (.pdf), parking (.txt, broken numbering), park (.md)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "dog": write_docx(folder / "养犬管理规定.docx"),
        "tree": folder / "城市绿化管理条例.pdf",
        "parking": folder / "停车场管理办法.txt",
        "park": folder / "公园管理条例.md",
    }
    files["tree"].write_bytes(text_pdf(TREE_LINES))
    files["parking"].write_text(PARKING_TEXT, encoding="utf-8")
    files["park"].write_text(PARK_MD, encoding="utf-8")
    return files
