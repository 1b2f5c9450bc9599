"""Question sets over many laws, each law indexed alone: the one-law tasks that `rag eval --suite` and
`rag eval --per-law` run, and `rag calibrate` fits on.

A task is one law (its file, indexed alone) with the questions asked of it: its own (answerable, near-topic,
conversations) and real questions about other laws, asked of it as off-topic ones. Two ways to make tasks:
    load_suite(toml)     a suite file naming each task's law and question files (eval/suites/*.toml)
    per_law_suite(qs)    a question set with gold articles in many laws (STARD): one task per law holding the gold
                         of at least `min_questions` of its questions, the other laws' questions as its off-topic ones
Each task's index is built once under an index root (one folder per law and embedding model) and reused."""

from __future__ import annotations

import hashlib
import re
import sys
import time
import tomllib
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Sequence

from rag.answering import LLMConfig

from .harness import OFFTOPIC, ConfigResult, Report, Settings, build_configs, evaluate, summarize
from .questions import EvalError, Question, load_questions

__all__ = [
    "OFFTOPIC",
    "LAW_FOLDS",
    "Task",
    "Suite",
    "TaskReport",
    "LawFiles",
    "load_suite",
    "per_law_suite",
    "gold_law_counts",
    "MIN_QUESTIONS",
    "task_index",
    "law_fold",
    "evaluate_suite",
    "pooled",
    "per_law_table",
]

LAW_FOLDS = 5  # leave-law-out folds: every law's questions in one fold
MIN_QUESTIONS = 5  # questions a law must have in a set for per_law_suite to make it a task
_FRONT = re.compile(r"^(id|title):\s*(.+?)\s*$", re.MULTILINE)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Task:
    """One law indexed alone, and the questions asked of it (off-topic ones with no gold, type OFFTOPIC)."""

    name: str  # the law's title
    doc_id: str
    law: Path  # its file
    questions: tuple[Question, ...]

    @property
    def slug(self) -> str:
        return self.doc_id


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[Task, ...]


def law_fold(doc_id: str, folds: int = LAW_FOLDS) -> int:
    """The leave-law-out fold of a law: all its questions, of every set, share it."""
    return int(hashlib.sha1(doc_id.encode()).hexdigest(), 16) % folds


class LawFiles:
    """The law files under a folder, by doc_id and by title (read from their front matter, not parsed)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise EvalError(f"找不到法规目录：{self.folder}")

    @cached_property
    def _entries(self) -> list[tuple[str, str, Path]]:
        entries = []
        for path in sorted(self.folder.rglob("*.md")):
            with open(path, encoding="utf-8", errors="replace") as handle:
                head = handle.read(4000)
            fields = dict(_FRONT.findall(head.split("\n---", 1)[0]))
            if "id" in fields:
                entries.append((fields["id"].strip("'\""), fields.get("title", "").strip("'\""), path))
        return entries

    def find(self, law: str) -> tuple[str, str, Path]:
        """(doc_id, title, file) of a law named by doc_id or title; EvalError when none or several match."""
        found = [e for e in self._entries if law in (e[0], e[1])]
        if len(found) != 1:
            raise EvalError(f"法规目录 {self.folder} 中{'没有' if not found else '有多部'}名为或 id 为“{law}”的法规")
        return found[0]


def _offtopic(questions: Sequence[Question], exclude: str, count: int, salt: str) -> list[Question]:
    """`count` questions whose gold is in other laws than `exclude`, chosen by a hash (the same every run),
    as unanswerable questions of type OFFTOPIC; conversations' turns are left out."""
    pool = [q for q in questions if not q.conversation and q.gold and all(g.doc_id != exclude and g.law != exclude for g in q.gold)]
    pool.sort(key=lambda q: hashlib.sha1(f"{salt}:{q.id}".encode()).hexdigest())
    return [replace(q, id=f"{OFFTOPIC}:{q.id}", gold=(), type=OFFTOPIC, keywords=()) for q in pool[:count]]


