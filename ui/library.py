"""The 法规库 tab and its API endpoints: list, search, preview, add and remove the laws of the library the
chat uses, choose or create libraries. A thin client of rag.library: every change is the same function
`rag library …` calls, run as an incremental build with a progress bar while questions go on being answered
from the previous complete version.

Who may change a library: nobody under `rag serve --read-only` (the controls are not shown, the change
endpoints do not exist); elsewhere anyone on a loopback server, and on a server open to the network only
when it has a login (--auth / RAG_AUTH), whose user name goes into the library's change log."""

from __future__ import annotations

import html
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import gradio as gr
from gradio.data_classes import FileData

from rag import library as lib
from rag.api import default_index_path
from rag.errors import RagError
from rag.ingest import chinese_date

__all__ = [
    "LibraryManager",
    "LibraryTab",
    "build_library_tab",
    "wire_library",
    "add_library_api",
    "render_laws",
    "render_previews",
    "render_results",
    "render_info",
    "render_changes",
    "LIBRARY_CSS",
    "LIMITS_TEXT",
]

log = logging.getLogger(__name__)

CHANGING = "library"  # the concurrency group of library changes: one at a time, beside the questions
BUILTIN = "内置法规（只读）"
LIMITS_TEXT = (
    f"支持 .md（国家法律法规数据库格式）、.txt、.docx 和有文字层的 PDF；每次最多 {lib.UPLOAD_LIMITS.files} 个文件，"
    f"每个不超过 {lib.UPLOAD_LIMITS.file_bytes // 1048576} MB，合计不超过 {lib.UPLOAD_LIMITS.total_bytes // 1048576} MB。"
)
_STAGES = {"解析文件": "解析文件", "编码条文": "编码新的条文", "加载新版本": "启用新版本"}

LIBRARY_CSS = """
#library-info { color: var(--body-text-color-subdued); }
#library-info b { color: var(--body-text-color); }
.law-table { width: 100%; border: none !important; border-collapse: collapse; font-size: 0.9em; table-layout: fixed; }
.law-table th { text-align: left; font-weight: 600; padding: 6px 6px; border: none; border-bottom: 2px solid var(--border-color-primary);
                position: sticky; top: 0; background: var(--background-fill-primary); }
.law-table td { padding: 6px 6px; border: none; border-bottom: 1px solid var(--border-color-primary); vertical-align: top;
                overflow-wrap: anywhere; line-height: 1.5; }
.law-table td:nth-child(5) { text-align: right; }
.law-table td:nth-child(6) { color: var(--body-text-color-subdued); }
.law-table .added { font-size: 0.85em; margin-top: 2px; }
#library-laws .law-open { background: none !important; border: none; box-shadow: none !important; padding: 0; cursor: pointer;
                          text-align: left; font-weight: 600; color: var(--body-text-color); font-size: 1em; line-height: 1.5; }
#library-laws .law-open:hover { color: var(--color-accent); text-decoration: underline; }
#library-laws .law-remove { background: none; box-shadow: none; border: 1px solid var(--border-color-primary); border-radius: 4px; cursor: pointer;
                            padding: 1px 8px; color: #b91c1c; font-size: 0.9em; white-space: nowrap; }
#library-laws .law-remove:hover { background: #fef2f2; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.85em; background: #ecfdf5; color: #065f46; white-space: nowrap; }
.badge.off { background: #f3f4f6; color: #4b5563; }
.badge.warn { background: #fffbeb; color: #92400e; }
.badge.bad { background: #fef2f2; color: #991b1b; }
.pv-summary { margin-bottom: 8px; }
.pv-card { border: 1px solid var(--border-color-primary); border-left: 4px solid #10b981; border-radius: 6px; padding: 8px 10px; margin-bottom: 8px; }
.pv-card.warn { border-left-color: #f59e0b; }
.pv-card.bad { border-left-color: #ef4444; }
.pv-head { font-weight: 600; }
.pv-file { color: var(--body-text-color-subdued); font-weight: normal; word-break: break-all; }
.pv-meta, .pv-outline { font-size: 0.88em; color: var(--body-text-color-subdued); margin-top: 2px; }
.pv-articles { margin: 4px 0 0 0; padding-left: 0; list-style: none; font-size: 0.9em; line-height: 1.6; }
.pv-warnings { margin: 4px 0 0 0; padding-left: 18px; color: #92400e; font-size: 0.9em; }
.pv-error { color: #991b1b; margin-top: 4px; }
.lib-note { border-left: 4px solid #f59e0b; background: #fffbeb; color: #92400e; padding: 6px 10px; border-radius: 4px; }
.lib-done { border-left: 4px solid #10b981; background: #ecfdf5; color: #065f46; padding: 6px 10px; border-radius: 4px; }
.lib-fail { border-left: 4px solid #ef4444; background: #fef2f2; color: #991b1b; padding: 6px 10px; border-radius: 4px; }
.lib-changes { font-size: 0.9em; line-height: 1.7; }
"""

