"""The seed's Chinese questions asked again with the regulation named (全称, or without 贵州省), as a
person naming the law would ask them: retrieval Recall@1/5, abstention and answers citing a gold article.

    .venv/bin/python eval/named_law.py eval/questions/seed_dev.jsonl eval/questions/seed_test.jsonl
"""

from __future__ import annotations

import json
import re
import sys

from rag import answer, retrieve

TITLE = "贵州省大数据发展应用促进条例"
FORMS = {"original": lambda q: q, "full title": lambda q: naming(q, TITLE), "no region": lambda q: naming(q, TITLE[3:])}


def naming(question: str, title: str) -> str:
    """The question with its reference to the regulation (这个条例, 条例…) replaced by the title, or prefixed."""
    found = re.search(r"(这个|这部|本|该)?条例", question)
    return question[: found.start()] + title + question[found.end() :] if found else f"{title}中，{question}"


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        rows = [r for r in rows if r.get("gold") and re.search(r"[\u4e00-\u9fff]", r["question"])]
        for form, ask in FORMS.items():
            top1 = top5 = abstained = cited = 0
            for row in rows:
                gold = {g["article"] for g in row["gold"]}
                question = ask(row["question"])
                articles = [h.article for h in retrieve(question, k=5)]
                reply = answer(question)
                top1 += articles[:1] != [] and articles[0] in gold
                top5 += bool(gold & set(articles))
                abstained += reply.abstained
                cited += not reply.abstained and bool(gold & {c.article for c in reply.citations})
            n = len(rows)
            print(f"{path.rsplit('/', 1)[-1]}\t{form}\tn={n}\tR@1 {top1 / n:.3f}\tR@5 {top5 / n:.3f}\t拒答 {abstained / n:.3f}\t引用金标准 {cited / n:.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
