#!/usr/bin/env bash
# End-to-end check of the labelling app as a person uses it: start kibble under tmux on a
# temporary DB, rank three prompts by keys, quit, and check the DB holds those three rankings.
# Usage: scripts/tmux-e2e.sh   (needs tmux; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/kibble"
dir=$(mktemp -d)
trap 'tmux kill-session -t kibble-e2e 2>/dev/null || true; rm -rf "$dir"' EXIT
cat > "$dir/items.jsonl" <<'JSONL'
{"prompt":"Name a primary colour.","candidates":["Red.","Banana.","Blue is one; red and yellow too."]}
{"prompt":"2 + 2 = ?","candidates":["4","5"]}
{"prompt":"Say hi politely.","candidates":["Hello, nice to meet you!","hi","Go away.","Greetings."]}
{"prompt":"Unused fourth prompt.","candidates":["x","y"]}
JSONL
"$bin" --db "$dir/e2e.db" import "$dir/items.jsonl" >/dev/null
tmux new-session -d -s kibble-e2e -x 100 -y 30 "$bin --db '$dir/e2e.db' --annotator e2e"
sleep 1
shot() { tmux capture-pane -p -t kibble-e2e; }
shot | grep -q "0/4 done" || { shot; echo "FAIL: first screen"; exit 1; }
tmux send-keys -t kibble-e2e c a Enter      # 3 answers: C > A > B
sleep 0.5
tmux send-keys -t kibble-e2e b              # 2 answers: one key decides
sleep 0.5
tmux send-keys -t kibble-e2e d = a b Enter  # 4 answers: D = A > B > C
sleep 0.5
shot | grep -q "3/4 done" || { shot; echo "FAIL: progress after three rankings"; exit 1; }
tmux send-keys -t kibble-e2e q
sleep 0.5
n=$("$bin" --db "$dir/e2e.db" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print([a["rankings"] for a in s["annotators"] if a["name"]=="e2e"][0])')
if [ "$n" != 3 ]; then echo "FAIL: expected 3 rankings by e2e, found $n"; exit 1; fi
echo "ok: 3 rankings saved by keys under tmux"