# Clicking a law's title opens it in the viewer; its 删除 button asks to remove it.
LAWS_JS = """
element.addEventListener('click', (event) => {
  const open = event.target.closest('.law-open');
  if (open) trigger('open_law', {doc_id: open.dataset.doc});
  const remove = event.target.closest('.law-remove');
  if (remove) trigger('remove_law', {doc_id: remove.dataset.doc, title: remove.dataset.title});
});
"""


# -------------------------------------------------------------------------------------------- the library


class LibraryManager(os.PathLike):
    """The library the chat uses, and who may change it. It is path-like (its index directory), so the chat
    handlers pass it as `index=` to rag.answer()/rag.article() and follow the library chosen in the tab; the
    choice holds for the whole server, as the API endpoints act on it too."""

    def __init__(self, library: lib.Library, *, switchable: bool, read_only: bool, changes_allowed: bool, root: Path | None = None):
        self._library = library
        self._lock = threading.Lock()
        self.switchable = switchable  # libraries can be chosen and created (rag serve without --index)
        self.read_only = read_only
        self.changes_allowed = changes_allowed  # False on a server open to the network without a login
        self.root = root

    @classmethod
    def for_serving(cls, index: str | Path | None, *, read_only: bool = False, changes_allowed: bool = True) -> LibraryManager:
        """rag serve --index DIR: that library (or index, read-only) alone; without --index: the bundled laws'
        default index first, and the libraries of $RAG_HOME/libraries to choose from and to create."""
        if index is not None:
            return cls(lib.open_library(index), switchable=False, read_only=read_only, changes_allowed=changes_allowed)
        builtin = lib.Library(name=BUILTIN, path=default_index_path(), index=default_index_path(), writable=False)
        return cls(builtin, switchable=True, read_only=read_only, changes_allowed=changes_allowed, root=lib.library_root())

    def __fspath__(self) -> str:
        return str(self.library.index)

    @property
    def library(self) -> lib.Library:
        with self._lock:
            return self._library

    def choices(self) -> list[str]:
        """Names of the libraries the chat can use."""
        if not self.switchable:
            return [self.library.name]
        return [BUILTIN] + [found.name for found in lib.list_libraries(self.root)]

    def choose(self, name: str) -> lib.Library:
        if not self.switchable or name == self.library.name:
            return self.library
        if name == BUILTIN:
            chosen = lib.Library(name=BUILTIN, path=default_index_path(), index=default_index_path(), writable=False)
        else:
            chosen = next((found for found in lib.list_libraries(self.root) if found.name == name), None)
            if chosen is None:
                raise lib.LibraryError(f"没有名为“{name}”的法规库")
        with self._lock:
            self._library = chosen
        return chosen

    @property
    def can_change(self) -> bool:
        return not self.read_only and self.changes_allowed

    def check_change(self, *, library: bool = True) -> None:
        """gr.Error when changes are not allowed on this server (or, library=True, to the library the chat uses)."""
        if self.read_only:
            raise gr.Error("服务以只读方式运行（--read-only），不能修改法规库。", title="不能修改", print_exception=False)
        if not self.changes_allowed:
            raise gr.Error("服务对外开放且没有设置登录口令：请用 --auth 或 RAG_AUTH 设置后再修改法规库。", title="不能修改", print_exception=False)
        if library and not self.library.writable:
            raise gr.Error(
                f"“{self.library.name}”不是法规库（是只读的索引），不能增删法规；请先新建一个法规库。", title="不能修改", print_exception=False
            )

    def laws(self, query: str = "") -> list[lib.LawEntry]:
        try:
            return lib.list_laws(self.library, query)
        except RagError as error:
            log.warning("listing the laws of %s failed: %s", self.library.path, error)
            return []


