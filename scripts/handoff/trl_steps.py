"""TRL's RewardTrainer and DPOTrainer run a few steps on kibble's exported pairs, from an exported policy.

Usage: trl_steps.py PAIRS.jsonl POLICY_FOLDER OUT_DIR.
"""
import sys, warnings
warnings.filterwarnings("ignore")
from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer
pairs, policy, out = sys.argv[1], sys.argv[2], sys.argv[3]
ds = load_dataset("json", data_files=pairs, split="train").select(range(16))
tok = AutoTokenizer.from_pretrained(policy)
common = dict(output_dir=out, max_steps=2, per_device_train_batch_size=4, report_to=[], logging_steps=1, save_strategy="no", bf16=False, use_cpu=True)
rm = AutoModelForSequenceClassification.from_pretrained(policy, num_labels=1)
rm.config.pad_token_id = tok.pad_token_id
r = RewardTrainer(model=rm, args=RewardConfig(**common), train_dataset=ds, processing_class=tok).train()
print(f"RewardTrainer: {r.global_step} steps, loss {r.training_loss:.4f}")
d = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(policy), args=DPOConfig(**common), train_dataset=ds, processing_class=tok).train()
print(f"DPOTrainer: {d.global_step} steps, loss {d.training_loss:.4f}")
