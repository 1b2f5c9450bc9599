"""Several laws in one index: law names narrow the search, lookups bind to the named law,
answers name the law, and builds are incremental and resumable."""

import json
import shutil
import sqlite3

import pytest

from rag import answer, retrieve
from rag.index.build import build_index, encoded_texts, open_index

LAWS = {
    "中华人民共和国数据安全法": "法律/ff80818179f5e0800179f885c7e70392.md",
    "中华人民共和国电子签名法": "法律/ff8080816f135f46016f2163e4261aa1.md",
}


@pytest.fixture(scope="module")
def library(tmp_path_factory, library_path, seed_path):
    folder = tmp_path_factory.mktemp("library") / "laws"
    folder.mkdir()
    for relative in LAWS.values():
        shutil.copy(library_path / relative, folder / (relative.split("/")[-1]))
    shutil.copy(seed_path, folder / seed_path.name)
    out, errors = build_index([folder], folder.parent / "index")
    assert errors == []
    return folder, out


def _rows(out):
    with sqlite3.connect(out / "embeddings.sqlite") as db:
        return db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]


def test_law_named_in_question_narrows_the_search(library):
    _, out = library
    hits = retrieve("数据安全法对数据处理活动有什么要求？", k=10, index=out)
    assert {h.law for h in hits} == {"中华人民共和国数据安全法"}


def test_article_lookup_binds_to_the_named_law(library):
    _, out = library
    assert retrieve("电子签名法第三条", k=3, index=out)[0].law == "中华人民共和国电子签名法"
    first = retrieve("数据安全法第三条", k=3, index=out)[0]
    assert (first.law, first.article) == ("中华人民共和国数据安全法", "第三条")


def test_laws_setting_chooses_what_is_searched(library):
    _, out = library
    hits = retrieve("数据安全", k=10, index=out, laws=("贵州省大数据发展应用促进条例",))
    assert {h.law for h in hits} == {"贵州省大数据发展应用促进条例"}


def test_answer_names_the_law_of_every_citation(library):
    _, out = library
    result = answer("电子签名需要满足什么条件才视为可靠？", index=out)
    assert not result.abstained
    for citation in result.citations:
        assert f"《{citation.law}》{citation.article}" in result.text


@pytest.fixture
def library_copy(library, tmp_path):
    """The library index copied, so that a prior written into it leaves the other tests' index alone."""
    copy = tmp_path / "index"
    shutil.copytree(library[1], copy)
    return copy


def test_category_prior_orders_hits_by_score_plus_offset(library_copy):
    from rag.index.prior import PRIOR_FILE, CategoryPrior
    from rag.retrieval.search import RetrieveOptions, search

    question = "数据处理者应当履行哪些数据安全保护义务？"
    plain = search(open_index(library_copy), question, RetrieveOptions(k=200, prior=False))
    offsets = {"法律": -0.5}  # the seed regulation has no category ("")
    CategoryPrior(offsets).save(library_copy / PRIOR_FILE)
    index = open_index(library_copy)
    assert index.prior == CategoryPrior(offsets)  # its own, not the shipped one
    ranked = search(index, question, RetrieveOptions(k=200))
    expected = sorted(plain, key=lambda h: -(h.score + offsets.get(index.categories[h.doc_id], 0.0)))
    assert [(h.doc_id, h.article) for h in ranked] == [(h.doc_id, h.article) for h in expected]
    assert plain[0].law == "中华人民共和国数据安全法" and ranked[0].law == "贵州省大数据发展应用促进条例"
    assert all(h.scores.get("prior") == -0.5 for h in ranked if h.law != "贵州省大数据发展应用促进条例")
    unchanged = search(index, question, RetrieveOptions(k=200, prior=False))
    assert [(h.doc_id, h.article, h.score) for h in unchanged] == [(h.doc_id, h.article, h.score) for h in plain]