# ------------------------------------------------------------------------------------------------ rendering


def _date(value: str) -> str:
    return chinese_date(value) if value else ""


def _status_badge(status: str) -> str:
    if not status:
        return ""
    kind = "" if status == "有效" else "bad" if status in ("已废止", "失效") else "off" if status in ("已被修改", "尚未生效") else "warn"
    return f'<span class="badge {kind}">{html.escape(status)}</span>'


_COLUMNS = (("标题", "23%"), ("类别 · 制定机关", "16%"), ("公布 / 施行", "20%"), ("状态", "8%"), ("条数", "6%"), ("来源文件", "20%"))


def render_laws(entries: Sequence[lib.LawEntry], *, removable: bool, query: str = "") -> str:
    """HTML table of a library's laws: title (opens it in the viewer), category and author, dates, status,
    articles, the file it came from and when it was added, and a 删除 button where the library may be changed."""
    if not entries:
        return f'<div class="src-empty">{"没有标题含“" + html.escape(query) + "”的法规。" if query else "这个法规库还没有法规：在右侧上传文件即可添加。"}</div>'
    columns = list(_COLUMNS) + ([("", "7%")] if removable else [])
    rows = []
    for e in entries:
        dates = "<br>".join(html.escape(f"{_date(d)}{suffix}") for d, suffix in ((e.publication_date, "公布"), (e.effective_date, "施行")) if d)
        added = html.escape(e.added[:16].replace("T", " ") + (f" {e.added_by}" if e.added_by else ""))
        cells = [
            f'<button type="button" class="law-open" data-doc="{html.escape(e.doc_id)}" title="在条文浏览中打开">{html.escape(e.title)}</button>',
            html.escape(" · ".join(x for x in (e.category, e.author) if x)),
            dates,
            _status_badge(e.status),
            str(e.articles),
            html.escape(e.file or "—") + (f'<div class="added">{added}</div>' if e.added else ""),
        ]
        if removable:
            cells.append(
                f'<button type="button" class="law-remove" data-doc="{html.escape(e.doc_id)}" data-title="{html.escape(e.title)}">删除</button>'
            )
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    count = f'<div class="src-hint">共 {len(entries)} 部{"（按“" + html.escape(query) + "”筛选）" if query else ""}。点击标题可在“问答”页的“条文浏览”中逐条阅读。</div>'
    return (count + '<table class="law-table"><colgroup>' + "".join(f'<col style="width:{w}">' for _, w in columns) + "</colgroup><thead><tr>"
            + "".join(f"<th>{h}</th>" for h, _ in columns) + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def render_info(info: lib.LibraryInfo | None, manager: LibraryManager) -> str:
    """One line on the library the chat uses: its name, size and settings, and whether it may be changed here."""
    if info is None:
        return "法规库不可用。"
    size = f"{info.laws} 部法规，{info.articles} 条（{info.chunks} 个检索片段）" if info.version else "还没有法规"
    parts = [
        f"问答使用：<b>{html.escape(info.name)}</b>",
        size,
        f"嵌入模型 {html.escape(info.model or '—')}" + (f"（重排 {html.escape(info.rescorer)}）" if info.rescorer else ""),
        f"存储 {html.escape(info.store)}",
        f"占用 {info.bytes / 1048576:.1f} MB",
    ]
    if info.updated:
        parts.append(f"索引版本 {html.escape(info.updated.replace('T', ' '))}")
    note = ""
    if manager.read_only:
        note = "只读模式：这个服务不能修改法规库。"
    elif not manager.changes_allowed:
        note = "服务对外开放且没有设置登录口令，不能修改法规库（请用 --auth 启动）。"
    elif not info.writable:
        note = ("这是内置条例的索引，只能查看；要添加自己的法规，请先在下方新建一个法规库。" if manager.switchable
                else "这是用 rag index 建的索引，只能查看；要在网页上增删法规，请用 rag library create 新建法规库。")
    return " · ".join(parts) + (f'<div class="lib-note" style="margin-top:6px">{html.escape(note)}</div>' if note else "")


def _preview_card(preview: lib.Preview) -> str:
    name = f'<span class="pv-file">{html.escape(preview.file)}</span>'
    if preview.error:
        return (f'<div class="pv-card bad"><div class="pv-head">{name} <span class="badge bad">无法读取，不会添加</span></div>'
                f'<div class="pv-error">{html.escape(preview.error)}</div></div>')
    if preview.blocking:
        kind, badge = "warn", '<span class="badge bad">条号有问题，不会添加</span>'
    elif preview.existing == "same":
        kind, badge = "warn", '<span class="badge off">已在法规库中</span>'
    elif preview.existing == "replaces":
        kind, badge = "warn" if preview.warnings else "", '<span class="badge warn">将替换库中的同名法规</span>'
    else:
        kind, badge = "warn" if preview.warnings else "", '<span class="badge">新增</span>'
    meta = [x for x in (preview.category, preview.author) if x]
    if preview.publication_date:
        meta.append(f"{_date(preview.publication_date)}公布")
    if preview.effective_date:
        meta.append(f"{_date(preview.effective_date)}施行")
    if preview.status:
        meta.append(preview.status)
    outline = list(preview.outline[:12]) + (["……"] if len(preview.outline) > 12 else [])
    parts = [
        f'<div class="pv-card {kind}"><div class="pv-head">{name} → 《{html.escape(preview.title)}》 {preview.articles} 条 {badge}</div>',
        f'<div class="pv-meta">{html.escape(" · ".join(meta))}</div>' if meta else "",
        ('<div class="pv-outline">章节：' + html.escape("　".join(line.strip() for line in outline)) + "</div>") if outline else
        '<div class="pv-outline">没有章节标题</div>',
        '<ul class="pv-articles">' + "".join(f"<li><b>{html.escape(label)}</b>　{html.escape(text)}</li>" for label, text in preview.first_articles) + "</ul>",
        ('<ul class="pv-warnings">' + "".join(f"<li>{html.escape(w)}</li>" for w in preview.warnings) + "</ul>") if preview.warnings else "",
        "</div>",
    ]
    return "".join(parts)


def render_previews(previews: Sequence[lib.Preview], *, force: bool = False) -> str:
    """The preview panel: a summary line, then per file what the parser understood."""
    if not previews:
        return ""
    ready = sum(p.ok or (force and p.blocking and not p.error and p.existing != "same") for p in previews)
    summary = f"共 {len(previews)} 个文件，{ready} 个可以添加"
    if ready < len(previews):
        summary += f"，{len(previews) - ready} 个不会添加（见下方说明）"
    summary += "。核对无误后点“确认添加”；添加期间仍可提问，回答用添加前的完整版本。" if ready else "。"
    return f'<div class="pv-summary">{summary}</div>' + "".join(_preview_card(p) for p in previews)


def render_results(results: Sequence[lib.AddResult], info: lib.LibraryInfo | None) -> str:
    added = [r for r in results if r.added]
    lines = [f"{html.escape(r.note)}：《{html.escape(r.title)}》（{r.articles} 条，{html.escape(r.file)}）" for r in added]
    lines += [f"{html.escape(r.note)}：{html.escape(r.file)}" for r in results if not r.added]
    tail = f"法规库“{html.escape(info.name)}”现有 {info.laws} 部法规，新版本已启用。" if info and added else ""
    kind = "lib-done" if added else "lib-fail"
    return f'<div class="{kind}">' + "<br>".join(lines + ([tail] if tail else [])) + "</div>"


def render_changes(changes: Sequence[dict]) -> str:
    if not changes:
        return '<div class="src-empty">还没有改动记录。</div>'
    action = {"add": "添加", "remove": "删除", "create": "新建法规库"}
    lines = []
    for change in changes:
        titles = "、".join(f"《{html.escape(law.get('title', ''))}》" for law in change.get("laws", []))
        who = f"（{html.escape(change['user'])}）" if change.get("user") else ""
        via = {"web": "网页", "api": "接口", "cli": "命令行"}.get(change.get("via", ""), "")
        lines.append(f"{html.escape(change.get('time', '')[:19].replace('T', ' '))}　{action.get(change.get('action'), change.get('action'))}"
                     f" {titles}{who}" + (f"　<span class='src-hint'>{via}</span>" if via else ""))
    return '<div class="lib-changes">' + "<br>".join(lines) + "</div>"


# --------------------------------------------------------------------------------------------------- the tab


@dataclass
class LibraryTab:
    """The components of the 法规库 tab."""

    info: gr.HTML
    chooser: gr.Dropdown
    new_name: gr.Textbox
    create: gr.Button
    search: gr.Textbox
    laws: gr.HTML
    confirm_row: gr.Row
    confirm_text: gr.HTML
    confirm_remove: gr.Button
    cancel_remove: gr.Button
    pending_remove: gr.State
    upload: gr.File
    previews: gr.HTML
    force: gr.Checkbox
    add: gr.Button
    cancel_add: gr.Button
    status: gr.HTML
    changes: gr.HTML
    upload_column: gr.Column


def _info(manager: LibraryManager) -> lib.LibraryInfo | None:
    try:
        return lib.library_info(manager.library)
    except RagError as error:
        log.warning("library info of %s failed: %s", manager.library.path, error)
        return None


def _removable(manager: LibraryManager) -> bool:
    return manager.can_change and manager.library.writable


def build_library_tab(manager: LibraryManager) -> LibraryTab:
    """The tab's components (inside a gr.Tab): the library panel, the law list, the upload and preview column."""
    changeable = manager.can_change
    info = gr.HTML(render_info(_info(manager), manager), elem_id="library-info")
    with gr.Row(visible=manager.switchable, equal_height=False):
        chooser = gr.Dropdown(manager.choices(), value=manager.library.name, label="问答使用的法规库", scale=3, elem_id="library-chooser",
                              interactive=changeable, info="对这个服务的所有用户生效；API 接口也作用于它")
        new_name = gr.Textbox(label="新建法规库", placeholder="名称，例如 本单位制度", scale=2, visible=changeable, elem_id="library-new-name")
        create = gr.Button("新建法规库", scale=1, min_width=100, visible=changeable, elem_id="library-create")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=480):
            search = gr.Textbox(placeholder="按标题搜索法规", show_label=False, container=False, elem_id="library-search")
            laws = gr.HTML(render_laws(manager.laws(), removable=_removable(manager)), js_on_load=LAWS_JS, max_height=560,
                           elem_id="library-laws")
            with gr.Row(visible=False, elem_id="library-confirm-remove") as confirm_row:
                confirm_text = gr.HTML("")
                confirm_remove = gr.Button("确定删除", variant="stop", size="sm", min_width=90, elem_id="library-remove-yes")
                cancel_remove = gr.Button("取消", size="sm", min_width=70, elem_id="library-remove-no")
        with gr.Column(scale=2, min_width=360, visible=_removable(manager)) as upload_column:
            upload = gr.File(label="上传法规文件", file_count="multiple", file_types=list(lib.LIBRARY_SUFFIXES), height=140, elem_id="library-upload")
            gr.HTML(f'<div class="src-hint">{LIMITS_TEXT}上传后先预览解析结果，确认后才加入法规库。</div>')
            previews = gr.HTML("", elem_id="library-preview", max_height=480)
            force = gr.Checkbox(False, label="条号有问题的文件也添加", elem_id="library-force")
            with gr.Row():
                add = gr.Button("确认添加", variant="primary", interactive=False, elem_id="library-add")
                cancel_add = gr.Button("取消", interactive=False, elem_id="library-cancel")
            status = gr.HTML("", elem_id="library-status", min_height=70)
    with gr.Accordion("改动记录", open=False):
        changes = gr.HTML(render_changes(lib.read_changes(manager.library, 20)), elem_id="library-changes")
    return LibraryTab(
        info=info, chooser=chooser, new_name=new_name, create=create, search=search, laws=laws, confirm_row=confirm_row,
        confirm_text=confirm_text, confirm_remove=confirm_remove, cancel_remove=cancel_remove, pending_remove=gr.State(None),
        upload=upload, previews=previews, force=force, add=add, cancel_add=cancel_add, status=status, changes=changes,
        upload_column=upload_column,
    )


