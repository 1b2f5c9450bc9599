"""The evaluation harness: retrieval, citation, abstention and speed of rag.retrieve()/rag.answer()
on a question set, for several configurations at once, written as report.json, report.md and a plot.

    from eval import evaluate_file, write_report
    report = evaluate_file("eval/questions/seed_dev.jsonl", configs=("bm25", "hybrid"))
    write_report(report, "reports/seed_dev")
"""

from .harness import Config, ConfigResult, Report, Row, Settings, Summary, build_configs, evaluate, evaluate_file
from .questions import Catalog, EvalError, LawArticle, Question, QuestionSetError, load_questions, parse_questions
from .report import compare, format_comparison, load_report, write_report

__all__ = [
    "Config",
    "ConfigResult",
    "Report",
    "Row",
    "Settings",
    "Summary",
    "build_configs",
    "evaluate",
    "evaluate_file",
    "Catalog",
    "EvalError",
    "LawArticle",
    "Question",
    "QuestionSetError",
    "load_questions",
    "parse_questions",
    "compare",
    "format_comparison",
    "load_report",
    "write_report",
]
