"""An exported kibble policy, loaded by transformers, gives kibble's greedy answers.

Usage: check_policy.py DB FOLDER SOURCE MAX_NEW. Reads the answers kibble sampled with --top-k 1 (candidates of
SOURCE in DB), renders each prompt with the folder's chat template, decodes greedily with transformers and
compares the texts. Exit 1 when one differs.
"""
import json
import sqlite3
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

db, folder, source, max_new = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
rows = sqlite3.connect(db).execute(
    "select p.body, c.text from candidates c join prompts p on p.id = c.prompt_id where c.source = ?",
    (source,),
).fetchall()
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
bad = 0
for body, want in rows:
    try:
        msgs = json.loads(body)
    except ValueError:
        msgs = body
    if isinstance(msgs, str):
        msgs = [{"role": "user", "content": msgs}]
    text = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=max_new, do_sample=False,
                         eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    got = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
    bad += got != want
    if got != want:
        print("DIFFERENT:", repr(want[:60]), "vs", repr(got[:60]))
print(f"policy: {len(rows) - bad}/{len(rows)} greedy answers equal to kibble's")
sys.exit(1 if bad or not rows else 0)