@dataclass
class ChatHooks:
    """What the tab updates on the chat page after a change: its header, the search-scope picker; and how it
    opens a law in the article viewer (outputs, and a function of doc_id and the law's article labels)."""

    header: Any
    scope: Any
    open_outputs: list[Any]
    open_law: Callable[[str, list[str]], tuple[Any, ...]]
    header_html: Callable[[], str]
    scope_update: Callable[[], Any]


def _progress_callback(progress: gr.Progress) -> lib.Progress:
    def report(stage: str, done: int, total: int) -> None:
        label = _STAGES.get(stage, stage)
        if total:
            progress((done, total), desc=label, unit="段" if stage == "编码条文" else "个")
        else:
            progress(0, desc=label)

    return report


def _uploaded(files: Sequence[Any] | None) -> list[lib.Upload]:
    """The files of a gr.File value or of an API call, as Uploads: the path must be one Gradio wrote
    in its upload folder, the name shown is the one it was uploaded with."""
    from gradio.utils import get_upload_folder

    folder = Path(get_upload_folder()).resolve()
    uploads = []
    for item in files or []:
        if isinstance(item, dict):
            path, name = item.get("path"), item.get("orig_name")
        elif isinstance(item, FileData):
            path, name = item.path, item.orig_name
        else:
            path, name = getattr(item, "name", item), None
        if not isinstance(path, str) or not path:
            raise gr.Error("上传的文件无效。", title="不能添加", print_exception=False)
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(folder):
            raise gr.Error("只接受上传到本服务的文件。", title="不能添加", print_exception=False)
        uploads.append(lib.Upload(name=Path(name or resolved.name).name, path=resolved))
    return uploads


