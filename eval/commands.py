"""The `rag` subcommands of the evaluation package (entry-point group rag.commands): eval, calibrate, prior, fit-rescore, finetune."""

from __future__ import annotations

import argparse

from rag import RagError

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add eval, calibrate, prior, fit-rescore and finetune to the `rag` command's subparsers."""
    from embeddings.finetune import FinetuneSettings

    from . import calibrate as calibration
    from . import cli, prior, rescore_fit

    evaluate = sub.add_parser("eval", help="在问题集上评测检索、引用、拒答与速度")
    cli.add_arguments(evaluate)
    evaluate.set_defaults(func=cli.run)

    calibrate = sub.add_parser("calibrate", help="在调参问题集上拟合拒答模型、选定工作点与整条引用的长度上限")
    calibration.add_arguments(calibrate)
    calibrate.set_defaults(func=calibration.run)

    fit_prior = sub.add_parser("prior", help="在含标准条文的问题集上拟合法规库索引的类别先验（法律、司法解释、行政法规…），写入索引目录")
    prior.add_arguments(fit_prior)
    fit_prior.set_defaults(func=prior.run)

    fit_rescore = sub.add_parser("fit-rescore", help="在单部法规的任务上拟合第二个模型（EmbeddingGemma）何时重排、权重多大")
    rescore_fit.add_arguments(fit_rescore)
    fit_rescore.set_defaults(func=rescore_fit.run)

    tune = sub.add_parser("finetune", help="用问题集（含标准条文）微调嵌入模型（MNRL + 难负例）")
    tune.add_argument("questions", nargs="+", help="问题集 JSONL（如 eval/questions/stard_tune.jsonl）")
    tune.add_argument("--index", required=True, help="问题集所针对的索引目录（提供正例与难负例，及基础模型：从这个索引的嵌入模型接着训练）")
    tune.add_argument(
        "--mine",
        choices=["bm25", "dense", "hybrid"],
        default="bm25",
        help="难负例按哪种检索取（默认 bm25；第二轮用已微调模型的索引与 hybrid，见 docs/finetune.md）",
    )
    tune.add_argument("--out", required=True, help="微调后模型的输出目录")
    defaults = FinetuneSettings()
    tune.add_argument("--epochs", type=int, default=defaults.epochs, help=f"训练轮数（默认 {defaults.epochs}）")
    tune.add_argument("--negatives", type=int, default=defaults.negatives, help=f"每条样例的难负例数（默认 {defaults.negatives}）")
    tune.add_argument("--batch-size", type=int, default=defaults.batch_size, help=f"批大小（默认 {defaults.batch_size}）")
    tune.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help=f"学习率（默认 {defaults.learning_rate}）")
    tune.add_argument("--max-seq-length", type=int, default=defaults.max_seq_length, help=f"训练时的最大长度（默认 {defaults.max_seq_length}）")
    tune.add_argument("--seed", type=int, default=defaults.seed, help="随机种子")
    tune.set_defaults(func=_cmd_finetune)


def _cmd_finetune(args: argparse.Namespace) -> int:
    from embeddings.finetune import FinetuneSettings, finetune
    from .questions import Catalog, load_questions, resolve_gold
    from .training import mine_examples

    from rag import get_index

    settings = FinetuneSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        negatives=args.negatives,
        max_seq_length=args.max_seq_length,
        seed=args.seed,
    )
    index = get_index(args.index)
    # Gold articles checked against the index; bare labels (第五条) are bound to a single-law index
    resolution = resolve_gold([q for path in args.questions for q in load_questions(path)], Catalog.from_index(index))
    questions = resolution.questions
    examples = mine_examples(index, questions, negatives=settings.negatives, mode=args.mine)
    usable = sum(len(e.negatives) >= settings.negatives for e in examples)
    print(
        f"训练样例：{usable} 条（来自 {len(questions)} 个问题；每条 {settings.negatives} 个难负例，取自 {args.mine} 检索，"
        f"不足的 {len(examples) - usable} 条不用；索引中找不到的标准条文 {len(resolution.missing)} 条）"
    )
    if not usable:
        raise RagError(f"没有可用的训练样例：问题需有索引中存在的标准条文，且每条要有 {settings.negatives} 个难负例")
    embedder = index.embedder
    out = finetune(
        embedder.model_path,
        examples,
        args.out,
        settings=settings,
        query_prompt=embedder.query_prefix,
        passage_prompt=embedder.passage_prefix,
        negatives_mined_by=f"{args.mine}:{index.path}",
    )
    print(f"微调后的模型已写入 {out}；用它建索引：rag index 法规目录 --out 索引目录 --model {out}")
    return 0
