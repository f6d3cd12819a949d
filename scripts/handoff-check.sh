#!/usr/bin/env bash
# Hand-off check: what kibble exports works in transformers and TRL, on this machine's CPU.
#   1. the tiny policy, trained here and exported (GPT2LMHeadModel), decodes greedily as kibble does;
#   2. a MiniLM reward model (models/minilm, from scripts/fetch-models.sh) exported with its
#      modeling_kibble.py scores as kibble does (within 1e-3, normalised);
#   3. a decoder reward model on SmolLM2 (models/smollm2, its GGUF) exported as transformers' own
#      LlamaForSequenceClassification scores as kibble does (within 1e-3, normalised), no remote code;
#   4. a LoRA best-of-n round on SmolLM2 (that reward model as judge) exported as LlamaForCausalLM decodes greedily
#      as kibble does, a multi-turn chat with a system prompt included;
#   5. TRL's RewardTrainer and DPOTrainer run two steps on `kibble export --format trl` pairs.
# Needs python with torch, transformers, trl, datasets (PYTHON=..., default ~/peers-venv/bin/python, see
# shared/peers/README.md); skipped with a message when they are missing. Not part of `cargo test`.
# Usage: scripts/handoff-check.sh            (about 13 minutes on 2 cores, most of it MiniLM and SmolLM2 training)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-$HOME/peers-venv/bin/python}
[ -x "$py" ] || py=python3
if ! "$py" -c 'import torch, transformers, trl, datasets' 2>/dev/null; then
  echo "handoff-check: skipped: $py has no torch/transformers/trl/datasets (set PYTHON=, see shared/peers/README.md)"
  exit 0
fi
"$py" -c 'import torch, transformers, trl; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}")'
cargo build --release --quiet
k="$PWD/target/release/kibble"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db="$tmp/h.db"
"$k" --db "$db" import sample_data/*.jsonl >/dev/null
"$k" --db "$db" simulate --rule longer --noise 0.1 >/dev/null

echo "== 1. tiny policy -> transformers greedy"
"$k" --db "$db" train-policy --sft >/dev/null
printf '%s\n' '{"prompt": "How do I boil an egg?"}' '{"prompt": "Name a fruit that is yellow."}' \
  '{"prompt": [{"role": "user", "content": "What is a good name for a cat?"}]}' > "$tmp/p.jsonl"
"$k" --db "$db" sample --policy 1 --prompts "$tmp/p.jsonl" --n 1 --top-k 1 --max-new-tokens 24 >/dev/null
"$k" --db "$db" export-model --run 1 --out "$tmp/policy" >/dev/null
"$py" scripts/handoff/check_policy.py "$db" "$tmp/policy" "policy:1/round0" 24 2>/dev/null

echo "== 2. MiniLM reward model -> transformers scores"
if [ -f models/minilm/model.safetensors ]; then
  "$k" --db "$db" train-rm --preset minilm --backbone models/minilm --epochs 1 >/dev/null
  rm_run=$("$k" --db "$db" runs | awk '$2 == "rm" { id = $1 } END { print id }')
  "$k" --db "$db" score >/dev/null
  "$k" --db "$db" export-model --run "$rm_run" --out "$tmp/rm" >/dev/null
  "$py" scripts/handoff/check_rm.py "$db" "$tmp/rm" 200 2>/dev/null
else
  echo "skipped: no models/minilm (scripts/fetch-models.sh minilm)"
fi

echo "== 3. SmolLM2 decoder reward model -> transformers scores"
gguf=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f "$gguf" ]; then
  # 40 prompts and a frozen backbone: a 135M decoder trains at about 2 pairs/s here.
  head -n 40 sample_data/sample_prompts.jsonl > "$tmp/small.jsonl"
  "$k" --db "$tmp/d.db" import "$tmp/small.jsonl" >/dev/null
  "$k" --db "$tmp/d.db" simulate --rule longer --noise 0.1 >/dev/null
  "$k" --db "$tmp/d.db" train-rm --backbone "$gguf" --freeze --epochs 1 --max-len 128 --batch 16 --lr 1e-3 >/dev/null
  "$k" --db "$tmp/d.db" score >/dev/null
  "$k" --db "$tmp/d.db" export-model --run 1 --out "$tmp/drm" >/dev/null
  "$py" scripts/handoff/check_decoder_rm.py "$tmp/d.db" "$tmp/drm" 200 2>/dev/null

  echo "== 4. SmolLM2 LoRA round -> transformers greedy"
  head -n 6 sample_data/sample_prompts.jsonl > "$tmp/six.jsonl"
  "$k" --db "$tmp/e.db" import "$tmp/six.jsonl" >/dev/null
  "$k" --db "$tmp/e.db" improve --method bon --policy "$gguf" --lora-rank 8 --reward-model "$tmp/drm" --n 2 \
    --max-new-tokens 24 --max-prompts 4 --epochs 1 >/dev/null 2>&1
  printf '%s\n' '{"prompt": "How do I boil an egg?"}' '{"prompt": "Name a fruit that is yellow."}' \
    '{"prompt": [{"role": "system", "content": "You answer in one short sentence."}, {"role": "user", "content": "What is the capital of France?"}, {"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Italy?"}]}' \
    > "$tmp/chat.jsonl"
  "$k" --db "$tmp/e.db" sample --policy 1 --prompts "$tmp/chat.jsonl" --n 1 --top-k 1 --max-new-tokens 24 >/dev/null
  "$k" --db "$tmp/e.db" export-model --run 1 --out "$tmp/llama-policy" >/dev/null
  "$py" scripts/handoff/check_policy.py "$tmp/e.db" "$tmp/llama-policy" "policy:1/round1" 24 2>/dev/null
else
  echo "skipped 3 and 4: no $gguf (scripts/fetch-models.sh smollm2)"
fi

echo "== 5. TRL RewardTrainer and DPOTrainer on kibble's pairs"
"$k" --db "$db" export --format trl --out "$tmp/pairs.jsonl" >/dev/null
"$py" scripts/handoff/trl_steps.py "$tmp/pairs.jsonl" "$tmp/policy" "$tmp/trl" 2>/dev/null | grep -E '^(RewardTrainer|DPOTrainer):'
echo "handoff-check: all passed"
