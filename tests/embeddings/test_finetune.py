import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from embeddings.finetune import FINETUNE_FILE, FinetuneSettings, TrainingExample, finetune
from embeddings.model import ModelSpec, load_embedder

# Fine-tuning on a CPU asks for no pinned memory (it only helps copies to a GPU; otherwise torch warns)
pytestmark = pytest.mark.filterwarnings("error:.*pin_memory:UserWarning")

TINY = FinetuneSettings(epochs=1, batch_size=3, negatives=1, max_seq_length=32, learning_rate=1e-4)
EXAMPLES = [
    TrainingExample("公司欠薪怎么办？", "第五十条 用人单位应当按月以货币形式支付工资。", ("第十条 国家保护耕地。",)),
    TrainingExample("醉驾怎么处罚？", "第一百三十三条之一 在道路上醉酒驾驶机动车的，处拘役。", ("第二条 本法适用于商标。",)),
    TrainingExample("离婚后孩子归谁？", "第一千零八十四条 离婚后，子女由双方抚养。", ("第三条 数据安全。",)),
    TrainingExample("租房押金不退怎么办？", "第七百零三条 租赁合同是出租人将租赁物交付承租人使用的合同。", ("第四条 税收。",)),
    TrainingExample("网购退货几天？", "第二十五条 经营者采用网络方式销售商品，消费者有权自收到商品之日起七日内退货。", ("第五条 环境。",)),
    TrainingExample("工伤怎么认定？", "第十四条 职工有下列情形之一的，应当认定为工伤。", ("第六条 森林。",)),
]


@pytest.fixture(scope="module")
def base_path(rag_home):
    return load_embedder(ModelSpec()).model_path


@pytest.fixture(scope="module")
def tuned(base_path, tmp_path_factory):
    return finetune(base_path, EXAMPLES, tmp_path_factory.mktemp("tuned") / "model", settings=TINY, device="cpu")


def test_tuned_folder_loads_and_records_how_it_was_made(tuned, base_path):
    record = json.loads((tuned / FINETUNE_FILE).read_text(encoding="utf-8"))
    assert record["base"] == str(base_path)
    assert record["settings"]["epochs"] == 1 and record["settings"]["negatives"] == 1
    assert record["examples"] == len(EXAMPLES)
    assert len(record["examples_digest"]) == 16
    embedder = load_embedder(ModelSpec(name=str(tuned), backend="torch"))
    assert embedder.query_prefix == "query: " and embedder.passage_prefix == "passage: "
    assert embedder.encode_queries(["醉驾怎么处罚？"]).shape == (1, 384)


def test_training_moves_the_encoder_but_not_the_frozen_token_table(tuned, base_path):
    before = load_file(str(base_path / "model.safetensors"))
    after = load_file(str(tuned / "model.safetensors"))
    table = next(k for k in before if "word_embeddings" in k)
    assert np.array_equal(before[table], after[next(k for k in after if "word_embeddings" in k)])
    query = next(k for k in before if "layer.0.attention" in k and k.endswith("query.weight"))
    assert not np.allclose(before[query], after[next(k for k in after if k.endswith(query.split("encoder.", 1)[-1]))])


def test_a_re_tuned_folder_gets_a_new_fingerprint(tuned, base_path, tmp_path):
    first = load_embedder(ModelSpec(name=str(tuned), backend="torch")).fingerprint
    again = finetune(base_path, EXAMPLES[:3], tuned, settings=TINY, device="cpu")
    assert again == tuned and not tuned.with_name(tuned.name + ".previous").exists()
    assert json.loads((tuned / FINETUNE_FILE).read_text(encoding="utf-8"))["examples"] == 3
    from embeddings.model import Embedder

    assert Embedder(ModelSpec(name=str(tuned), backend="torch")).fingerprint != first


def test_examples_without_enough_negatives_are_refused(base_path, tmp_path):
    bare = [TrainingExample(e.query, e.positive) for e in EXAMPLES]
    with pytest.raises(ValueError, match="难负例"):
        finetune(base_path, bare, tmp_path / "model", settings=TINY)
    assert not (tmp_path / "model").exists()
