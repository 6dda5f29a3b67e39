"""Show, Attend and Tell decoder: additive soft attention over the encoder grid + an LSTM (Xu et al. 2015)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

GROUNDED_ONLY = ("kind", "label_slots", "copy_bias", "name_label_above", "never_required")


@dataclass(frozen=True)
class DecoderConfig:
    """Sizes of the decoder; saved in every checkpoint."""

    vocab_size: int
    encoder_dim: int
    embed_dim: int = 512
    attention_dim: int = 512
    hidden_dim: int = 512
    dropout: float = 0.5
    kind: str = "attention"  # "grounded": photocap.model.grounded.GroundedDecoder
    label_slots: int = 5  # grounded only: the most probable ImageNet classes it may copy from
    copy_bias: float = 0.0  # grounded only: decoding shifts the copy gate's logit by this (dev)
    name_label_above: float = 0.0  # grounded only: a top label this probable must be named (0: off)
    never_required: tuple[int, ...] = ()  # grounded only: copy words the rule above never forces

    def __post_init__(self) -> None:
        object.__setattr__(self, "never_required", tuple(self.never_required))  # JSON gives a list

    def to_dict(self) -> dict:
        """The sizes as saved; a plain decoder's as before grounded decoders existed."""
        raw = asdict(self)
        if self.kind == "attention":
            for grounded_only in GROUNDED_ONLY:
                del raw[grounded_only]
        return raw


