"""Time to first token and total time of the local model, by thread count, on the same questions:

    python -m eval.llm_speed eval/questions/seed_test.jsonl --llm llamacpp:qwen2.5-coder-1.5b --threads 2 1 --limit 10

For each of the first `limit` questions the extractive reader answers (stance answered), the model is asked
once per thread count, the counts taking turns question by question, so that a machine whose load varies
weighs on each alike; the load average is recorded before and after. Prompt and reply are measured in the
model's tokens. Prints a Markdown table (medians) and writes the rows to --out as JSON."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

from rag import answer
from rag.answering import get_backend, load_llm_config, model_articles, stream_answer

from .questions import load_questions

__all__ = ["main"]


class _Timed:
    """A backend wrapper recording the messages it was given, when its first piece came, and the pieces."""

    def __init__(self, backend) -> None:
        self.backend, self.name = backend, backend.name
        self.messages: list = []
        self.pieces: list[str] = []
        self.first: float | None = None

    def complete(self, messages) -> str:
        return "".join(self.stream(messages))

    def stream(self, messages):
        self.messages, self.pieces, self.first = list(messages), [], None
        for piece in self.backend.stream(messages):
            self.first = self.first or time.perf_counter()
            self.pieces.append(piece)
            yield piece


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m eval.llm_speed", description="本地模型的首个词元时间与总时间（按线程数）")
    parser.add_argument("questions")
    parser.add_argument("--index")
    parser.add_argument("--llm", required=True, metavar="llamacpp:MODEL")
    parser.add_argument("--threads", type=int, nargs="+", default=[len(os.sched_getaffinity(0))])
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--out", help="JSON 结果文件")
    args = parser.parse_args(argv)
    config = load_llm_config(args.llm)
    if config is None or config.backend != "llamacpp":
        print("错误：--llm 应为 llamacpp:模型", file=sys.stderr)
        return 2
    backends = {}
    for threads in args.threads:
        start = time.perf_counter()
        backends[threads] = get_backend(replace(config, threads=threads))
        backends[threads].backend.load_seconds = time.perf_counter() - start
    rows = []
    load_before = os.getloadavg()
    for question in load_questions(args.questions):
        if len({r["id"] for r in rows}) >= args.limit:
            break
        result = answer(question.question, index=args.index)
        if result.stance != "answered":
            continue
        for threads, backend in backends.items():
            model = backend.backend.model
            timed = _Timed(backend)
            start = time.perf_counter()
            for _ in stream_answer(result.question, model_articles(result, config), result, timed):
                pass
            total = time.perf_counter() - start
            first = timed.first
            prompt = len(model.tokenize("".join(m["content"] for m in timed.messages).encode()))
            reply = len(model.tokenize("".join(timed.pieces).encode(), add_bos=False))
            rows.append({"id": question.id, "threads": threads, "prompt_tokens": prompt, "reply_tokens": reply,
                         "first_token_s": (first - start) if first else None, "total_s": total, "load": os.getloadavg()[0]})
            print(json.dumps(rows[-1]), flush=True)
    load_after = os.getloadavg()
    print(f"\n负载（1/5/15 分钟平均）：开始 {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f}，"
          f"结束 {load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f}\n")
    print("| 线程 | 加载 s | 提示词元 | 首个词元 s | 总时间 s | 生成 词元/秒 |\n|---|---|---|---|---|---|")
    for threads, backend in backends.items():
        mine = [r for r in rows if r["threads"] == threads]
        speed = [r["reply_tokens"] / (r["total_s"] - r["first_token_s"]) for r in mine if r["first_token_s"] and r["total_s"] > r["first_token_s"]]
        print(f"| {threads} | {backend.backend.load_seconds:.1f} | {statistics.median(r['prompt_tokens'] for r in mine):.0f} | "
              f"{statistics.median(r['first_token_s'] for r in mine):.1f} | {statistics.median(r['total_s'] for r in mine):.1f} | "
              f"{statistics.median(speed):.1f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"load_before": load_before, "load_after": load_after, "rows": rows}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