def _user(request: gr.Request | None) -> str | None:
    return getattr(request, "username", None) or None


def wire_library(tab: LibraryTab, manager: LibraryManager, chat: ChatHooks, main_tabs: Any, private: dict) -> None:
    """The tab's events: choose, create, search, open, preview, add (with progress), remove (after confirming)."""

    def refreshed(query: str = "") -> tuple[Any, ...]:
        """Outputs of a change: info, laws, changes log, upload column (shown where the library may be changed),
        chat header, chat scope."""
        return (
            render_info(_info(manager), manager),
            render_laws(manager.laws(query), removable=_removable(manager), query=query),
            render_changes(lib.read_changes(manager.library, 20)),
            gr.Column(visible=_removable(manager)),
            chat.header_html(),
            chat.scope_update(),
        )

    after_change = [tab.info, tab.laws, tab.changes, tab.upload_column, chat.header, chat.scope]

    def choose(name: str) -> tuple[Any, ...]:
        try:
            manager.choose(name)
        except RagError as error:
            raise gr.Error(str(error), title="错误", print_exception=False) from error
        return refreshed()

    tab.chooser.input(choose, [tab.chooser], after_change, **private)

    def create(name: str, request: gr.Request) -> tuple[Any, ...]:
        manager.check_change(library=False)
        try:
            created = lib.create_library(name, root=manager.root, user=_user(request), via="web")
        except RagError as error:
            raise gr.Error(str(error), title="不能新建", print_exception=False) from error
        manager.choose(created.name)
        return (gr.Dropdown(choices=manager.choices(), value=created.name), "", *refreshed())

    tab.create.click(create, [tab.new_name], [tab.chooser, tab.new_name, *after_change], concurrency_id=CHANGING, **private)

    def search(query: str) -> str:
        query = (query or "").strip()
        return render_laws(manager.laws(query), removable=_removable(manager), query=query)

    tab.search.input(search, [tab.search], [tab.laws], trigger_mode="always_last", **private)

    def open_law(event: gr.EventData) -> tuple[Any, ...]:
        doc_id = str(event.doc_id)
        try:
            labels = lib.law_outline(manager.library, doc_id)
        except RagError as error:
            raise gr.Error(str(error), title="错误", print_exception=False) from error
        return (*chat.open_law(doc_id, labels), gr.Tabs(selected="chat"))

    tab.laws.open_law(open_law, None, [*chat.open_outputs, main_tabs], **private)

    def preview(files: list[Any] | None, force: bool) -> tuple[Any, ...]:
        if not files:
            return "", gr.Button(interactive=False), gr.Button(interactive=False)
        try:
            previews = lib.preview_laws(_uploaded(files), manager.library)
        except RagError as error:
            return f'<div class="lib-fail">{html.escape(str(error))}</div>', gr.Button(interactive=False), gr.Button(interactive=True)
        ready = any(p.ok or (force and p.blocking and not p.error and p.existing != "same") for p in previews)
        return render_previews(previews, force=force), gr.Button(interactive=ready), gr.Button(interactive=True)

    tab.upload.change(preview, [tab.upload, tab.force], [tab.previews, tab.add, tab.cancel_add], **private)
    tab.force.input(preview, [tab.upload, tab.force], [tab.previews, tab.add, tab.cancel_add], **private)

    def cancel() -> tuple[Any, ...]:
        return None, "", gr.Button(interactive=False), gr.Button(interactive=False), ""

    tab.cancel_add.click(cancel, None, [tab.upload, tab.previews, tab.add, tab.cancel_add, tab.status], **private)
    tab.upload.clear(cancel, None, [tab.upload, tab.previews, tab.add, tab.cancel_add, tab.status], **private)

    def add(files: list[Any] | None, force: bool, request: gr.Request, progress=gr.Progress()) -> tuple[Any, ...]:
        manager.check_change()
        if not files:
            raise gr.Error("请先上传文件。", title="提示", print_exception=False)
        try:
            results = lib.add_laws(manager.library, _uploaded(files), user=_user(request), force=force,
                                   progress=_progress_callback(progress), via="web")
        except RagError as error:
            return (f'<div class="lib-fail">没有添加任何法规，法规库未改动：{html.escape(str(error))}</div>', gr.skip(), gr.skip(),
                    gr.Button(interactive=True), gr.Button(interactive=True), *(gr.skip(),) * len(after_change))
        info = _info(manager)
        return (render_results(results, info), None, "", gr.Button(interactive=False), gr.Button(interactive=False), *refreshed())

    def lock() -> tuple[Any, ...]:
        return gr.Button(interactive=False), gr.Button(interactive=False)

    tab.add.click(lock, None, [tab.add, tab.cancel_add], queue=False, **private).then(
        add, [tab.upload, tab.force], [tab.status, tab.upload, tab.previews, tab.add, tab.cancel_add, *after_change],
        concurrency_id=CHANGING, concurrency_limit=1, show_progress_on=[tab.status], **private,
    )

    def ask_remove(event: gr.EventData) -> tuple[Any, ...]:
        manager.check_change()
        doc_id, title = str(event.doc_id), str(event.title)
        text = f"确定从法规库“{html.escape(manager.library.name)}”中删除《{html.escape(title)}》吗？删除后回答不再引用它。"
        return doc_id, gr.Row(visible=True), f'<div class="lib-note">{text}</div>', gr.Button(interactive=True)

    tab.laws.remove_law(ask_remove, None, [tab.pending_remove, tab.confirm_row, tab.confirm_text, tab.confirm_remove], **private)

    def keep() -> tuple[Any, ...]:
        return None, gr.Row(visible=False), ""

    tab.cancel_remove.click(keep, None, [tab.pending_remove, tab.confirm_row, tab.confirm_text], **private)

    def remove(doc_id: str | None, request: gr.Request, progress=gr.Progress()) -> tuple[Any, ...]:
        manager.check_change()
        if not doc_id:
            return (gr.skip(),) * (3 + len(after_change))
        try:
            removed = lib.remove_laws(manager.library, [doc_id], user=_user(request), progress=_progress_callback(progress), via="web")
        except RagError as error:
            return (f'<div class="lib-fail">{html.escape(str(error))}</div>', None, gr.Row(visible=False), *(gr.skip(),) * len(after_change))
        done = "、".join(f"《{html.escape(e.title)}》" for e in removed)
        return (f'<div class="lib-done">已删除{done}，新版本已启用。</div>', None, gr.Row(visible=False), *refreshed())

    tab.confirm_remove.click(lambda: gr.Button(interactive=False), None, [tab.confirm_remove], queue=False, **private).then(
        remove, [tab.pending_remove], [tab.status, tab.pending_remove, tab.confirm_row, *after_change],
        concurrency_id=CHANGING, concurrency_limit=1, show_progress_on=[tab.status], **private,
    )


