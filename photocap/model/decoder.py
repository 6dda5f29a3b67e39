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

    def init_state(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Initial LSTM state from the mean feature of each image."""
        mean = features.mean(dim=1)  # (batch, encoder_dim)
        return torch.tanh(self.init_h(mean)), torch.tanh(
            self.init_c(mean)
        )  # 2 × (batch, hidden_dim)

    def step(
        self,
        tokens: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
        features: torch.Tensor,
        projected: torch.Tensor,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """One word: logits for the next token, the new state and the attention weights."""
        h, c = state
        embedded = self.embedding(tokens)  # (batch, embed_dim)
        context, alpha = self.attention(
            features, projected, h
        )  # (batch, encoder_dim), (batch, num_pixels)
        context = torch.sigmoid(self.gate(h)) * context  # (batch, encoder_dim)
        h, c = self.lstm(torch.cat([embedded, context], dim=1), (h, c))  # 2 × (batch, hidden_dim)
        logits = self.output(self.dropout(h))  # (batch, vocab_size)
        return logits, (h, c), alpha

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
        logits = features.new_zeros(batch, steps, self.config.vocab_size)
        alphas = features.new_zeros(batch, steps, num_pixels)
        for t in range(steps):
            n = sum(length > t for length in decode_lengths)  # captions still running at step t
            # rows past n have ended and never come back (sorted), so the state shrinks with them
            step_logits, state, alpha = self.step(
                captions[:n, t], tuple(s[:n] for s in state), features[:n], projected[:n]
            )
            logits[:n, t] = step_logits
            alphas[:n, t] = alpha
        unsort = torch.argsort(order)
        return logits[unsort], alphas[unsort]
