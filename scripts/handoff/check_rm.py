"""An exported kibble reward model, loaded by transformers, gives kibble's scores.

Usage: check_rm.py DB FOLDER N. Reads N of the newest checkpoint's stored scores, encodes each (prompt, answer) as
kibble does ([CLS] prompt [SEP] answer [SEP]; the answer keeps its start, the prompt loses its beginning),
normalises transformers' output with the config's kibble_reward_mean/std and compares. Exit 1 past 1e-3.
"""
import sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from stored import plain, stored_scores
db, folder, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = stored_scores(db, limit)
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True).eval()
cfg = model.config
worst = 0.0
for body, answer, want in rows:
    # kibble's pair encoding: [CLS] prompt [SEP] answer [SEP]; the answer keeps its start, the
    # prompt loses its beginning when the two do not fit.
    p = tok(plain(body), add_special_tokens=False).input_ids
    r = tok(answer, add_special_tokens=False).input_ids
    room = cfg.kibble_max_len - 3
    r = r[:room]
    p = p[len(p) - min(len(p), room - len(r)):]
    ids = [tok.cls_token_id] + p + [tok.sep_token_id] + r + [tok.sep_token_id]
    types = [0] * (len(p) + 2) + [1] * (len(r) + 1)
    with torch.no_grad():
        raw = model(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                    token_type_ids=torch.tensor([types])).logits[0, 0].item()
    got = (raw - cfg.kibble_reward_mean) / cfg.kibble_reward_std
    worst = max(worst, abs(got - want))
print(f"{len(rows)} answers: largest |transformers - kibble| normalised score difference {worst:.2e}")
sys.exit(0 if rows and worst < 1e-3 else 1)
