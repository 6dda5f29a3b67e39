"""The index run, split by stage: plan (what changed), caption (batches through the model),
write (metadata and rows); its options and outcomes; how photos become model input."""

from photocap.indexing.model_input import Preparation, model_preparation
from photocap.indexing.outcomes import IndexOptions, IndexSummary, PhotoOutcome
from photocap.indexing.run import CHUNK, IndexRun, index_photos

__all__ = [
    "CHUNK",
    "IndexOptions",
    "IndexRun",
    "IndexSummary",
    "PhotoOutcome",
    "Preparation",
    "index_photos",
    "model_preparation",
]
