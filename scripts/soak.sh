#!/usr/bin/env bash
# The reliability suite with long settings: 500 SIGKILLs while labelling, 8 annotators on 20,000 prompts
# at overlap 1 and 2. Prints the figures. Usage: scripts/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
KIBBLE_CRASH_TRIALS=500 KIBBLE_SOAK_PROMPTS=20000 cargo test --release --test reliability -- --nocapture --test-threads 1
