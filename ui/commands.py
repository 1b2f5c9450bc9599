"""The `rag serve` subcommand of the web UI package (entry-point group rag.commands)."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add serve to the `rag` command's subparsers."""
    serve = sub.add_parser("serve", help="启动网页问答界面")
    serve.add_argument("--host", default="127.0.0.1", help="监听地址（默认仅本机 127.0.0.1）")
    serve.add_argument("--port", type=int, default=7860, help="端口（默认 7860）")
    serve.add_argument("--index", help="索引目录")
    serve.add_argument("--auth", default=None, help="user:pass 形式的登录口令（对外开放时建议设置；对外开放时没有口令不能修改法规库）")
    serve.add_argument("--read-only", action="store_true", help="只读：“法规库”页只列出法规，不能上传、删除、新建（公开部署时用）")
    from rag.answering import add_llm_options

    add_llm_options(serve)  # the LLM of the /v1 API, also offered on the page
    serve.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    from rag.answering import llm_config_from_options

    from .app import serve

    llm = llm_config_from_options(args) or "extractive"  # --llm, else RAG_LLM or the config file
    serve(host=args.host, port=args.port, index=args.index, auth=args.auth, read_only=args.read_only, llm=llm)
    return 0