class Attention(nn.Module):
    """Additive (Bahdanau) attention: scores each grid position against the LSTM state."""

    def __init__(self, encoder_dim: int, hidden_dim: int, attention_dim: int):
        super().__init__()
        self.encoder_proj = nn.Linear(encoder_dim, attention_dim)
        self.hidden_proj = nn.Linear(hidden_dim, attention_dim)
        self.score = nn.Linear(attention_dim, 1)

    def forward(
        self, features: torch.Tensor, projected: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context vector and attention weights; `projected` is `encoder_proj(features)`, computed once."""
        query = self.hidden_proj(hidden).unsqueeze(1)  # (batch, 1, attention_dim)
        scores = self.score(torch.tanh(projected + query)).squeeze(2)  # (batch, num_pixels)
        alpha = torch.softmax(scores, dim=1)  # (batch, num_pixels)
        context = torch.bmm(alpha.unsqueeze(1), features).squeeze(1)  # (batch, encoder_dim)
        return context, alpha


class AttentionDecoder(nn.Module):
    """LSTM decoder with soft attention, a gating scalar on the context and h/c from the mean feature."""

    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = config
        c = config
        self.embedding = nn.Embedding(c.vocab_size, c.embed_dim)
        self.attention = Attention(c.encoder_dim, c.hidden_dim, c.attention_dim)
        self.init_h = nn.Linear(c.encoder_dim, c.hidden_dim)
        self.init_c = nn.Linear(c.encoder_dim, c.hidden_dim)
        self.gate = nn.Linear(c.hidden_dim, c.encoder_dim)
        self.lstm = nn.LSTMCell(c.embed_dim + c.encoder_dim, c.hidden_dim)
        self.dropout = nn.Dropout(c.dropout)
        self.output = nn.Linear(c.hidden_dim, c.vocab_size)
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        nn.init.uniform_(self.output.weight, -0.1, 0.1)
        nn.init.zeros_(self.output.bias)
        self.train_recurrence = True  # False: see `freeze_recurrence`

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial LSTM state from the mean feature of each image."""
        mean = features.mean(dim=1)  # (batch, encoder_dim)
        return torch.tanh(self.init_h(mean)), torch.tanh(
            self.init_c(mean)
        )  # 2 × (batch, hidden_dim)

    def freeze_recurrence(self) -> None:
        """Training from now on leaves the attention and the LSTM's recurrence (its context and
        hidden weights) as they are: the words side (embeddings, the LSTM's word columns, the
        output and copy layers, the initial state) still learns. The attention is then an input:
        no gradient flows back through it (only through the LSTM's hidden weights). A step costs
        about a third less, and a small collection has fewer weights to overfit."""
        self.train_recurrence = False
        for name, parameter in self.named_parameters():
            if name.startswith(("attention.", "gate.", "lstm.weight_hh")):
                parameter.requires_grad_(False)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Word embeddings: (..., embed_dim) for token ids of any shape."""
        return self.embedding(tokens)

    def input_gates(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The LSTM gates' terms that do not depend on the recurrence: the input word's, with both
        biases. tokens (batch,) or, teacher-forced, every step at once (batch, T): (..., 4·hidden)."""
        words = self.lstm.weight_ih[:, : self.config.embed_dim]  # (4·hidden, embed_dim)
        return nn.functional.linear(
            self.embed(tokens), words, self.lstm.bias_ih + self.lstm.bias_hh
        )

    def recurrent_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The LSTM's context columns (4·hidden, encoder_dim), contiguous, and its hidden weights:
        taken once per caption batch, so backward gathers their gradient once, not every step."""
        e, d = self.config.embed_dim, self.config.encoder_dim
        weights = self.lstm.weight_ih[:, e : e + d].contiguous(), self.lstm.weight_hh
        if not self.train_recurrence:
            return weights[0].detach(), weights[1].detach()
        return weights

    def recur(
        self,
        gates: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor,
        features: torch.Tensor,
        projected: torch.Tensor,
        weights: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One LSTM step (`self.lstm`'s weights) on `input_gates` plus the gated attention context.

        Returns h, c (batch, hidden_dim), the gated context (batch, encoder_dim) and the attention
        weights (batch, num_pixels). Splitting the LSTM's input weights by input lets teacher
        forcing apply the word columns to all steps in one product (training's cost);
        `weights` is `recurrent_weights()`.
        """
        looks = h if self.train_recurrence else h.detach()  # frozen: the attention is an input
        context, alpha = self.attention(features, projected, looks)  # (batch, D), (batch, pixels)
        context = torch.sigmoid(self.gate(looks)) * context  # (batch, encoder_dim)
        from_context, from_hidden = weights
        gates = (
            gates
            + nn.functional.linear(context, from_context)
            + nn.functional.linear(h, from_hidden)
        )  # (batch, 4·hidden): input, forget, cell, output as nn.LSTMCell orders them
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (batch, hidden_dim)
        h = torch.sigmoid(o) * torch.tanh(c)  # (batch, hidden_dim)
        return h, c, context, alpha

    def word_scores(
        self, h: torch.Tensor, context: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """Scores of the next word from the LSTM outputs h (batch, T, hidden_dim) and contexts
        (batch, T, encoder_dim): (batch, T, vocab) logits. `state` is `init_state`'s."""
        return self.output(self.dropout(h))

    def step(
        self,
        tokens: torch.Tensor,
        state: tuple[torch.Tensor, ...],
        features: torch.Tensor,
        projected: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """One word: scores of the next token (batch, vocab), the new state and the attention."""
        h, c = state[0], state[1]
        gates = self.input_gates(tokens, state)  # (batch, 4·hidden)
        weights = self.recurrent_weights()
        h, c, context, alpha = self.recur(gates, h, c, features, projected, weights)
        state = (h, c, *state[2:])
        scores = self.word_scores(h.unsqueeze(1), context.unsqueeze(1), state)  # (batch, 1, V)
        return scores.squeeze(1), state, alpha

    def mask_said_(
        self, log_probs: torch.Tensor, history: torch.Tensor, state: tuple[torch.Tensor, ...]
    ) -> torch.Tensor:
        """Decoding: set to -inf, in place, words this decoder says at most once per caption and
        each beam (`history` (rows, t)) has said. The plain decoder has none."""
        return log_probs

    def required_words(self, state: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """Decoding: per image (`init_state`'s rows), a word its caption must contain (-1: none),
        or None when this decoder requires none. The plain decoder requires none."""
        return None

    def forward(
        self, features: torch.Tensor, captions: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits and attention weights.

        features (batch, num_pixels, encoder_dim); captions (batch, max_len) as `<start> … <end> <pad>…`;
        lengths (batch,) count `<start>` and `<end>`. Returns logits (batch, max_len - 1, vocab_size)
        predicting captions[:, 1:], and alphas (batch, max_len - 1, num_pixels); positions past a
        caption's end are zero.
        """
        batch, num_pixels, _ = features.shape
        steps = int(lengths.max()) - 1
        order = torch.argsort(lengths, descending=True)
        features, captions = features[order], captions[order]  # sorted by length, longest first
        decode_lengths = (lengths[order] - 1).tolist()
        projected = self.attention.encoder_proj(features)  # (batch, num_pixels, attention_dim)
        state = self.init_state(features)  # (h, c, …): every tensor's first dimension is batch
        gates = self.input_gates(captions[:, :steps], state)  # (batch, steps, 4·hidden)
        h, c = state[0], state[1]
        weights = self.recurrent_weights()
        by_step = gates.unbind(
            1
        )  # steps × (batch, 4·hidden): one backward gather, not one per step
        outputs, contexts, alphas = [], [], []
        for t in range(steps):
            n = sum(length > t for length in decode_lengths)  # captions still running at step t
            # rows past n have ended and never come back (sorted), so the state shrinks with them
            h, c, context, alpha = self.recur(
                by_step[t][:n], h[:n], c[:n], features[:n], projected[:n], weights
            )
            for rows, done in ((h, outputs), (context, contexts), (alpha, alphas)):
                done.append(nn.functional.pad(rows, (0, 0, 0, batch - n)))  # ended rows: zero
        outputs = torch.stack(outputs, dim=1)  # (batch, steps, hidden_dim)
        contexts = torch.stack(contexts, dim=1)  # (batch, steps, encoder_dim)
        alphas = torch.stack(alphas, dim=1)  # (batch, steps, num_pixels)
        scores = self.word_scores(outputs, contexts, state)  # (batch, steps, vocab)
        running = torch.arange(steps, device=lengths.device) < lengths[order].unsqueeze(1) - 1
        logits = scores.masked_fill(~running.unsqueeze(2), 0.0)  # (batch, steps, vocab)
        unsort = torch.argsort(order)
        return logits[unsort], alphas[unsort]
