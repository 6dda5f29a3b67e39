"""Captioning on a Ray cluster (`photocap index --ray`): decoding and the model move to Ray actors.

Everything else stays in the driver, this process, exactly as in a plain run: the walk, the
incremental plan, the metadata writes (atomic, once per photo) and the index commits, batch by
batch in order. Each actor loads the model once, from bytes shipped through Ray's object store
(the nodes need not have the model file); the photos must be on storage every node mounts at the
same path. An actor on a node with a GPU uses it. An actor whose process dies is restarted by Ray
and its batch retried (on whichever node has room); a driver that dies leaves the batches done so
far committed, so a rerun resumes from there.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from photocap.errors import PhotocapError

if TYPE_CHECKING:
    from photocap.captioner import Caption, Captioner
    from photocap.indexing.loader import LoadedPhoto
    from photocap.model.labels import Label


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: `address` of the cluster (None: $RAY_ADDRESS, else a local cluster
    started for this run) and the number of captioning actors (None: one per GPU, else one per
    CPU of the cluster)."""

    address: str | None = None
    workers: int | None = None


@dataclass
class RemoteBatch:
    """One batch as an actor returns it: the photos (tensors dropped), captions of those that
    wanted one (by position in `ok`) and labels of every photo in `ok`."""

    ok: list[LoadedPhoto]
    failed: list[LoadedPhoto]
    decided: list[LoadedPhoto]
    captions: dict[int, Caption] = field(default_factory=dict)
    labels: list[tuple[Label, ...]] = field(default_factory=list)


class PhotoWorker:
    """The actor: a model loaded once, then batches of paths in, captions and labels out."""

    def __init__(self, device: str, precision: str, beam: int, threads: int, evidence: bool = True):
        from photocap.model.beam import DecodeOptions

        self.device, self.precision, self.threads = device, precision, threads
        self.decode = DecodeOptions(beam_size=beam, evidence=evidence)
        self.captioner: Captioner | None = None

    def _load(self, model: list) -> Captioner:
        """The model, loaded on the first batch from `model`, [a Ray reference to the model
        file's bytes] (a restarted actor loads it again)."""
        import ray
        import torch

        from photocap.captioner import load_captioner

        torch.set_num_threads(self.threads)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.safetensors"
            path.write_bytes(ray.get(model[0]))
            return load_captioner(path, self.device, self.precision)

    def describe(self, model: list, photos: list[tuple[str, bool]]) -> RemoteBatch:
        """Decode, judge and caption `photos` ((path, wants a caption) pairs) as one batch."""
        from photocap.indexing.loader import PhotoDataset, collate_photos

        if self.captioner is None:
            self.captioner = self._load(model)
        wants = dict(photos)
        captioner = self.captioner
        dataset = PhotoDataset(
            [path for path, _ in photos], captioner.prepare, captioner.min_side, assess=True
        )
        with ThreadPoolExecutor(self.threads) as pool:  # Pillow decodes without the GIL
            batch = collate_photos(list(pool.map(dataset.__getitem__, range(len(dataset)))))
        result = RemoteBatch(batch.ok, batch.failed, batch.decided)
        if batch.tensors is None:
            return result
        features = captioner.encode(batch.tensors)  # (n_ok, num_pixels, encoder_dim)
        chosen = [i for i, item in enumerate(batch.ok) if wants[str(item.path)]]
        if chosen:
            found = captioner.caption_features(features[chosen], self.decode)
            result.captions = dict(zip(chosen, found, strict=True))
        result.labels = captioner.label_features(features)
        return result


class RayCaptioning:
    """A pool of `PhotoWorker` actors on a Ray cluster, for one index run."""

    def __init__(
        self,
        model_path: str | Path | None,
        device: str = "auto",
        precision: str = "auto",
        beam: int = 3,
        options: RayOptions = RayOptions(),
        evidence: bool = True,
    ):
        try:
            import ray
            from ray.util import ActorPool
        except ImportError:
            raise PhotocapError(
                "--ray needs Ray, which is not installed", hint="pip install 'photocap[ray]'"
            ) from None
        from photocap.model.checkpoint import model_id_of, read_info
        from photocap.paths import model_file

        path = model_file(model_path)
        data = path.read_bytes()
        self.model_id = model_id_of(read_info(path), data)
        if not ray.is_initialized():
            ray.init(address=options.address, log_to_driver=False, include_dashboard=False)
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        workers = options.workers or gpus or cpus
        per_worker = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        actor = ray.remote(max_restarts=-1, max_task_retries=-1, **per_worker)(PhotoWorker)
        self._model = ray.put(data)  # shipped once to each node, however many actors it runs
        threads = max(1, cpus // workers)  # decoding threads (and torch's, on a CPU)
        self.actors = [
            actor.remote(device, precision, beam, threads, evidence) for _ in range(workers)
        ]
        # each actor listed twice: its next batch waits in its queue while this process writes
        self._pool = ActorPool(self.actors * 2)
        self._ray = ray

    def describe(self, batches: Iterable[list[tuple[str, bool]]]) -> Iterator[RemoteBatch]:
        """Results in the order of `batches`, two batches in flight per actor."""
        model = [self._model]
        return self._pool.map(lambda worker, batch: worker.describe.remote(model, batch), batches)

    def close(self) -> None:
        """End the actors (the cluster itself stays, whoever started it)."""
        for worker in self.actors:
            self._ray.kill(worker)
        self.actors = []
