"""The CLI is a thin layer: these check what it prints and writes, not retrieval quality."""

import json

from rag.cli import main


def test_finetune_command_binds_bare_labels_to_the_single_law_and_writes_a_model(seed_index, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    rows = [
        {"id": "1", "question": "大数据发展应用的立法目的和适用范围是什么？", "gold": ["第一条"]},
        {"id": "2", "question": "数据安全责任由谁负责，出了安全事件怎么处理？", "gold": ["第三十八条"]},
        {"id": "3", "question": "政府部门之间怎样共享公共数据？", "gold": ["第二十条"]},
        {"id": "4", "question": "这个条例里没有的条文", "gold": ["第九十九条"]},
    ]
    questions.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "tuned"
    code = main([
        "finetune", str(questions), "--index", str(seed_index.path), "--out", str(out),
        "--epochs", "1", "--negatives", "1", "--batch-size", "3", "--max-seq-length", "32", "--mine", "hybrid",
    ])
    printed = capsys.readouterr().out
    assert code == 0
    assert "训练样例：3 条" in printed and "找不到的标准条文 1 条" in printed and "取自 hybrid 检索" in printed
    record = json.loads((out / "finetune.json").read_text(encoding="utf-8"))
    assert record["examples"] == 3
    assert record["negatives_mined_by"] == f"hybrid:{seed_index.path}"
    assert f"--model {out}" in printed


def test_finetune_without_usable_examples_fails_with_a_message(seed_index, tmp_path, capsys):
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"id": "1", "question": "问", "gold": []}), encoding="utf-8")
    code = main(["finetune", str(questions), "--index", str(seed_index.path), "--out", str(tmp_path / "m")])
    assert code == 2
    assert "没有可用的训练样例" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_ask_prints_the_cited_record_under_its_name_without_the_index_header(seed_index, capsys):
    assert main(["ask", "这个条例是谁制定的？什么时候施行？"]) == 0
    printed = capsys.readouterr().out
    cited = printed.split("引用条文：", 1)[1]
    assert "《贵州省大数据发展应用促进条例》第五十一条" in cited
    assert "《贵州省大数据发展应用促进条例》文件信息\n    制定机关：" in cited and "文件信息。" not in cited


def test_an_empty_law_path_is_refused_rather_than_read_as_the_working_directory(tmp_path, capsys, monkeypatch):
    """`rag index "$UNSET" --out …` must not index everything under the working directory (Path("") is ".")."""
    (tmp_path / "notes.md").write_text("第一条 这不是法规库的一部分。\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["index", "", "--out", str(tmp_path / "index")]) == 2
    assert "路径是空的" in capsys.readouterr().err
    assert not (tmp_path / "index" / "CURRENT").exists()
