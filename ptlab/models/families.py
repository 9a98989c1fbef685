"""How each model family reads prompts and answers: tokenization, batches, losses, rank scores, text.

Every method on a task goes through the same family reader, and the task's kind (ptlab/kinds/)
decides what is read as the answer, so the prompt, the loss and the scorer are shared by
construction: methods differ only in which parameters train.

- causal: the answer (a verbalizer, a choice or a target text) is appended to the prompt; the loss
  is the LM loss on its tokens only; rank scoring is the summed log-probability of each choice
  after the prompt (and its per-token mean, the length-normalized variant). The choices are shared
  by every prompt (classification) or each example's own (multiple choice).
- seq2seq: the prompt goes to the encoder, the answer is the decoder's output; same loss and rank
  scoring over decoder tokens.
- encoder: the prompt (or a (prompt, choice) pair) is read by the head the kind chose (e.g. a
  classification head's logits).
"""

from __future__ import annotations

from typing import Dict, List

import torch

from ptlab.config.schema import Family
from ptlab.config.task import TaskConfig
from ptlab.kinds import Head
from ptlab.models.api import ApiReader
from ptlab.models.family_reader import FamilyReader
from ptlab.models.generate import generate_until
from ptlab.models.tensors import (
    IGNORE,
    Batch,
    base_model,
    flatten_choices,
    last_hidden,
    pad,
    row_sums,
    spread,
    to_model_device,
    token_logprobs,
)


class LMReader(FamilyReader):
    """Causal and encoder-decoder LMs: the answer's tokens are scored after the prompt."""

    def with_answers(self, prompts, answers) -> Batch:
        """Each prompt followed by its answer as one padded batch, labels on the answer tokens only:
        the training batch, and public so that benchmarks/scoring.py can score every label choice
        with one full forward each, the baseline the rank scorer is compared with."""
        raise NotImplementedError

    def encode_target(self, text: str) -> List[int]:
        """A verbalizer's (or any answer's) token ids, as they follow the prompt."""
        raise NotImplementedError

    def target_for_training(self, text: str) -> List[int]:
        """A target text as trained on: cut to task.max_target_length, ending with eos."""
        raise NotImplementedError

    def _answer_logprobs(self, model, batch) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def answer_loss(self, model, batch) -> torch.Tensor:
        """Mean negative log-likelihood of the answer tokens of a `with_answers` batch."""
        sums, counts = self._answer_logprobs(model, batch)
        return -sums.sum() / counts.sum()

    def score(self, model, prompts, choices: list) -> tuple[torch.Tensor, torch.Tensor]:
        """(summed, length-normalized) log-probability of every choice after every prompt,
        shape (prompts, most choices): the rank scorer every method on a task shares. `choices`:
        token-id lists shared by every prompt, or one such list per prompt (tensors.flatten_choices);
        a prompt's missing choices score -inf."""
        raise NotImplementedError

    def generate(self, model, prompts, num_beams: int, max_new_tokens: int, ending, early: bool):
        """(each prompt's prediction: its generated text cut where `ending` (ptlab/models/ending.py)
        says, the new tokens decoded for it); `early`: greedy rows stop decoding there."""
        raise NotImplementedError


