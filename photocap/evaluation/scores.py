"""BLEU and CIDEr-D in plain Python, computing what the COCO caption evaluation code
(pycocoevalcap's `Bleu(4)` and `Cider`) computes, so `photocap train` needs no extra install;
`quick_scores`, the validation scores of training, from them.

Both take captions as text and split them into words with photocap's `tokenize` (no Java);
tests check them against pycocoevalcap, given the same words, to 1e-9.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from photocap.model.vocab import PUNCTUATION, tokenize

NGRAMS = 4
SIGMA = 6.0  # CIDEr-D's length penalty: a Gaussian of the length difference


def ngram_counts(words: Sequence[str], n: int = NGRAMS) -> list[Counter]:
    """Counts of the 1-grams … n-grams of `words`, one Counter per length."""
    # k-grams: k copies of the words, each shifted by one more, zipped (the shortest ends it)
    return [Counter(zip(*(words[j:] for j in range(k)), strict=False)) for k in range(1, n + 1)]


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], n: int = 4
) -> list[float]:
    """Corpus BLEU-1 … BLEU-n of one hypothesis per image against that image's references.

    As pycocoevalcap's `Bleu(n)`: clipped n-gram matches and n-gram counts summed over the corpus,
    each image's reference length the one closest to its hypothesis (the shorter on a tie), and the
    same tiny constants so that a zero count gives a score near zero rather than a division error.
    """
    tiny, small = 1e-15, 1e-9
    correct, guess = [0] * n, [0] * n
    hypothesis_length = reference_length = 0
    for hypothesis, captions in zip(hypotheses, references, strict=True):
        words, refs = tokenize(hypothesis), [tokenize(c) for c in captions]
        most: dict[tuple[str, ...], int] = {}  # each n-gram's most uses in one reference
        for ref in refs:
            for counts in ngram_counts(ref, n):
                for g, c in counts.items():
                    most[g] = max(most.get(g, 0), c)
        for k, counts in enumerate(ngram_counts(words, n)):
            correct[k] += sum(min(c, most.get(g, 0)) for g, c in counts.items())
            guess[k] += max(0, len(words) - k)
        hypothesis_length += len(words)
        reference_length += min((abs(len(r) - len(words)), len(r)) for r in refs)[1]

    scores, precision_product = [], 1.0
    for k in range(n):
        precision_product *= (correct[k] + tiny) / (guess[k] + small)
        scores.append(precision_product ** (1.0 / (k + 1)))  # geometric mean of precisions 1..k+1
    ratio = (hypothesis_length + tiny) / (reference_length + small)
    if ratio < 1:  # brevity penalty
        scores = [s * math.exp(1 - 1 / ratio) for s in scores]
    return scores


def ngram_key(gram: Sequence[str]) -> int:
    """A stable 63-bit key of an n-gram (its words joined by spaces), for stored frequency tables."""
    digest = hashlib.blake2b(" ".join(gram).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class DocumentFrequencies:
    """In how many of a corpus's images (documents) each n-gram occurs, by `ngram_key`."""

    documents: int
    counts: Mapping[int, int]

    def count(self, gram: Sequence[str]) -> int:
        return self.counts.get(ngram_key(gram), 0)


class CiderD:
    """CIDEr-D with document frequencies from a fixed corpus of references.

    With the corpus being the references of the evaluated images, the mean score over those images
    is pycocoevalcap's `Cider` (n = 4, sigma = 6): TF-IDF n-gram vectors, a candidate's weights
    clipped at the reference's, a Gaussian penalty on the length difference, ×10. Self-critical
    training uses it with the training references as the corpus.
    """

    def __init__(
        self,
        references: Sequence[Sequence[str]],
        extra_documents: Sequence[Sequence[str]] = (),
        background: DocumentFrequencies | None = None,
    ):
        """`references`: each scored image's references. Document frequencies count them, plus
        `extra_documents` (other images' references, e.g. a person's training captions) and a
        `background` table (e.g. Flickr8k's), so a phrase every scored reference shares still
        weighs what it weighs in the wider corpus."""
        self.refs = [[tokenize(r) for r in refs] for refs in references]
        df: Counter = Counter()
        for refs in [*self.refs, *([tokenize(r) for r in refs] for refs in extra_documents)]:
            df.update({g for r in refs for counts in ngram_counts(r) for g in counts})
        self.df = df
        self.background = background
        documents = len(self.refs) + len(extra_documents)
        self.log_n = math.log(float(documents + (background.documents if background else 0)))
        self.idf = {g: self._idf_of(g, d) for g, d in df.items()}  # unseen: log_n (or background)
        self._ref_vectors = [[self._vector(r) for r in refs] for refs in self.refs]

    def _idf_of(self, gram: tuple[str, ...], local: int) -> float:
        extra = self.background.count(gram) if self.background else 0
        return self.log_n - math.log(max(1.0, local + extra))

    def _weight(self, gram: tuple[str, ...]) -> float:
        idf = self.idf.get(gram)
        if idf is None:
            idf = self.idf[gram] = self._idf_of(gram, 0) if self.background else self.log_n
        return idf

    def _vector(self, words: Sequence[str]) -> tuple[list[dict], list[float], int]:
        vec, norms = [], []
        for counts in ngram_counts(words):
            v = {g: tf * self._weight(g) for g, tf in counts.items()}
            vec.append(v)
            norms.append(math.sqrt(sum(x * x for x in v.values())))
        # pycocoevalcap measures length in bigrams; the difference is the same unless one side
        # is empty, where the similarity is 0 anyway.
        return vec, norms, len(words)

    def score(self, words: Sequence[str], image: int) -> float:
        """CIDEr-D of one candidate (words) against the references of corpus image `image`;
        punctuation ignored, as the references' `tokenize` and the evaluation do."""
        cand, cand_norms, cand_len = self._vector([w for w in words if w not in PUNCTUATION])
        total = 0.0
        for ref, ref_norms, ref_len in self._ref_vectors[image]:
            delta = cand_len - ref_len
            sim = 0.0
            for n in range(NGRAMS):
                if cand_norms[n] and ref_norms[n]:
                    dot = sum(
                        min(v, ref[n].get(g, 0.0)) * ref[n].get(g, 0.0) for g, v in cand[n].items()
                    )
                    sim += dot / (cand_norms[n] * ref_norms[n])
            total += sim / NGRAMS * math.exp(-(delta**2) / (2 * SIGMA**2))
        return total / len(self._ref_vectors[image]) * 10.0


def corpus_cider_d(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Mean CIDEr-D of one hypothesis per image, document frequencies from these references
    (0.0 for no images)."""
    if not hypotheses:
        return 0.0
    cider = CiderD(references)
    scores = [cider.score(tokenize(h), i) for i, h in enumerate(hypotheses)]
    return sum(scores) / len(scores)


def quick_scores(
    hypotheses: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """BLEU-4 and CIDEr with photocap's own tokenizer (no Java): for validation during training.

    Computed here (no pycocoevalcap needed), equal to pycocoevalcap's `Bleu(4)` and `Cider` on the
    same words.
    """
    keys = list(hypotheses)
    hyps, refs = [hypotheses[k] for k in keys], [references[k] for k in keys]
    return {"BLEU-4": corpus_bleu(hyps, refs)[3], "CIDEr": corpus_cider_d(hyps, refs)}
