"""The UI's pure formatting: escaping, quote highlighting, chat messages, sources and abstention."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ui.format import (
    article_choices,
    article_key,
    chat_feedback,
    corpus_summary,
    highlight,
    md_escape,
    message_markdown,
    quote_spans,
    render_article,
    render_chat,
    render_sources,
    split_article_key,
    stream_prefixes,
)

LAW = "贵州省大数据发展应用促进条例"
DOC = "ff8081819aedd63e019b117001877c4e"
URL = "https://flk.npc.gov.cn/detail?id=" + DOC


def citation(number: int = 1, article: str = "第五十一条", text: str = "本条例自2026年1月1日起施行。", quote: str = "") -> dict:
    return {
        "number": number,
        "law": LAW,
        "article": article,
        "doc_id": DOC,
        "text": text,
        "quote": quote or text,
        "score": 0.987,
        "path": ["第九章 附则"],
        "url": URL,
    }


def hit(rank: int, article: str, text: str, score: float) -> dict:
    return {"law": LAW, "article": article, "doc_id": DOC, "text": text, "score": score, "rank": rank, "scores": {},
            "path": ["第二章 算力基础"], "url": URL, "chunk_id": f"{DOC}-{rank}"}


def answer_dict(**changes) -> dict:
    data = {
        "question": "条例什么时候施行？",
        "text": "根据《贵州省大数据发展应用促进条例》第五十一条，本条例自2026年1月1日起施行。[1]",
        "citations": [citation()],
        "passages": [hit(1, "第五十一条", "本条例自2026年1月1日起施行。", 0.987)],
        "abstained": False,
        "backend": "extractive",
        "fell_back": False,
        "rewritten_question": "",
        "warnings": [],
    }
    data.update(changes)
    return data


ABSTAINED = answer_dict(
    question="今天天气怎么样？",
    text="抱歉，已收录的法规中没有找到能回答这个问题的条文。下面列出最接近的条文，仅供参考。",
    citations=[],
    passages=[hit(1, "第十条", "推动数据中心绿色低碳发展。", 0.7), hit(2, "第二十四条", "加强城市运行一网统管建设。", 0.61)],
    abstained=True,
)


def test_md_escape_keeps_citation_markers_and_neutralises_markup():
    text = "甲[1]乙[12]\n1. 第一项 *强调* <script>alert(1)</script> [链接](javascript:x) # 标题"
    escaped = md_escape(text)
    assert "[1]" in escaped and "[12]" in escaped
    assert "<script>" not in escaped and "&lt;script&gt;" in escaped
    assert r"\*强调\*" in escaped
    assert r"\[链接\]\(javascript:x\)" in escaped
    assert "\n1\\. 第一项" in escaped
    assert r"\#" in escaped


def test_quote_spans_find_each_quoted_sentence_across_paragraphs():
    text = "第一句。第二句话；\n第三段内容。第四句。"
    quote = "第二句话；第三段内容。"  # the reader joins sentences without the newline between them
    spans = quote_spans(text, quote)
    assert [text[a:b] for a, b in spans] == ["第二句话；", "第三段内容。"]


def test_quote_spans_ignore_a_quote_that_is_not_in_the_text():
    assert quote_spans("本条例自2026年1月1日起施行。", "完全不同的一句话。") == []


def test_highlight_marks_the_quote_and_escapes_law_text():
    text = "有<b>标签</b>的条文。本条例自2026年1月1日起施行。"
    out = highlight(text, "本条例自2026年1月1日起施行。")
    assert out == "有&lt;b&gt;标签&lt;/b&gt;的条文。<mark>本条例自2026年1月1日起施行。</mark>"


def test_highlight_escapes_html_inside_the_quote_too():
    out = highlight("甲<i>乙</i>。丙。", "甲<i>乙</i>。")
    assert out == "<mark>甲&lt;i&gt;乙&lt;/i&gt;。</mark>丙。"


@pytest.mark.parametrize("pieces", [1, 3, 10, 40, 1000])
def test_stream_prefixes_grow_to_the_whole_text_without_cutting_markers(pieces):
    text = "根据《条例》第十条，甲。[1]\n另据《条例》第十一条，乙。[2][10]"
    prefixes = list(stream_prefixes(text, pieces))
    assert prefixes[-1] == text
    assert all(len(a) < len(b) for a, b in zip(prefixes, prefixes[1:]))
    for prefix in prefixes:
        assert not re.search(r"\[\d*$", prefix), prefix


def test_stream_prefixes_stream_an_answer_in_several_pieces():
    assert len(list(stream_prefixes("本条例自2026年1月1日起施行。" * 10))) >= 10
    assert list(stream_prefixes("")) == [""]


def test_message_markdown_has_note_text_and_sources_footnote():
    data = answer_dict(rewritten_question="条例什么时候施行，违反了怎么处罚？")
    message = message_markdown(data)
    note, text, footnote = message.split("\n\n")
    assert note == "> 理解为：条例什么时候施行，违反了怎么处罚？"
    assert text.endswith("起施行。[1]")
    assert footnote == "**来源**\n[1] 《贵州省大数据发展应用促进条例》第五十一条（第九章 附则）"


def test_message_markdown_while_streaming_shows_only_the_text_so_far():
    data = answer_dict()
    assert message_markdown(data, "根据《贵州") == "根据《贵州"


def test_message_markdown_of_an_abstention_lists_the_closest_articles():
    message = message_markdown(ABSTAINED)
    assert message.startswith("抱歉，已收录的法规中没有找到")
    assert "**最接近的条文**" in message
    assert "1. 《贵州省大数据发展应用促进条例》第十条　相关度 0.70" in message
    assert "2. 《贵州省大数据发展应用促进条例》第二十四条　相关度 0.61" in message


def test_message_markdown_shows_warnings():
    message = message_markdown(answer_dict(warnings=["索引可能已过期"]))
    assert message.endswith("> 注意：索引可能已过期")


def test_render_chat_has_a_user_and_an_assistant_message_per_turn():
    turns = [
        {"question": "条例什么时候施行？", "answer": answer_dict(), "error": ""},
        {"question": "<b>坏</b>", "answer": None, "error": "问题中大部分是无法识别的字符"},
    ]
    chat = render_chat(turns)
    assert [m["role"] for m in chat] == ["user", "assistant", "user", "assistant"]
    assert "[1] 《贵州省大数据发展应用促进条例》第五十一条" in chat[1]["content"]
    assert chat[2]["content"] == "&lt;b&gt;坏&lt;/b&gt;"
    assert chat[3]["content"] == "**出错了**：问题中大部分是无法识别的字符"


def test_chat_feedback_follows_the_turns():
    turns = [{"question": "a", "answer": answer_dict(), "error": "", "feedback": "Like"}, {"question": "b", "answer": None, "error": "x"}]
    assert chat_feedback(turns) == ["Like", None]


def test_render_sources_lists_each_citation_with_chapter_score_link_and_highlight():
    text = "本条例所称大数据，是指数据集合。\n本条例自2026年1月1日起施行。"
    data = answer_dict(citations=[citation(text=text, quote="本条例自2026年1月1日起施行。")])
    out = render_sources(data, 1)
    assert "第 1 问：条例什么时候施行？" in out
    assert "《贵州省大数据发展应用促进条例》第五十一条" in out
    assert "第九章 附则" in out and "相关度 0.99" in out
    assert f'href="{URL}"' in out and 'rel="noopener noreferrer"' in out
    assert "<mark>本条例自2026年1月1日起施行。</mark>" in out
    assert f'data-doc="{DOC}" data-article="第五十一条"' in out


def test_render_sources_escapes_law_text_and_drops_unsafe_links():
    evil = citation(text='<img src=x onerror="alert(1)">第一句。', quote="第一句。")
    evil["law"] = "<script>法</script>"
    evil["url"] = "javascript:alert(1)"
    out = render_sources(answer_dict(citations=[evil]), 1)
    assert "<img" not in out and "<script>" not in out
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert "javascript:" not in out


def test_render_sources_of_an_abstention_says_so_and_shows_the_closest_articles():
    out = render_sources(ABSTAINED, 2)
    assert "没有找到能回答这个问题的条文" in out
    assert "第十条" in out and "推动数据中心绿色低碳发展。" in out and "第二十四条" in out
    assert "<mark>" not in out


def test_render_sources_before_any_question_explains_the_panel():
    assert "提问后" in render_sources(None)


def test_render_article_shows_title_chapter_text_and_link():
    out = render_article(LAW, "第五十条", "本条例下列用语的含义：\n（一）<公共数据>", ["第九章 附则"], URL)
    assert "《贵州省大数据发展应用促进条例》第五十条" in out
    assert "第九章 附则" in out and "&lt;公共数据&gt;" in out and URL in out


def test_a_cited_document_record_is_shown_without_the_index_header_with_its_fact_highlighted():
    record = citation(article="", text="文件信息。制定机关：贵州省人民代表大会常务委员会。施行日期：2026年1月1日。", quote="施行日期：2026年1月1日。")
    out = render_sources(answer_dict(citations=[record]))
    assert "《贵州省大数据发展应用促进条例》（文件信息）" in out and "文件信息。" not in out
    assert "<mark>施行日期：2026年1月1日。</mark>" in out


def test_render_article_shows_a_document_record_under_its_title_without_the_index_header():
    out = render_article(LAW, "", "文件信息。制定机关：贵州省人民代表大会常务委员会。", [], URL)
    assert "《贵州省大数据发展应用促进条例》（文件信息）" in out
    assert '<div class="src-text">制定机关：贵州省人民代表大会常务委员会。</div>' in out


def test_article_choices_and_keys():
    choices = article_choices(answer_dict(citations=[citation(1), citation(2, "第十条")]))
    assert choices == [
        ("[1] 《贵州省大数据发展应用促进条例》第五十一条", article_key(DOC, "第五十一条")),
        ("[2] 《贵州省大数据发展应用促进条例》第十条", article_key(DOC, "第十条")),
    ]
    assert [label for label, _ in article_choices(ABSTAINED)] == [
        "1. 《贵州省大数据发展应用促进条例》第十条",
        "2. 《贵州省大数据发展应用促进条例》第二十四条",
    ]
    assert article_choices(None) == []
    assert split_article_key(article_key("a#b", "")) == ("a#b", "")


@dataclass
class FakeLaw:
    title: str
    articles: int
    effective_date: str = "2026-01-01"
    status: str = "有效"


def test_corpus_summary_names_a_few_laws_with_counts_and_dates():
    out = corpus_summary([FakeLaw(LAW, 51)])
    assert out == "已收录：《贵州省大数据发展应用促进条例》（51 条，2026年1月1日起施行，有效）"  # dated as the law writes dates


def test_corpus_summary_of_many_laws_gives_the_count_and_a_few_titles():
    laws = [FakeLaw(f"法规{i}", 10) for i in range(120)]
    out = corpus_summary(laws)
    assert out.startswith("已收录 120 部法规，共 1200 条")
    assert "《法规0》《法规1》《法规2》等" in out and "法规3" not in out


def test_corpus_summary_escapes_titles():
    assert "&lt;b&gt;" in corpus_summary([FakeLaw("<b>法</b>", 1)])


def test_a_related_answer_looks_unlike_an_answered_one():
    related = answer_dict(stance="related", text="《贵州省大数据发展应用促进条例》中没有直接回答这个问题的规定。相关的规定是：…[1]")
    answered = answer_dict(stance="answered")
    assert "**相关条文**" in message_markdown(related) and "**来源**" not in message_markdown(related)
    assert "**来源**" in message_markdown(answered) and "相关条文" not in message_markdown(answered)
    assert 'class="src-related"' in render_sources(related, 1)
    assert 'class="src-related"' not in render_sources(answered, 1)
