import jieba
import jieba.posseg
import pytest

from rag.index import jieba_trie


def _trie_tables(tmp_path, lines: list[str]):
    """The FREQ and word-tag tables the trie gives for a dictionary of these lines."""
    dictionary = tmp_path / "dict.txt"
    dictionary.write_text("\n".join(lines) + "\n", encoding="utf-8")
    jieba_trie._build(dictionary, tmp_path / "trie")
    return (dictionary, *jieba_trie._load(tmp_path / "trie"))


def test_a_four_word_dictionary_gives_jiebas_own_tables(tmp_path):
    lines = ["数据 30 n", "数据中心 5 n", "数 8 m", "处理 12 v"]
    dictionary, frequencies, tags, total = _trie_tables(tmp_path, lines)
    reference, reference_total = jieba.Tokenizer.gen_pfdict(dictionary.open("rb"))
    assert dict(frequencies) == reference == {"数据": 30, "数据中": 0, "数据中心": 5, "数": 8, "处": 0, "处理": 12}
    assert total == reference_total == 55
    assert dict(tags) == {"数据": "n", "数据中心": "n", "数": "m", "处理": "v"}
    assert tags.get("数据中", "x") == "x" and frequencies.get("心") is None and "心" not in frequencies
    # A lone surrogate cannot be UTF-8 for the trie: absent, as from jieba's dict
    assert "\ud800" not in frequencies and frequencies.get("\ud800") is None and tags.get("\ud800", "x") == "x"
    with pytest.raises(KeyError):
        frequencies["\ud800"]


def test_a_later_line_wins_and_the_total_counts_both(tmp_path):
    _, frequencies, tags, total = _trie_tables(tmp_path, ["条例 3 n", "条例 7 nz"])
    assert frequencies["条例"] == 7 and tags["条例"] == "nz" and total == 10


@pytest.fixture(scope="module")
def stock():
    """A Tokenizer and POSTokenizer that load jieba's dictionary the stock way."""
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer, jieba.posseg.POSTokenizer(tokenizer)


def test_the_installed_trie_segments_and_tags_like_stock_jieba(stock, seed_path):
    jieba_trie.install()
    assert isinstance(jieba.dt.FREQ, jieba_trie._Frequencies)
    tokenizer, tagger = stock
    texts = [line for line in seed_path.read_text(encoding="utf-8").splitlines() if line.strip()] + [
        "数据交易要交多少手续费？",
        "借钱不还怎么办？",
        "那个人信息呢？",
        "What does Article 12 of the regulation say?",
        "2026年1月1日起施行，罚款5万元以上50万元以下",
    ]
    for text in texts:
        assert jieba.lcut(text) == tokenizer.lcut(text)
        assert jieba.lcut(text, HMM=False) == tokenizer.lcut(text, HMM=False)
        assert jieba.lcut_for_search(text) == tokenizer.lcut_for_search(text)
        for hmm in (True, False):
            assert [tuple(p) for p in jieba.posseg.lcut(text, HMM=hmm)] == [tuple(p) for p in tagger.lcut(text, HMM=hmm)]
