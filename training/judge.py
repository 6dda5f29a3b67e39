"""Is a fine-tuned model worth writing? Judged on the person's held-out photos and captions.

Three questions, each answered with a 95% interval from resampling the validation photos:
- **learned**: did the per-word loss of the held-out captions fall from the base model's? This is
  the main test: it credits a house style ("Product shot: …") that CIDEr on a few photos cannot.
- **photos**: does the fine-tuned model predict the held-out captions better from their own photo
  than from another validation photo? Captions shuffled between photos (the right style, the
  wrong content) teach a model to say words whatever the photo shows: the loss falls, the photo
  stops mattering.
- **content**: CIDEr-D of the captions each model writes, with document frequencies from the
  person's captions plus Flickr8k's (a handful of photos do not set the weights), and the style
  set aside: words the person's captions use far more than Flickr8k's ("product", "shot") are
  the loss's to credit. Learning a style from a few photos may cost a little content; a model is
  refused when it surely lost more than a quarter of the base's (a non-inferiority test: the
  interval's upper end below -CONTENT_MARGIN × the base's score).

A model is written when it learned, the photos matter, and its content is not clearly worse.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from photocap.training.data import CaptionSet, encode_batch
from torch import nn

from photocap.evaluation.scores import CiderD, DocumentFrequencies
from photocap.model.decoder import AttentionDecoder
from photocap.model.vocab import Vocabulary, tokenize

DRAWS = 2000  # bootstrap resamples of the validation photos
CONTENT_MARGIN = 0.25  # refused when it surely lost more than this share of the base's content
SWAPS = 3  # other photos each held-out photo's captions are scored with (rotations of the set)


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% bootstrap interval."""

    value: float
    low: float
    high: float

    def words(self, digits: int = 2) -> str:
        """'+0.75 (0.52 to 0.98)'."""
        return f"{self.value:+.{digits}f} ({self.low:+.{digits}f} to {self.high:+.{digits}f})"


@dataclass(frozen=True)
class PhotoLosses:
    """Per validation photo: summed cross-entropy of its captions (nats) and their word count."""

    nats: np.ndarray  # (photos,)
    words: np.ndarray  # (photos,)

    @property
    def per_word(self) -> float:
        return float(self.nats.sum() / max(self.words.sum(), 1))


@dataclass(frozen=True)
class BaseView:
    """The base model on the validation photos, taken before training changes it."""

    losses: PhotoLosses
    captions: list[str]


@dataclass(frozen=True)
class Judgement:
    """The evidence for and against writing a fine-tuned model, in numbers and in words."""

    photos: int
    base_loss: float  # per word, the held-out captions under the base model
    tuned_loss: float
    loss_change: Interval  # tuned − base, per word: below 0 is learning
    swapped_loss: float | None  # the tuned model given another photo (None: one photo only)
    photo_gain: Interval | None  # swapped − tuned: above 0 means the photo matters
    base_cider: float
    tuned_cider: float
    cider_change: Interval  # tuned − base, CIDEr-D of the written captions' content
    style: tuple[str, ...]  # the person's style words, set aside when content is compared
    learned: bool
    uses_photos: bool
    content_kept: bool

    @property
    def better(self) -> bool:
        return self.learned and self.uses_photos and self.content_kept

    def lines(self) -> list[str]:
        """The evidence in plain words, one line each."""
        n = f"{self.photos} held-out photo{'s' if self.photos != 1 else ''}"
        out = [
            f"learned your captions: held-out loss {self.base_loss:.2f} → {self.tuned_loss:.2f} "
            f"per word, change {self.loss_change.words()} on {n}"
        ]
        if self.photo_gain is not None and self.swapped_loss is not None:
            out.append(
                f"uses the photos: held-out loss {self.tuned_loss:.2f} with its own photo, "
                f"{self.swapped_loss:.2f} with another, difference {self.photo_gain.words()}"
            )
        aside = ", ".join(f'"{w}"' for w in self.style[:6]) + (" …" if len(self.style) > 6 else "")
        out.append(
            f"content: CIDEr-D {self.base_cider:.3f} → {self.tuned_cider:.3f}, change "
            f"{self.cider_change.words(3)} (weights from your captions and Flickr8k's"
            + (f"; style words {aside} set aside)" if self.style else ")")
        )
        return out

    def reasons(self) -> list[str]:
        """Why the model is not better, one sentence each (empty when it is)."""
        out = []
        if not self.learned:
            out.append(
                "it did not learn your captions: the held-out loss did not clearly fall "
                f"({self.loss_change.words()})"
            )
        if not self.uses_photos:
            assert self.photo_gain is not None
            out.append(
                "your held-out captions are predicted as well from another photo as from their "
                f"own ({self.photo_gain.words()}): the captions do not describe their photos "
                "(were they shuffled between photos?), so the model learned words, not what "
                "photos show"
            )
        if not self.content_kept:
            out.append(
                "it describes the held-out photos clearly worse than the base model: it lost "
                f"more than a quarter of the base's content (CIDEr-D {self.base_cider:.3f} → "
                f"{self.tuned_cider:.3f}, change {self.cider_change.words(3)})"
            )
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "better": self.better, "reasons": self.reasons()}