def _resolve(path: str, base: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else (base / candidate)


def load_suite(path: str | Path) -> Suite:
    """A suite file (TOML):

        name = "…"
        laws = "../shared/laws"                   # where laws named by title or id are found
        offtopic = "eval/questions/stard_tune.jsonl"   # real questions about other laws…
        offtopic_per_task = 30                    # …this many asked of each task as off-topic
        [[task]]
        law = "中华人民共和国劳动合同法"            # title or id under `laws`, or a file path
        questions = ["eval/questions/laws/labor_contract/qa.jsonl", …]
        offtopic_per_task = 100                   # optional: this task's own count

    Relative paths are read from the project root."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"找不到评测套件：{path}") from None
    except tomllib.TOMLDecodeError as error:
        raise EvalError(f"评测套件 {path} 不是合法的 TOML：{error}") from None
    laws = LawFiles(_resolve(data.get("laws", "../shared/laws"), ROOT))
    offtopic = load_questions(_resolve(data["offtopic"], ROOT)) if data.get("offtopic") else []
    count = int(data.get("offtopic_per_task", 30))
    tasks = []
    for entry in data.get("task", []):
        named = _resolve(entry["law"], ROOT)
        if named.suffix in (".md", ".txt", ".docx") and named.is_file():
            doc_id, title, law_path = _front_of(named)
        else:
            doc_id, title, law_path = laws.find(entry["law"])
        questions = [q for file in entry["questions"] for q in load_questions(_resolve(file, ROOT))]
        questions += _offtopic(offtopic, doc_id, int(entry.get("offtopic_per_task", count)), title)
        tasks.append(Task(title, doc_id, law_path, tuple(questions)))
    if not tasks:
        raise EvalError(f"评测套件 {path} 中没有 [[task]]")
    return Suite(str(data.get("name", path.stem)), tuple(tasks))


def _front_of(path: Path) -> tuple[str, str, Path]:
    from rag.ingest import parse_law

    law = parse_law(path)
    return law.doc_id, law.title, path


def gold_law_counts(questions: Sequence[Question]) -> dict[str, int]:
    """How many questions have gold articles in each law (its doc id, else its title)."""
    counts: dict[str, int] = {}
    for question in questions:
        for law in {g.doc_id or g.law for g in question.gold}:
            counts[law] = counts.get(law, 0) + 1
    return counts


def per_law_suite(
    questions_path: str | Path, laws: str | Path, *, min_questions: int = MIN_QUESTIONS, offtopic_per_task: int = 30
) -> Suite:
    """One task per law holding gold articles of at least `min_questions` questions of the set: those
    questions (their gold in other laws is dropped when the task's index is resolved), and
    `offtopic_per_task` of the other laws' questions as off-topic ones."""
    questions = load_questions(questions_path)
    files = LawFiles(laws)
    counts = gold_law_counts(questions)
    tasks = []
    for law, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count < min_questions:
            continue
        doc_id, title, path = files.find(law)
        own = [q for q in questions if any((g.doc_id or g.law) == law for g in q.gold)]
        tasks.append(Task(title, doc_id, path, tuple(own + _offtopic(questions, doc_id, offtopic_per_task, title))))
    if not tasks:
        raise EvalError(f"{questions_path} 中没有哪部法规有 {min_questions} 个以上的问题")
    return Suite(Path(questions_path).stem, tuple(tasks))


def task_index(task: Task, root: str | Path, model: str | None = None) -> Path:
    """The index of the task's law alone with `model` (None: the default one) and the default second model,
    built under `root` when missing (brought up to date when stale)."""
    import rag
    from embeddings.model import ModelSpec
    from embeddings.registry import default_spec
    from rag.index import check_stale, live_manifest
    from rag.ingest import ChunkSettings

    spec = ModelSpec(name=model) if model else default_spec()
    folder = Path(root) / re.sub(r"[^\w.-]+", "_", spec.name) / task.doc_id
    manifest = live_manifest(folder)
    # stale (sources, settings, or not the default second model): rebuilt, re-encoding only what changed
    if manifest is None or check_stale(manifest, spec, ChunkSettings.from_dict(manifest["chunking"]), "auto"):
        rag.build_index([task.law], folder, model=spec)
    return folder


@dataclass
class TaskReport:
    """One task's report: its questions against its law's own index."""

    task: Task
    index: Path
    report: Report


def evaluate_suite(
    suite: Suite,
    specs: Sequence[str] = ("hybrid",),
    *,
    index_root: str | Path,
    model: str | None = None,
    k: int = 5,
    llm: LLMConfig | None = None,
    progress: bool = True,
) -> list[TaskReport]:
    """Every task's questions through the configurations, on that task's one-law index."""
    results = []
    for number, task in enumerate(suite.tasks, start=1):
        if progress:
            print(f"[{number}/{len(suite.tasks)}] 《{task.name}》：{len(task.questions)} 题", file=sys.stderr, flush=True)
        index = task_index(task, index_root, model)
        configs = build_configs(specs, index=index, model=model, k=k, llm=llm)
        settings = Settings(questions=f"{suite.name}:{task.name}", index=str(index), k=k)
        results.append(TaskReport(task, index, evaluate(list(task.questions), configs, settings=settings, progress=progress)))
    return results


def pooled(suite: Suite, reports: Sequence[TaskReport]) -> Report:
    """One report of all tasks' rows (ids prefixed with the law's id), each configuration summarised over them."""
    configs = []
    for position, first in enumerate(reports[0].report.configs):
        rows = [replace(row, id=f"{r.task.doc_id}:{row.id}", law=r.task.name) for r in reports for row in r.report.configs[position].rows]
        types = dict.fromkeys(row.type for row in rows)
        by_type = {t: summarize([row for row in rows if row.type == t]) for t in types}
        configs.append(ConfigResult(first.name, summarize(rows), by_type, rows))
    missing = [m for r in reports for m in r.report.missing_gold]
    skipped = [f"{r.task.doc_id}:{s}" for r in reports for s in r.report.skipped]
    settings = Settings(questions=suite.name, index="", k=reports[0].report.settings.k)
    return Report(settings, time.strftime("%Y-%m-%dT%H:%M:%S"), configs, missing, skipped)


PER_LAW_METRICS: tuple[tuple[str, str], ...] = (
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("answered_rate", "可回答·回答"),
    ("false_abstention_rate", "可回答·无关"),
    ("unanswerable_answered_rate", "近题·回答"),
    ("offtopic_not_covered_rate", "无关题·无关"),
    ("keyword_recall", "关键词召回"),
    ("followup_answer_ok", "追问答对"),
)


def per_law_table(reports: Sequence[TaskReport], config: str, worst: int = 5) -> str:
    """Markdown: one line per law (its questions' metrics under `config`), the macro mean, and the `worst`
    laws by Recall@1 listed first."""
    lines = []
    for r in reports:
        result = r.report.config(config)
        if result is not None:
            lines.append((r.task, result.summary))
    lines.sort(key=lambda item: (item[1].metrics.get("recall@1") is None, item[1].metrics.get("recall@1") or 0.0))
    header = ["法规", "题数（可回答）", *(title for _, title in PER_LAW_METRICS)]
    rows = [[task.name, f"{s.questions}（{s.answerable}）", *(_cell(s.metrics.get(m)) for m, _ in PER_LAW_METRICS)] for task, s in lines]
    macro = ["各法规平均", f"{len(lines)} 部", *(_cell(_mean([s.metrics.get(m) for _, s in lines])) for m, _ in PER_LAW_METRICS)]
    table = _markdown([header, *rows, macro])
    named = "、".join(f"《{task.name}》" for task, _ in lines[:worst])
    return f"按 Recall@1 从低到高（最差的 {min(worst, len(lines))} 部：{named}）\n\n{table}"


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "|".join("---" for _ in rows[0]) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows[1:]])