def test_a_library_index_of_the_default_model_uses_the_shipped_prior(library_copy):
    from rag.index.prior import PRIOR_PATH, load_prior

    index = open_index(library_copy)
    assert PRIOR_PATH.is_file() and index.prior == load_prior(PRIOR_PATH.parent / "no-such-index", index.embedder.spec.name)
    assert index.prior.offsets["法律"] == 0.0 and min(index.prior.offsets.values()) < 0


def test_prior_command_fits_the_index_prior_and_refits_the_same(library_copy, tmp_path, capsys):
    from rag.cli import main
    from rag.index.prior import PRIOR_FILE, load_prior

    questions = tmp_path / "q.jsonl"
    gold = [
        ("开展数据处理活动应当建立健全全流程数据安全管理制度吗？", "中华人民共和国数据安全法", "第二十七条"),
        ("国家对数据实行分类分级保护吗？", "中华人民共和国数据安全法", "第二十一条"),
        ("电子签名什么情况下视为可靠？", "中华人民共和国电子签名法", "第十三条"),
        ("公共数据怎样共享开放？", "贵州省大数据发展应用促进条例", "第十六条"),
        ("数据安全责任由谁负责？", "贵州省大数据发展应用促进条例", "第三十八条"),
    ]
    questions.write_text(
        "".join(json.dumps({"id": str(i), "question": q, "gold": [{"law": law, "article": a}]}, ensure_ascii=False) + "\n" for i, (q, law, a) in enumerate(gold)),
        encoding="utf-8",
    )
    command = ["prior", "--index", str(library_copy), str(questions), "--min-gold", "2"]
    assert main(command) == 0
    first = (library_copy / PRIOR_FILE).read_text(encoding="utf-8")
    printed = capsys.readouterr().out
    assert "已写入" in printed and "R@10 / R@100 / MRR@10" in printed
    prior = load_prior(library_copy)
    assert set(prior.offsets) == {"法律", ""} and max(prior.offsets.values()) == 0.0
    assert prior.report["gold"] == {"": 2, "法律": 3} and prior.report["questions"] == 5
    assert main(command) == 0
    assert (library_copy / PRIOR_FILE).read_text(encoding="utf-8") == first
    assert main(["prior", "--index", str(library_copy), "--off"]) == 0
    assert open_index(library_copy).prior.offsets == {}  # its own, empty: the shipped one no longer applies


def test_adding_a_law_re_encodes_only_its_articles(library, library_path):
    folder, out = library
    before = _rows(out)
    added = library_path / "法律/ff80818182cf5c220182fd54401023d6.md"  # 反电信网络诈骗法, 50 articles
    shutil.copy(added, folder / added.name)
    index = open_index(out)
    assert "中华人民共和国反电信网络诈骗法" in {law.title for law in index.laws}
    added_chunks = [c for c in index.chunks if c.law == "中华人民共和国反电信网络诈骗法"]
    others = [c for c in index.chunks if c.law != "中华人民共和国反电信网络诈骗法"]
    assert _rows(out) == before + len(set(encoded_texts(added_chunks, index.chunking)[0]) - set(encoded_texts(others, index.chunking)[0]))


def test_interrupted_build_resumes_from_the_cache(library, tmp_path, monkeypatch):
    folder, _ = library
    out = tmp_path / "index"
    from embeddings import model

    calls = {"n": 0}
    real = model.Embedder.encode_passages

    def failing(self, texts, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # stopped after the first batch was committed
        return real(self, texts, **kwargs)

    monkeypatch.setattr(model.Embedder, "encode_passages", failing)
    with pytest.raises(KeyboardInterrupt):
        build_index([folder], out, commit_every=64)
    done_before_interrupt = _rows(out)
    assert 0 < done_before_interrupt
    monkeypatch.setattr(model.Embedder, "encode_passages", real)
    encoded = []
    monkeypatch.setattr(
        model.Embedder, "encode_passages", lambda self, texts, **kw: encoded.append(len(texts)) or real(self, texts, **kw)
    )
    build_index([folder], out)
    index = open_index(out)
    total = len(set(encoded_texts(index.chunks, index.chunking)[0]))
    assert sum(encoded) == total - done_before_interrupt
