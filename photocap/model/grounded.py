"""A decoder grounded in what the encoder's ImageNet head recognises, with a copy mechanism.

Novel-object captioning (LSTM-C, Yao et al. 2017; pointer-generator, See et al. 2017): the caption
data (Flickr8k) names few kinds of things, the encoder's classifier knows 1000. The decoder
- sees the labels: the class probabilities of the photo (the head on the mean of the feature grid,
  as `photocap.model.labels` computes them) pooled into one vector from the head's own class rows,
  fed to the initial state and to the LSTM at every word;
- can copy a label word: the top `label_slots` classes each offer one caption word (`class_words`,
  from `photocap.model.grounding`), and a gate `p_copy` mixes the vocabulary softmax with an
  attention over those slots: P(w) = (1 - p_copy) P_vocab(w) + p_copy Σ_{slots k of w} a_k.
  A copy word the caption data never used ("giraffe") is in the vocabulary, so it decodes and
  renders like any word; only the copy path gives it probability;
- learns where a recognised object belongs: while training, the vocabulary path of each photo's
  slot words is hidden at random (`hide_slot_words`), so the copy path has to produce them.

`step` returns log-probabilities (a valid input to `log_softmax`, which leaves them unchanged), so
beam search, its repetition rules, training's cross-entropy and attention maps work unchanged. The
head travels in the decoder (`head_weight`, `head_bias`) with the class → word map, so a model
file is self-contained.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from photocap.model.decoder import AttentionDecoder, DecoderConfig

GROUNDED = "grounded"
NUM_CLASSES = 1000
SLOT_MIN_PROBABILITY = 0.02  # a class less probable than this offers no word to copy
HIDE_SLOT_WORDS = 0.5  # training: share of steps whose slot words the vocabulary path may not say


def grounded_config(vocab_size: int, encoder_dim: int, label_slots: int = 5) -> DecoderConfig:
    """The sizes of a grounded decoder (the rest as the plain decoder's defaults)."""
    return DecoderConfig(vocab_size, encoder_dim, kind=GROUNDED, label_slots=label_slots)


def build_decoder(config: DecoderConfig) -> AttentionDecoder:
    """The decoder a config describes: plain Show-Attend-Tell or grounded."""
    if config.kind == GROUNDED:
        return GroundedDecoder(config)
    if config.kind == "attention":
        return AttentionDecoder(config)
    raise ValueError(f"unknown decoder kind {config.kind!r}")


class GroundedDecoder(AttentionDecoder):
    """Show-Attend-Tell plus the photo's ImageNet labels as input and a copy path over their words.

    State: (h, c, slot_words (batch, k) vocabulary ids, slot_log_probs (batch, k) with -inf for no
    slot, slot_vectors (batch, k, embed_dim), labels (batch, embed_dim)).
    """

    def __init__(self, config: DecoderConfig):
        super().__init__(replace(config, kind="attention"))
        self.config = config
        c = config
        self.init_h = nn.Linear(c.encoder_dim + c.embed_dim, c.hidden_dim)
        self.init_c = nn.Linear(c.encoder_dim + c.embed_dim, c.hidden_dim)
        self.lstm = nn.LSTMCell(c.embed_dim + c.encoder_dim + c.embed_dim, c.hidden_dim)
        self.label_proj = nn.Linear(c.encoder_dim, c.embed_dim)  # a class's head row → embedding
        self.copy_query = nn.Linear(c.hidden_dim, c.embed_dim)
        self.copy_prior = nn.Parameter(torch.ones(()))  # weight of log p(class) in slot scores
        self.copy_gate = nn.Linear(c.hidden_dim + c.encoder_dim + c.embed_dim + 1, 1)
        self.register_buffer("head_weight", torch.zeros(NUM_CLASSES, c.encoder_dim))
        self.register_buffer("head_bias", torch.zeros(NUM_CLASSES))
        # vocabulary id of each class's copy word; 0 (`<pad>`): the class offers none
        self.register_buffer("class_words", torch.zeros(NUM_CLASSES, dtype=torch.long))
        self.hide_slot_words = HIDE_SLOT_WORDS
        self.copy_bias = config.copy_bias  # decoding: added to the copy gate's logit (dev-tuned)
        self.name_label_above = config.name_label_above  # decoding: name a label this sure (0: off)
        self.never_required = config.never_required  # …unless its word is one of these
        self._word_rows_key: tuple | None = None
        self._word_rows: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_head(self, head: nn.Linear, class_words: torch.Tensor) -> None:
        """Copy in the encoder's ImageNet head (frozen) and each class's copy-word id (1000,)."""
        with torch.no_grad():
            self.head_weight.copy_(head.weight)
            self.head_bias.copy_(head.bias)
            self.class_words.copy_(class_words)

    def class_probabilities(self, features: torch.Tensor) -> torch.Tensor:
        """The ImageNet head on the mean feature, as `labels.class_logits`: (batch, 1000)."""
        pooled = features.mean(dim=1)  # (batch, encoder_dim)
        logits = pooled @ self.head_weight.t() + self.head_bias  # (batch, 1000)
        return logits.softmax(dim=-1)

    def word_rows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per vocabulary word: the mean head row of the classes it names (vocab, encoder_dim), and
        whether any class names it (vocab,). Cached until the head or the map changes."""
        key = (
            self.head_weight.data_ptr(),
            self.head_weight._version,
            self.class_words.data_ptr(),
            self.class_words._version,
        )
        if self._word_rows is None or self._word_rows_key != key:
            vocab, dim = self.config.vocab_size, self.config.encoder_dim
            rows = self.head_weight.new_zeros(vocab, dim)  # (vocab, encoder_dim)
            counts = self.head_weight.new_zeros(vocab)  # (vocab,)
            named = self.class_words > 0  # (1000,)
            rows.index_add_(0, self.class_words[named], self.head_weight[named])
            counts.index_add_(0, self.class_words[named], torch.ones_like(self.head_bias[named]))
            rows = rows / counts.clamp(min=1).unsqueeze(1)
            self._word_rows, self._word_rows_key = (rows, counts > 0), key
        return self._word_rows

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """h, c from the mean feature and the labels; the photo's copy slots."""
        mean = features.mean(dim=1)  # (batch, encoder_dim)
        probs = self.class_probabilities(features)  # (batch, 1000)
        labels = self.label_proj(probs @ self.head_weight)  # (batch, embed_dim)
        top_p, top_i = probs.topk(self.config.label_slots, dim=1)  # (batch, k)
        slot_words = self.class_words[top_i]  # (batch, k)
        usable = (slot_words > 0) & (top_p >= SLOT_MIN_PROBABILITY)  # (batch, k)
        slot_log_probs = top_p.log().masked_fill(~usable, float("-inf"))  # (batch, k)
        slot_vectors = self.label_proj(self.head_weight[top_i])  # (batch, k, embed_dim)
        joint = torch.cat([mean, labels], dim=1)  # (batch, encoder_dim + embed_dim)
        h = torch.tanh(self.init_h(joint))  # (batch, hidden_dim)
        c = torch.tanh(self.init_c(joint))  # (batch, hidden_dim)
        return h, c, slot_words, slot_log_probs, slot_vectors, labels

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """A word's embedding, plus its classes' projected head row when it is a copy word."""
        rows, named = self.word_rows()
        embedded = self.embedding(tokens)  # (…, embed_dim) for tokens of any shape
        grounded = self.label_proj(rows[tokens]) * named[tokens].unsqueeze(-1)  # (…, embed_dim)
        return embedded + grounded

    def mask_said_(
        self, log_probs: torch.Tensor, history: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """A photo's slot words (its recognised objects) at most once per caption: the copy path
        offers the same word at every step, and "a bird and a white bird on a bird" is what a
        strong copy gate says without this rule."""
        if history.shape[1] == 0:
            return log_probs
        slot_words = state[2]  # (rows, k)
        said = (slot_words.unsqueeze(2) == history.unsqueeze(1)).any(dim=2)  # (rows, k)
        log_probs.scatter_(1, slot_words.masked_fill(~said, 0), float("-inf"))  # 0: `<pad>`
        return log_probs  # (rows, vocab)

    def required_words(self, state: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """Per image (batch,), the copy word its labels give at least `name_label_above` in all
        (tabby 0.3 + Egyptian cat 0.3: "cat" 0.6), which constrained beam search then names
        (Anderson et al. 2017); -1 where no word is that sure or the word is `never_required`
        (a label people rarely name: "helmet", "playground")."""
        if self.name_label_above <= 0:
            return None
        slot_words, slot_probs = state[2], state[3].exp()  # (batch, k) each; no slot: p = 0
        same = slot_words.unsqueeze(2) == slot_words.unsqueeze(1)  # (batch, k, k)
        word_probs = (same * slot_probs.unsqueeze(1)).sum(dim=2)  # (batch, k) each slot's word
        best_p, best = word_probs.max(dim=1)  # (batch,)
        word = slot_words.gather(1, best.unsqueeze(1)).squeeze(1)  # (batch,)
        exempt = torch.isin(word, word.new_tensor(self.never_required))  # (batch,)
        return word.masked_fill((best_p < self.name_label_above) | exempt, -1)

    def input_gates(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The word's gate terms (as the plain decoder's) plus the labels' (the LSTM's last input
        columns), the same at every step: (batch, 4·hidden) or, tokens (batch, T), (batch, T, 4·hidden)."""
        labels = state[5]  # (batch, embed_dim)
        columns = self.lstm.weight_ih[:, self.config.embed_dim + self.config.encoder_dim :]
        from_labels = nn.functional.linear(labels, columns)  # (batch, 4·hidden)
        if tokens.dim() == 2:
            from_labels = from_labels.unsqueeze(1)  # (batch, 1, 4·hidden)
        return super().input_gates(tokens, state) + from_labels

    def word_scores(
        self, h: torch.Tensor, context: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """Log-probabilities of the next word (batch, T, vocab), the vocabulary softmax and the copy
        path over the photo's slot words mixed, from h (batch, T, hidden) and contexts (batch, T, D)."""
        slot_words, slot_log_probs, slot_vectors = state[2], state[3], state[4]  # (batch, k[, E])
        steps = h.shape[1]
        out = self.dropout(h)  # (batch, T, hidden_dim)
        logits = self.output(out)  # (batch, T, vocab)
        usable = torch.isfinite(slot_log_probs).unsqueeze(1)  # (batch, 1, k)
        slots = slot_words.unsqueeze(1).expand(-1, steps, -1)  # (batch, T, k)
        if self.training and self.hide_slot_words > 0:
            hide = torch.rand(*slots.shape[:2], 1, device=h.device) < self.hide_slot_words
            said = slots.masked_fill(~(usable & hide), 0)  # (batch, T, k); 0: none
            hidden = torch.zeros_like(logits, dtype=torch.bool)  # (batch, T, vocab)
            hidden.scatter_(2, said, True)
            hidden[..., 0] = False  # `<pad>` stands for "no word", never a slot
            logits = logits.masked_fill(hidden, float("-inf"))
        vocab_probs = logits.float().softmax(dim=2)  # (batch, T, vocab)
        query = self.copy_query(out)  # (batch, T, embed_dim)
        scores = torch.bmm(query, slot_vectors.transpose(1, 2))  # (batch, T, k)
        scores = scores + self.copy_prior * slot_log_probs.clamp(min=-30.0).unsqueeze(1)
        scores = scores.masked_fill(~usable, float("-inf"))
        any_slot = usable.any(dim=2, keepdim=True)  # (batch, 1, 1)
        attention = torch.softmax(scores.masked_fill(~any_slot, 0.0), dim=2)  # (batch, T, k)
        attention = attention * usable  # rows without a slot: all zero
        slot_probs = slot_log_probs.exp().unsqueeze(1)  # (batch, 1, k)
        attended = (attention * slot_probs).sum(dim=2, keepdim=True)  # (batch, T, 1)
        copied = torch.bmm(attention, slot_vectors)  # (batch, T, embed_dim)
        gate_in = torch.cat([out, context, copied, attended], dim=2)
        gate = self.copy_gate(gate_in) + (0.0 if self.training else self.copy_bias)  # (batch, T, 1)
        p_copy = torch.sigmoid(gate) * any_slot  # (batch, T, 1)
        copy_probs = torch.zeros_like(vocab_probs).scatter_add_(2, slots, attention)
        probs = (1 - p_copy) * vocab_probs + p_copy * copy_probs  # (batch, T, vocab)
        return probs.clamp(min=1e-30).log()


def grounded_from_plain(
    plain: AttentionDecoder, vocab_size: int, head: nn.Linear, class_words: torch.Tensor
) -> GroundedDecoder:
    """A grounded decoder that starts out captioning almost as `plain` does (warm start).

    Shared weights are copied; the label inputs of `init_h`, `init_c` and the LSTM start at
    zero, so the labels change nothing until training teaches them to; the copy words appended
    to the vocabulary (`vocab_size` ≥ plain's) get the mean embedding and output rows the
    vocabulary path never picks (their only way out is the copy path); the copy gate starts
    nearly shut (p_copy ≈ 0.05). The one input that differs from the start: a copy word the
    plain vocabulary has ("dog") carries its label vector in its embedding (`embed`).
    """
    old = plain.config
    if old.kind != "attention" or vocab_size < old.vocab_size:
        raise ValueError("a warm start needs a plain decoder and a vocabulary that extends its own")
    decoder = GroundedDecoder(replace(old, vocab_size=vocab_size, kind=GROUNDED))
    decoder.set_head(head, class_words)
    source = plain.state_dict()
    with torch.no_grad():
        for name, target in decoder.state_dict().items():
            if name not in source or name.startswith(("head_", "class_words")):
                continue
            value = source[name]
            if value.shape == target.shape:
                target.copy_(value)
            elif name in ("embedding.weight", "output.weight", "output.bias"):
                n = value.shape[0]  # (old_vocab, …)
                target[:n] = value
                if name == "embedding.weight":
                    target[n:] = value.mean(dim=0)
                elif name == "output.weight":
                    target[n:] = 0.0
                else:
                    target[n:] = value.min() - 10.0  # never the vocabulary path's pick
            elif name in ("init_h.weight", "init_c.weight", "lstm.weight_ih"):
                target.zero_()
                target[:, : value.shape[1]] = value  # the label columns come last
            else:
                raise ValueError(f"no warm start for {name} {tuple(value.shape)}")
        decoder.copy_gate.bias.fill_(-3.0)
    return decoder