@torch.no_grad()
def photo_losses(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    data: CaptionSet,
    vocab: Vocabulary,
    max_words: int,
    shift: int = 0,
    batch_size: int = 250,
) -> PhotoLosses:
    """Teacher-forced cross-entropy of each photo's captions; with `shift` k, photo i's captions
    are scored with the features of photo (i + k) mod n (another photo's)."""
    decoder.eval()
    device = next(decoder.parameters()).device
    pairs = data.pairs()
    n = len(data.keys)
    nats, words = np.zeros(n), np.zeros(n)
    for lo in range(0, len(pairs), batch_size):
        batch = pairs[lo : lo + batch_size]
        captions, lengths = encode_batch([c for _, c in batch], vocab, max_words)  # (B, T), (B,)
        photos = torch.tensor([i for i, _ in batch])  # (B,)
        feats = features[(photos + shift) % n].to(device).float()  # (B, num_pixels, D)
        logits, _ = decoder(feats, captions.to(device), lengths.to(device))  # (B, T-1, V)
        targets = captions[:, 1 : logits.shape[1] + 1].to(device)  # (B, T-1)
        loss = nn.functional.cross_entropy(
            logits.transpose(1, 2), targets, ignore_index=vocab.pad, reduction="none"
        )  # (B, T-1)
        np.add.at(nats, photos.numpy(), loss.sum(dim=1).cpu().double().numpy())
        np.add.at(words, photos.numpy(), (targets != vocab.pad).sum(dim=1).cpu().numpy())
    return PhotoLosses(nats, words)


def swapped_losses(
    decoder: AttentionDecoder,
    features: torch.Tensor,
    data: CaptionSet,
    vocab: Vocabulary,
    max_words: int,
) -> PhotoLosses | None:
    """Each photo's captions scored with other photos' features, averaged over up to SWAPS
    rotations of the set (None: fewer than two photos)."""
    n = len(data.keys)
    if n < 2:
        return None
    runs = [photo_losses(decoder, features, data, vocab, max_words, k) for k in range(1, n)][:SWAPS]
    return PhotoLosses(sum(r.nats for r in runs) / len(runs), runs[0].words)


STYLE_SHARE = 0.3  # a style word is in at least this share of the person's training photos…
STYLE_RATIO = 3.0  # …and this many times Flickr8k's share


def style_words(
    training: Sequence[Sequence[str]], background: DocumentFrequencies | None
) -> frozenset[str]:
    """Words the person's captions use far more than Flickr8k's ("product", "shot", "pawtrait"):
    the style, which the loss credits and the content measure sets aside."""
    photos = max(len(training), 1)
    counts = Counter(w for refs in training for w in {w for r in refs for w in tokenize(r)})
    wider = (lambda w: background.count((w,)) / background.documents) if background else None
    return frozenset(
        w
        for w, n in counts.items()
        if n / photos >= STYLE_SHARE and (wider is None or n / photos >= STYLE_RATIO * wider(w))
    )


def content_scores(
    captions: Sequence[str],
    references: Sequence[Sequence[str]],
    training: Sequence[Sequence[str]],
    background: DocumentFrequencies | None,
    style: frozenset[str] = frozenset(),
) -> np.ndarray:
    """CIDEr-D of each caption against its photo's references, document frequencies from these
    references, the training references and `background`; `style` words left out of all: (photos,)."""

    def content(text: str) -> str:
        return " ".join(w for w in tokenize(text) if w not in style)

    refs = [[content(r) for r in rs] for rs in references]
    cider = CiderD(refs, [[content(r) for r in rs] for rs in training], background)
    return np.array([cider.score(tokenize(content(c)), i) for i, c in enumerate(captions)])


def _resamples(photos: int, seed: int) -> np.ndarray:
    """(DRAWS, photos): how often each photo is drawn in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(photos, np.full(photos, 1.0 / photos), size=DRAWS).astype(float)


def _interval(value: float, draws: np.ndarray) -> Interval:
    low, high = np.percentile(draws, [2.5, 97.5])
    return Interval(value, float(low), float(high))


def per_word_change(
    after: PhotoLosses, before: PhotoLosses, counts: np.ndarray
) -> tuple[float, np.ndarray]:
    """Per-word loss after − before over all photos, and over each resample."""
    words = counts @ before.words  # (draws,)
    draws = (counts @ after.nats - counts @ before.nats) / np.maximum(words, 1)
    return after.per_word - before.per_word, draws


def judge(
    base: BaseView,
    tuned: PhotoLosses,
    swapped: PhotoLosses | None,
    tuned_captions: Sequence[str],
    references: Sequence[Sequence[str]],
    training: Sequence[Sequence[str]],
    background: DocumentFrequencies | None,
    seed: int = 0,
) -> Judgement:
    """Weigh the fine-tuned model against the base on the validation photos."""
    n = len(references)
    counts = _resamples(n, seed)
    loss_value, loss_draws = per_word_change(tuned, base.losses, counts)
    loss_change = _interval(loss_value, loss_draws)
    photo_gain = None
    if swapped is not None:
        gain_value, gain_draws = per_word_change(swapped, tuned, counts)
        photo_gain = _interval(gain_value, gain_draws)
    style = style_words(training, background)
    base_cider = content_scores(base.captions, references, training, background, style)
    tuned_cider = content_scores(tuned_captions, references, training, background, style)
    difference = tuned_cider - base_cider  # (photos,)
    cider_change = _interval(float(difference.mean()), counts @ difference / n)
    return Judgement(
        photos=n,
        base_loss=base.losses.per_word,
        tuned_loss=tuned.per_word,
        loss_change=loss_change,
        swapped_loss=swapped.per_word if swapped is not None else None,
        photo_gain=photo_gain,
        base_cider=float(base_cider.mean()),
        tuned_cider=float(tuned_cider.mean()),
        cider_change=cider_change,
        style=tuple(sorted(style)),
        learned=loss_change.high < 0,
        uses_photos=photo_gain is None or photo_gain.low > 0,
        content_kept=cider_change.high >= -CONTENT_MARGIN * float(base_cider.mean()),
    )
