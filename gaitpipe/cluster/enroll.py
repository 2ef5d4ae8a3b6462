"""The Ray side of a batch enrolment: segmentation tasks per video, encoders as Ray actors.

Each video is segmented by a CPU task (process title ``ray::segment_video_task``); its silhouettes
go, through Ray's object store, to an encoder actor (``ray::EncoderActor``, one per GPU when the
cluster has GPUs, else one CPU actor), which returns the video's :class:`VideoEmbeddings`. Both
run the same :class:`~gaitpipe.pipeline.Pipeline` code as the local engine, so the templates match
it. Nothing here writes the gallery: the caller enrols each result in its own process.

A task or actor whose worker dies is retried by Ray (the actor is restarted and reloads its
weights); both are pure functions of their inputs, so a retry changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gaitpipe.cluster.session import first_line, ray_session
from gaitpipe.errors import GaitpipeError, InputError, WeightsError

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.extract import VideoSilhouettes
    from gaitpipe.pipeline import Pipeline
    from gaitpipe.results import VideoEmbeddings

#: Retries of a task, and restarts of an actor, whose worker process died.
RETRIES = 3


@dataclass(frozen=True)
class RemoteSettings:
    """What a worker needs to rebuild the driver's pipeline stages (picklable)."""

    segmenter: str  #: the resolved backend (yolo/bgsub), so every task agrees with the driver
    segmenter_options: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    stride: int = 1
    max_frames: int | None = None
    window: int = 300
    batch_frames: int | None = None
    rotate: str | int = "auto"
    rgb: bool = False  #: keep colour crops (the encoder takes RGB)

    @classmethod
    def of(cls, pipe: Pipeline) -> RemoteSettings:
        return cls(
            segmenter=pipe.segmenter.name,
            segmenter_options=dict(pipe.segmenter_options),
            weights=None if pipe.weights is None else str(pipe.weights),
            stride=pipe.stride,
            max_frames=pipe.max_frames,
            window=pipe.window,
            batch_frames=pipe.batch_frames,
            rotate=pipe.rotate,
            rgb=pipe.encoder.input_kind == "rgb",
        )


#: This worker's segmentation-only pipelines, by settings: a worker runs many tasks, and building
#: a segmenter (YOLO weights) costs seconds.
_SEGMENTING: dict[str, Pipeline] = {}


def segment_video_task(video: str, settings: RemoteSettings) -> VideoSilhouettes:
    """One video's tracked silhouettes, on one CPU of a Ray worker."""
    import cv2
    import torch

    from gaitpipe.pipeline import Pipeline

    key = repr(settings)
    if key not in _SEGMENTING:
        cv2.setNumThreads(1)  # one task per CPU: more threads would only fight the neighbours
        torch.set_num_threads(1)
        _SEGMENTING[key] = Pipeline(
            settings.segmenter,
            device="cpu",  # segmentation tasks hold CPUs only; the encoders hold the GPUs
            segmenter_options=settings.segmenter_options,
            stride=settings.stride,
            max_frames=settings.max_frames,
            rotate=settings.rotate,
        )
    return _SEGMENTING[key].extract(video, keep_rgb=settings.rgb)


class EncoderActor:
    """Holds one loaded encoder and embeds the silhouettes of one video per call."""

    def __init__(self, settings: RemoteSettings, device: str) -> None:
        from gaitpipe.pipeline import Pipeline

        self.pipe = Pipeline(
            settings.segmenter,
            weights=settings.weights,
            device=device,
            window=settings.window,
            batch_frames=settings.batch_frames,
        )
        # loads the weights now: a bad file fails at start, not once per video
        self.encoder = self.pipe.fingerprint

    def fingerprint(self) -> str:
        return self.encoder

    def embed(self, video: str, sil: VideoSilhouettes) -> VideoEmbeddings:
        return self.pipe.embed_silhouettes(video, sil)


def analyse_on_ray(
    videos: Sequence[str],
    pipe: Pipeline,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
) -> Iterator[tuple[int, VideoEmbeddings | GaitpipeError]]:
    """Yield ``(index into videos, the video's VideoEmbeddings or the error that stopped it)`` as videos finish.

    ``address``: the Ray cluster (None: a local one of ``num_cpus`` CPUs, None: all, started and
    stopped here unless this process already joined one).
    """
    settings = RemoteSettings.of(pipe)
    with ray_session(address, num_cpus=num_cpus) as ray:
        gpus = int(ray.cluster_resources().get("GPU", 0))
        on_gpu = gpus > 0 and not str(pipe.requested_device or "").startswith("cpu")
        # A CPU actor reserves no CPU: it would otherwise take one of the segmentation tasks' slots
        # for the whole run, while it is busy only between them.
        actor_cls = ray.remote(num_cpus=0, num_gpus=1 if on_gpu else 0, max_restarts=RETRIES, max_task_retries=RETRIES)(
            EncoderActor
        )
        actors = [actor_cls.remote(settings, "cuda" if on_gpu else "cpu") for _ in range(gpus if on_gpu else 1)]
        # Templates of other weights must never reach the gallery: a node whose weights of this name
        # differ from this machine's stops the run before any video is read.
        try:
            fingerprints = ray.get([a.fingerprint.remote() for a in actors])
        except ray.exceptions.RayError as exc:  # e.g. the weights are missing on a node
            raise WeightsError(f"the encoder could not be loaded on the Ray cluster: {_raised(exc)}") from None
        for found in fingerprints:
            if found != pipe.fingerprint:
                raise WeightsError(
                    f"the cluster's encoder ({found}) is not this machine's ({pipe.fingerprint}): "
                    "install the same weights on every node, or pass a weights file all nodes can read"
                )
        segment = ray.remote(num_cpus=1, max_retries=RETRIES)(segment_video_task)
        settings_ref = ray.put(settings)
        segmenting = {segment.remote(video, settings_ref): i for i, video in enumerate(videos)}
        embedding: dict[Any, int] = {}
        turn = 0
        while segmenting or embedding:
            done, _ = ray.wait([*segmenting, *embedding], num_returns=1)
            ref = done[0]
            if ref in segmenting:
                i = segmenting.pop(ref)
                # The silhouettes go to an actor through the object store, not through this
                # process; a failed segmentation fails that call with its own error.
                embedding[actors[turn % len(actors)].embed.remote(videos[i], ref)] = i
                turn += 1
                continue
            i = embedding.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayError as exc:
                value = _as_error(ray, exc)
            yield i, value


def _raised(exc: BaseException) -> str:
    """What a dead actor's constructor raised: Ray puts it, as ``module.Error: message``, after the traceback."""
    for line in reversed(str(exc).splitlines()):
        m = re.match(r"^(?:\w+\.)*(\w+(?:Error|Exception)): (.*)$", line.strip())
        if m:
            return f"{m.group(1)}: {m.group(2)}"
    return first_line(exc)


def _as_error(ray: Any, exc: BaseException) -> GaitpipeError:
    """A failed task as the user's one-line error: the library's own error when it raised one."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(exc.cause, GaitpipeError):
        return exc.cause
    return InputError(f"ray: {first_line(exc)}")


__all__ = ["RETRIES", "EncoderActor", "RemoteSettings", "analyse_on_ray", "segment_video_task"]