# ----------------------------------------------------------------------------------------------- the API


def add_library_api(manager: LibraryManager) -> None:
    """Named endpoints for gradio_client, acting on the library the chat uses: list_laws always; preview_laws,
    add_laws and remove_law unless the server is read-only (then they do not exist)."""

    def list_laws() -> list[dict]:
        """The laws of the library the chat uses: title, doc_id, articles, category, author, dates, status, file."""
        return [entry.to_dict() for entry in manager.laws()]

    gr.api(list_laws, api_name="list_laws")
    if manager.read_only:
        return

    def preview_laws(files: list[FileData]) -> list[dict]:
        """What the parser understands of each file (title, articles, outline, first articles, warnings); nothing is added."""
        try:
            return [p.to_dict() for p in lib.preview_laws(_uploaded(files), manager.library)]
        except RagError as error:
            raise gr.Error(str(error), title="错误", print_exception=False) from error

    def add_laws(files: list[FileData], request: gr.Request) -> list[dict]:
        """Add the files' laws to the library the chat uses; per file: title, articles, warnings, added and why not."""
        manager.check_change()
        try:
            return [r.to_dict() for r in lib.add_laws(manager.library, _uploaded(files), user=_user(request), via="api")]
        except RagError as error:
            raise gr.Error(str(error), title="错误", print_exception=False) from error

    def remove_law(law: str, request: gr.Request) -> dict:
        """Remove a law (title or doc_id) from the library the chat uses; returns the removed law."""
        manager.check_change()
        try:
            (removed,) = lib.remove_laws(manager.library, [law], user=_user(request), via="api")
        except RagError as error:
            raise gr.Error(str(error), title="错误", print_exception=False) from error
        return removed.to_dict()

    gr.api(preview_laws, api_name="preview_laws")
    gr.api(add_laws, api_name="add_laws", concurrency_id=CHANGING, concurrency_limit=1)
    gr.api(remove_law, api_name="remove_law", concurrency_id=CHANGING, concurrency_limit=1)
