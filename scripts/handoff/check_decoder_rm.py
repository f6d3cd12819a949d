"""An exported kibble decoder reward model loads in transformers as its own
LlamaForSequenceClassification (no remote code) and gives kibble's scores.

Usage: check_decoder_rm.py DB FOLDER N. Reads N of the newest checkpoint's stored scores and frames each
(prompt, answer) as kibble does: the prompt as one user message through the chat template with the generation
prompt, then the answer's tokens (each tokenised on its own). Pairs longer than the model's window are skipped
(kibble cuts those in its own way). transformers' output is normalised with kibble_reward_mean/std and compared.
Exit 1 past 1e-3.
"""
import sys, torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from stored import plain, stored_scores
db, folder, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = stored_scores(db, limit)
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
cfg = model.config
assert type(model).__name__.endswith("ForSequenceClassification"), type(model).__name__
worst, checked = 0.0, 0
for body, answer, want in rows:
    prompt = tok.apply_chat_template([{"role": "user", "content": plain(body)}],
                                     add_generation_prompt=True, tokenize=False)
    ids = tok(prompt, add_special_tokens=False).input_ids + tok(answer, add_special_tokens=False).input_ids
    if len(ids) > cfg.kibble_max_len:
        continue
    with torch.no_grad():
        raw = model(input_ids=torch.tensor([ids])).logits[0, 0].item()
    got = (raw - cfg.kibble_reward_mean) / cfg.kibble_reward_std
    worst = max(worst, abs(got - want))
    checked += 1
print(f"{checked} of {len(rows)} answers fit the window: largest |transformers - kibble| normalised score "
      f"difference {worst:.2e} ({type(model).__name__}, no remote code)")
sys.exit(0 if checked and worst < 1e-3 else 1)
