"""The 法规库 tab in process: who may change a library (read-only servers, servers open to the network without a
login, read-only indexes), the library chosen for the chat, and the HTML it shows (escaped)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest

from rag import library as lib
from tests.library_laws import DOG_TITLE, PARK_TITLE, write_laws
from ui import app
from ui.library import BUILTIN, LibraryManager, render_changes, render_laws, render_previews


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> lib.Library:
    files = write_laws(tmp_path_factory.mktemp("files"))
    created = lib.create_library("界面库", root=tmp_path_factory.mktemp("libraries"))
    lib.add_laws(created, [files["park"], files["dog"]])
    return created


def _endpoints(demo: gr.Blocks) -> dict:
    return {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}


def test_a_read_only_server_has_no_change_endpoints(library):
    demo = app.build_app(library.path, read_only=True)
    endpoints = _endpoints(demo)
    assert "list_laws" in endpoints and "ask" in endpoints
    assert not {"preview_laws", "add_laws", "remove_law"} & set(endpoints)
    assert {law["title"] for law in endpoints["list_laws"].fn()} == {PARK_TITLE, DOG_TITLE}


def test_changes_need_a_login_off_loopback_and_a_library(library, seed_index):
    demo = app.build_app(library.path, changes_allowed=False)
    remove = _endpoints(demo)["remove_law"].fn
    with pytest.raises(gr.Error, match="登录口令"):
        remove(PARK_TITLE, None)
    assert len(lib.list_laws(library)) == 2
    index_only = LibraryManager.for_serving(seed_index.path)  # an index built by rag index: read-only
    with pytest.raises(gr.Error, match="不是法规库"):
        index_only.check_change()


def test_the_chat_follows_the_library_chosen(library, seed_index, monkeypatch):
    monkeypatch.setattr(lib, "library_root", lambda: library.path.parent)
    manager = LibraryManager.for_serving(None)
    assert manager.choices() == [BUILTIN, "界面库"] and Path(manager) == seed_index.path
    manager.choose("界面库")
    assert Path(manager) == library.index
    from rag import answer

    assert answer("携犬出户时犬链长度有什么要求？", index=manager).citations[0].law == DOG_TITLE
    with pytest.raises(lib.LibraryError):
        manager.choose("没有这个库")


def test_law_text_is_escaped_in_the_tab():
    entry = lib.LawEntry(doc_id='x"><script>', title="<b>法</b>", category="", author="", publication_date="2024-01-02",
                         effective_date="", status="有效", articles=3, file="<img src=x>.md")
    table = render_laws([entry], removable=True)
    assert "<script>" not in table and "<img" not in table and "&lt;b&gt;法&lt;/b&gt;" in table and "2024年1月2日公布" in table
    preview = lib.Preview(file="<x>.docx", title="<t>", articles=1, warnings=("条号跳过：<b>",), blocking=True)
    shown = render_previews([preview])
    assert "<x>" not in shown and "&lt;b&gt;" in shown and "1 个不会添加" in shown
    assert "<t>" not in render_changes([{"time": "2026-01-01T00:00:00", "action": "add", "laws": [{"title": "<t>"}], "user": "<u>"}])


def test_the_api_takes_only_files_gradio_received(tmp_path):
    from gradio.utils import get_upload_folder

    from ui.library import _uploaded

    with pytest.raises(gr.Error, match="只接受上传到本服务的文件"):
        _uploaded([{"path": "/etc/passwd", "orig_name": "法规.md", "meta": {"_type": "gradio.FileData"}}])
    folder = Path(get_upload_folder()) / "test-library-ui"
    folder.mkdir(parents=True, exist_ok=True)
    received = folder / "x.md"
    received.write_text("x", encoding="utf-8")
    with pytest.raises(gr.Error):
        _uploaded([{"path": str(folder / ".." / ".." / "etc" / "passwd"), "orig_name": "法规.md"}])
    (upload,) = _uploaded([{"path": str(received), "orig_name": "../../某法.md"}])
    assert upload.name == "某法.md" and upload.path == received.resolve()
