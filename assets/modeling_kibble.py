"""kibble's reward model as a transformers class (written by `kibble export-model`).

Load with:
    AutoModelForSequenceClassification.from_pretrained(DIR, trust_remote_code=True)
and score a (prompt, response) pair with tokenizer(prompt, response). `logits[:, 0]` is the raw
reward; kibble's normalised score is (reward - config.kibble_reward_mean) / config.kibble_reward_std.
A model trained with `train-rm --criteria` has one output per criterion (config.id2label names
them; config.kibble_head_stats holds each one's [mean, std]).
The plain BertForSequenceClassification would pool the [CLS] token through a pooler this model
does not have; kibble mean-pools the encoder output over real tokens instead.
"""
import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class KibbleBertForSequenceClassification(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        h = out.last_hidden_state
        if attention_mask is None:
            m = torch.ones_like(h[..., :1])
        else:
            m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        logits = self.classifier(pooled)
        loss = None
        if labels is not None:
            loss = nn.functional.mse_loss(logits.view_as(labels), labels.to(logits.dtype))
        return SequenceClassifierOutput(loss=loss, logits=logits)
