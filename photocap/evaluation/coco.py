"""The bridge to the COCO caption evaluation (pycocoevalcap, the `eval` extra): BLEU-1..4, METEOR,
ROUGE-L and CIDEr exactly as the COCO code computes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from photocap.errors import PhotocapError


def _imports():
    try:
        from pycocoevalcap.bleu.bleu import Bleu
        from pycocoevalcap.cider.cider import Cider
    except ImportError:
        raise PhotocapError(
            "caption metrics need pycocoevalcap", hint="pip install 'photocap[eval]'"
        ) from None
    return Bleu, Cider


def coco_scores(
    hypotheses: Mapping[str, str], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """BLEU-1..4, METEOR, ROUGE-L and CIDEr exactly as the COCO caption evaluation computes them.

    Tokenises with the Stanford PTB tokenizer; METEOR and the tokenizer run on Java.
    """
    Bleu, Cider = _imports()
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    try:
        tokenizer = PTBTokenizer()
        gts = tokenizer.tokenize({k: [{"caption": r} for r in references[k]] for k in hypotheses})
        res = tokenizer.tokenize({k: [{"caption": v}] for k, v in hypotheses.items()})
        scores: dict[str, float] = {}
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        scores.update({f"BLEU-{i + 1}": float(b) for i, b in enumerate(bleu)})
        scores["METEOR"], _ = Meteor().compute_score(gts, res)
        scores["ROUGE-L"], _ = Rouge().compute_score(gts, res)
        scores["CIDEr"], _ = Cider().compute_score(gts, res)
    except (FileNotFoundError, OSError) as exc:
        raise PhotocapError(
            f"the COCO evaluation tools could not run ({exc})",
            hint="METEOR and the PTB tokenizer need Java (e.g. apt-get install default-jre-headless)",
        ) from None
    return {k: float(v) for k, v in scores.items()}