class CausalReader(LMReader):
    family = Family.causal

    def encode_target(self, text: str) -> List[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def target_for_training(self, text: str) -> List[int]:
        ids = self.encode_target(" " + text.strip())[: self.task.max_target_length - 1]
        return ids + [self.tokenizer.eos_token_id]

    def with_answers(self, prompts, answers) -> Batch:
        seqs = [list(p) + list(a) for p, a in zip(prompts, answers)]
        labels = [[IGNORE] * len(p) + list(a) for p, a in zip(prompts, answers)]
        return {
            "input_ids": pad(seqs, self.pad_id),
            "attention_mask": pad([[1] * len(s) for s in seqs], 0),
            "labels": pad(labels, IGNORE),
        }

    def _answer_logprobs(self, model, batch):
        hidden, head, _ = last_hidden(model, batch)
        labels = batch["labels"][:, 1:]  # position t predicts token t + 1
        mask = labels != IGNORE
        return row_sums(head(hidden[:, :-1][mask]), labels, mask)

    def score(self, model, prompts, choices):
        """The prompt is computed once per example, whatever the number of choices.

        The first token of every choice is read at the prompt's last position, so single-token
        choices (distinct verbalizers) cost one forward per example. Longer choices continue from
        the prompt's key/value cache, all choices of the batch in one more (short) forward.
        """
        flat, owner, valid = flatten_choices(choices, len(prompts))
        inputs = to_model_device(self.inputs(prompts), model)
        multi_token = any(len(c) > 1 for c in flat)
        hidden, head, output = last_hidden(model, inputs, use_cache=multi_token)
        lengths = inputs["attention_mask"].sum(dim=1)
        owner = owner.to(lengths.device)
        logp = head(hidden[torch.arange(len(lengths), device=lengths.device), lengths - 1]).float().log_softmax(-1)
        sums = logp[owner, torch.tensor([c[0] for c in flat], device=lengths.device)]
        if multi_token:
            sums = sums + self._continuations(model, output.past_key_values, inputs, lengths, flat, owner)
        counts = torch.tensor([len(c) for c in flat], device=sums.device)
        return spread(sums, valid), spread(sums / counts, valid)

    def _continuations(self, model, cache, inputs: Batch, lengths: torch.Tensor, flat, owner) -> torch.Tensor:
        """log p(choice tokens 2..n | prompt, token 1) for every (prompt, choice) pair, each from
        its prompt's cache (`owner`). The base model continues it: peft's virtual tokens or
        prefix are already in the cache (they sit ahead of the prompt: `offset` positions)."""
        device = lengths.device
        offset = cache.get_seq_length() - inputs["input_ids"].shape[1]
        cache.reorder_cache(owner)  # row i: the cache of prompt owner[i]
        ids = pad([c[:-1] for c in flat], self.pad_id).to(device)
        targets = pad([c[1:] for c in flat], IGNORE).to(device)
        answer = targets != IGNORE
        prompt_mask = inputs["attention_mask"][owner]
        mask = torch.cat([prompt_mask.new_ones(len(flat), offset), prompt_mask, answer.long()], dim=1)
        positions = (offset + lengths)[owner][:, None] + torch.arange(ids.shape[1], device=device)
        hidden, head, _ = last_hidden(
            base_model(model), {"input_ids": ids, "attention_mask": mask}, position_ids=positions, past_key_values=cache
        )
        sums, _ = row_sums(head(hidden[answer]), targets, answer)
        return sums

    def generate(self, model, prompts, num_beams, max_new_tokens, ending, early):
        inputs = to_model_device(
            {
                "input_ids": pad(prompts, self.pad_id, left=True),
                "attention_mask": pad([[1] * len(p) for p in prompts], 0, left=True),
            },
            model,
        )
        out, ended = generate_until(model, inputs, self, num_beams, max_new_tokens, ending, early)
        return self._predictions(out[:, inputs["input_ids"].shape[1] :], ended, ending)


class Seq2SeqReader(LMReader):
    family = Family.seq2seq

    def encode_target(self, text: str) -> List[int]:
        return self.tokenizer(text.strip())["input_ids"]  # ends with the tokenizer's eos

    def target_for_training(self, text: str) -> List[int]:
        ids = self.encode_target(text)  # ends with eos: keep it, so the model learns to stop
        limit = self.task.max_target_length
        return ids if len(ids) <= limit else ids[: limit - 1] + ids[-1:]

    def with_answers(self, prompts, answers) -> Batch:
        return {**self.inputs(prompts), "labels": pad(answers, IGNORE)}

    def _answer_logprobs(self, model, batch):
        return token_logprobs(model(**batch).logits, batch["labels"])

    def score(self, model, prompts, choices):
        """The encoder reads each prompt once (with peft's virtual tokens, if any); the decoder
        then scores every choice against its prompt's encoding. The prompts go in again only for
        their shape (peft sizes its prefix by them): the encoder is skipped."""
        flat, owner, valid = flatten_choices(choices, len(prompts))
        inputs = to_model_device(self.inputs(prompts), model)
        start = torch.full((len(prompts), 1), model.config.decoder_start_token_id, device=inputs["input_ids"].device)
        encoded = model(**inputs, decoder_input_ids=start).encoder_last_hidden_state
        pairs = to_model_device(self.with_answers([prompts[p] for p in owner.tolist()], flat), model)
        sums, counts = self._answer_logprobs(model, {**pairs, "encoder_outputs": (encoded[owner.to(encoded.device)],)})
        return spread(sums, valid), spread(sums / counts, valid)

    def generate(self, model, prompts, num_beams, max_new_tokens, ending, early):
        inputs = to_model_device(self.inputs(prompts), model)
        out, ended = generate_until(model, inputs, self, num_beams, max_new_tokens, ending, early)
        return self._predictions(out[:, 1:], ended, ending)  # after the decoder's start token


class EncoderReader(FamilyReader):
    """Encoders read the prompt with the head the task kind chose (e.g. sequence classification)."""

    family = Family.encoder

    truncation_side = "right"  # a classification head reads the whole text; keep its start

    def encode_pair(self, text: str, second: str) -> Dict[str, List[int]]:
        """Two texts as one sequence ([CLS] text [SEP] second [SEP] on BERT) with their segment
        ids (zeros where the tokenizer has none); the longer text is cut first past
        max_source_length + max_target_length tokens."""
        self.tokenizer.truncation_side = self.truncation_side
        limit = self.task.max_source_length + self.task.max_target_length
        enc = self.tokenizer(text, second)
        if len(enc["input_ids"]) > limit:
            self.truncated = True
            enc = self.tokenizer(text, second, truncation="longest_first", max_length=limit)
        return {"ids": enc["input_ids"], "types": enc.get("token_type_ids") or [0] * len(enc["input_ids"])}

    def pair_inputs(self, pairs: List[Dict[str, List[int]]]) -> Batch:
        """`encode_pair` sequences as one right-padded batch, with their segment ids."""
        return {**self.inputs([p["ids"] for p in pairs]), "token_type_ids": pad([p["types"] for p in pairs], 0)}

    def logits(self, model, batch: Batch) -> torch.Tensor:
        batch = to_model_device(batch, model)
        segments = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **segments).logits


READERS = {a.family: a for a in (CausalReader, Seq2SeqReader, EncoderReader, ApiReader)}


def make_reader(family: Family, tokenizer, task: TaskConfig, head: Head) -> FamilyReader:
    return READERS[Family(family)](tokenizer, task, head)
