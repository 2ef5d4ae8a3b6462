"""Video in, gait templates out: segmenter -> tracks -> silhouettes -> encoder embeddings.

    from gaitpipe import Pipeline

    pipe = Pipeline(segmenter="auto", weights=None)      # default weights, CUDA when available
    walkers = pipe.embed_video("walk.mp4")               # one WalkerEmbedding per usable track
    pipe.enroll("walk.mp4", "alice")                     # main walker -> gallery
    result = pipe.identify("clip.mp4", top_k=5)          # every walker -> ranked identities

Every track is embedded from all of its usable silhouettes (the OpenGait test protocol). Tracks
longer than ``window`` frames are cut into equal windows whose part features are averaged, so
memory stays bounded on long videos. All clips (tracks x windows) of a video are batched
together, sorted by length so equal-length clips share a forward pass (the encoder contract runs
equal true lengths together, so batching never changes an embedding), on the GPU when present.

Quality (0..1) = coverage x length factor: coverage is the fraction of the track's detected
frames that survived the silhouette checks (border cuts, partial masks, OpenGait's drop rules),
and the length factor ``min(1, frames / GOOD_FRAMES)`` says whether at least ~1.5 gait cycles
were seen.
"""
from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gaitpipe.errors import EncoderMismatchError, GalleryError, InputError, NoPersonError

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.gallery import Enrolment, Gallery, Identification
    from gaitpipe.types import SilhouetteSequence, VideoInfo

#: Fewest usable silhouettes to enrol a walker: about one gait cycle at 25 fps. A template from
#: fewer frames misses part of the cycle and matches poorly.
MIN_ENROL_FRAMES = 20
#: Fewest usable silhouettes for a walker to be identified (shorter tracks are skipped).
MIN_IDENTIFY_FRAMES = 10
#: Tracks with fewer surviving frames than this are ignored altogether (OpenGait's own limit).
MIN_TRACK_FRAMES = 5
#: Frames for a quality length factor of 1 (~1.5 gait cycles at 25 fps).
GOOD_FRAMES = 40
#: Longest clip embedded in one piece; longer tracks are split into equal windows.
DEFAULT_WINDOW = 300


@dataclass
class WalkerEmbedding:
    """One tracked walker of a video and its gait template."""

    track_id: int
    frame_start: int  #: first source frame of the silhouettes used
    frame_end: int  #: last source frame of the silhouettes used
    frames: int  #: silhouettes the embedding was computed from
    quality: float  #: 0..1, see module docstring
    embedding: np.ndarray  #: [P, D] float32 part features
    vector: np.ndarray  #: [P*D] float32 search vector (per-part L2, / sqrt(P))
    windows: int = 1  #: clips the track was embedded in
    frame_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32), repr=False)
    dropped: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"track": self.track_id, "frames": self.frames, "frame_range": [self.frame_start, self.frame_end],
                "quality": round(self.quality, 3), "windows": self.windows, "dropped": dict(self.dropped)}


@dataclass
class VideoEmbeddings:
    """Everything :meth:`Pipeline.analyse` learned about one video."""

    video: str
    info: "VideoInfo"
    walkers: list[WalkerEmbedding]
    manifest: dict[str, Any] = field(default_factory=dict)
    rejected_frames: list[int] = field(default_factory=list)  #: lengths of tracks too short to embed


@dataclass
class EnrolResult:
    enrolment: "Enrolment"
    walker: WalkerEmbedding
    gallery: str
    other_tracks: list[int]  #: usable tracks that were not enrolled


@dataclass
class WalkerIdentification:
    walker: WalkerEmbedding
    result: "Identification"

    def to_dict(self) -> dict[str, Any]:
        return {"track": self.walker.track_id, "frames": self.walker.frames, "decision": self.result.decision,
                "matches": [m.to_dict() for m in self.result.matches]}


@dataclass
class IdentifyResult:
    video: str
    threshold: float
    walkers: list[WalkerIdentification]
    skipped: list[WalkerEmbedding] = field(default_factory=list)  #: tracks too short to identify
    rendered: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` object: ``{"video", "walkers": [{"track", "frames", "decision", "matches"}]}``."""
        return {"video": self.video, "walkers": [w.to_dict() for w in self.walkers]}


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def sequence_quality(frames: int, dropped: dict[str, int]) -> float:
    """Coverage (kept / detected frames) x length factor ``min(1, frames / GOOD_FRAMES)``."""
    lost = sum(int(v) for v in dropped.values())
    coverage = frames / max(1, frames + lost)
    return float(coverage * min(1.0, frames / GOOD_FRAMES))


def split_windows(length: int, window: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of ~equal size <= ``window`` covering ``range(length)``."""
    n = max(1, math.ceil(length / max(1, window)))
    edges = np.linspace(0, length, n + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _names_the_gallery_encoder(method):
    """A gallery built with other installed weights: say which, since a new default encoder (or a
    --weights forgotten) is the usual cause and a bare fingerprint does not tell the user what to pass."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except EncoderMismatchError as exc:
            from gaitpipe.models.checkpoint import find_weights

            found = find_weights(exc.bound)
            if found is None:
                raise
            raise EncoderMismatchError(f"{exc}: it was built with the installed weights {found.stem!r} "
                                       f"(--weights {found.stem})", exc.bound, exc.wanted) from None

    return wrapper


class Pipeline:
    """Segmenter + gait encoder on one device.

    ``segmenter``: a name for ``create_segmenter`` (``auto``, ``yolo``, ``bgsub`` ...) or a
    segmenter object. ``weights``: a weights file/name (None: the installed default).
    ``device``: ``cuda``/``cpu``/... (None: CUDA when available). Weights and segmenter load on
    first use, so a bad video fails fast without loading a model.
    """

    def __init__(self, segmenter: Any = "auto", weights: str | Path | None = None, device: str | None = None, *,
                 segmenter_options: dict[str, Any] | None = None, stride: int = 1, max_frames: int | None = None,
                 window: int = DEFAULT_WINDOW, batch_frames: int | None = None, progress: bool = False) -> None:
        self._segmenter_spec = segmenter
        self._segmenter = None if isinstance(segmenter, str) else segmenter
        self.segmenter_options = dict(segmenter_options or {})
        self.weights = weights
        self._device = device
        self.stride = int(stride)
        self.max_frames = max_frames
        self.window = int(window)
        self.batch_frames = batch_frames
        self.progress = progress
        self._encoder = None
        self._meta: dict[str, Any] | None = None

    # -- lazy parts ---------------------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return str(self._device)

    @property
    def segmenter(self):
        if self._segmenter is None:
            from gaitpipe.segment import create_segmenter

            options = dict(self.segmenter_options)
            if self._device is not None:
                options.setdefault("device", self._device)
            self._segmenter = create_segmenter(self._segmenter_spec, **options)
        return self._segmenter

    def _load_encoder(self) -> None:
        if self._encoder is None:
            from gaitpipe.models.checkpoint import load_encoder

            self._encoder, self._meta = load_encoder(self.weights, self.device)

    @property
    def encoder(self):
        self._load_encoder()
        return self._encoder

    @property
    def meta(self) -> dict[str, Any]:
        self._load_encoder()
        return dict(self._meta or {})

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    @property
    def threshold(self) -> float:
        """Open-set threshold calibrated with the weights, else :data:`gallery.DEFAULT_THRESHOLD`."""
        from gaitpipe.gallery import DEFAULT_THRESHOLD

        t = (self.meta.get("open_set") or {}).get("threshold")
        return float(t) if t is not None else DEFAULT_THRESHOLD

    # -- stages -------------------------------------------------------------------------------
    def extract(self, video: str | Path):
        """Tracks -> normalised silhouettes (``extract.VideoSilhouettes``)."""
        from gaitpipe.extract import extract_video

        keep_rgb = getattr(self.encoder, "input_kind", "silhouette") == "rgb"
        return extract_video(video, self.segmenter, stride=self.stride, max_frames=self.max_frames,
                             keep_rgb=keep_rgb, min_frames=MIN_TRACK_FRAMES, require_person=False,
                             progress=self.progress)

    def embed_sequences(self, sequences: list["SilhouetteSequence"]) -> list[WalkerEmbedding]:
        """Embed tracks, batching all (track, window) clips by length on the pipeline's device."""
        import torch

        from gaitpipe.gallery import flatten_parts
        from gaitpipe.silhouette.normalize import to_model_input

        encoder = self.encoder
        rgb = getattr(encoder, "input_kind", "silhouette") == "rgb"
        clips: list[tuple[int, np.ndarray]] = []  # (sequence index, [t, ...] float32 model input)
        for si, seq in enumerate(sequences):
            if len(seq) == 0:
                continue
            if rgb:
                if seq.rgb is None:
                    raise InputError("this encoder needs colour crops but the silhouettes carry none")
                x = to_model_input(np.moveaxis(seq.rgb, -1, 1))  # [T, 3, 64, 44]
            else:
                x = to_model_input(seq.frames)  # [T, 64, 44]
            for a, b in split_windows(len(x), self.window):
                clips.append((si, np.ascontiguousarray(x[a:b], np.float32)))
        sums: dict[int, np.ndarray] = {}
        counts: dict[int, int] = {}
        budget = self.batch_frames or (8192 if self.device.startswith("cuda") else 1024)
        order = sorted(range(len(clips)), key=lambda i: len(clips[i][1]))
        batches, cur, cur_frames = [], [], 0
        for i in order:  # equal/similar lengths together: little padding, few length groups
            t = len(clips[i][1])
            if cur and (cur_frames + t > budget):
                batches.append(cur)
                cur, cur_frames = [], 0
            cur.append(i)
            cur_frames += t
        if cur:
            batches.append(cur)
        bar = _progress(self.progress, len(batches), "embedding")
        for batch in batches:
            t_max = max(len(clips[i][1]) for i in batch)
            shape = clips[batch[0]][1].shape[1:]
            x = np.zeros((len(batch), t_max, *shape), np.float32)
            for row, i in enumerate(batch):
                x[row, : len(clips[i][1])] = clips[i][1]
            lengths = torch.tensor([len(clips[i][1]) for i in batch])
            out = encoder.embed(torch.from_numpy(x).to(self.device), lengths).cpu().numpy()
            for row, i in enumerate(batch):
                si = clips[i][0]
                sums[si] = sums.get(si, 0) + out[row]
                counts[si] = counts.get(si, 0) + 1
            bar.update(1)
        bar.close()
        walkers = []
        for si, seq in enumerate(sequences):
            if si not in sums:
                continue
            emb = (sums[si] / counts[si]).astype(np.float32)
            fi = np.asarray(seq.frame_indices, np.int64)
            walkers.append(WalkerEmbedding(
                track_id=int(seq.track_id), frame_start=int(fi.min()), frame_end=int(fi.max()), frames=len(seq),
                quality=sequence_quality(len(seq), seq.dropped), embedding=emb, vector=flatten_parts(emb)[0],
                windows=counts[si], frame_indices=fi, boxes=np.asarray(seq.boxes, np.float32), dropped=dict(seq.dropped)))
        return walkers

    def analyse(self, video: str | Path) -> VideoEmbeddings:
        """Tracks, silhouettes and embeddings of every usable walker in ``video``."""
        self._load_encoder()  # weights problems surface before minutes of segmentation
        sil = self.extract(video)
        walkers = self.embed_sequences(list(sil.sequences))
        return VideoEmbeddings(str(video), sil.info, walkers, dict(getattr(sil, "manifest", {}) or {}),
                               sorted((len(s) for s in getattr(sil, "rejected", []) or []), reverse=True))

    def embed_video(self, video: str | Path) -> list[WalkerEmbedding]:
        """One :class:`WalkerEmbedding` per usable track of ``video``, longest first."""
        analysed = self.analyse(video)
        if not analysed.walkers:
            _raise_no_walker(video, analysed, MIN_TRACK_FRAMES)
        return sorted(analysed.walkers, key=lambda w: (-w.frames, w.track_id))

    # -- enrol / identify ---------------------------------------------------------------------
    @_names_the_gallery_encoder
    def enroll(self, video: str | Path, identity: str, *, gallery: "str | Path | Gallery | None" = None,
               track: int | None = None, force: bool = False, min_frames: int = MIN_ENROL_FRAMES) -> EnrolResult:
        """Enrol the main walker of ``video`` (longest usable track, or ``track``) as ``identity``.

        Refused (:class:`NoPersonError` / :class:`InputError`) when there is no usable walker or it
        has fewer than ``min_frames`` silhouettes; duplicates follow :meth:`Gallery.enroll`.
        """
        from gaitpipe.gallery import Gallery, resolve_gallery_path
        from gaitpipe.gallery.store import DB_NAME

        video = _check_video(video)
        g = gallery if isinstance(gallery, Gallery) else None
        if g is not None:
            g.check_encoder(self.fingerprint)
        elif (resolve_gallery_path(gallery) / DB_NAME).is_file():
            # fail on a gallery of another encoder before spending time on the video
            g = Gallery.open(gallery, encoder=self.fingerprint)
        try:
            walkers = self.embed_video(video)
            if track is None:
                chosen = max(walkers, key=lambda w: (w.frames, w.quality))
            else:
                found = [w for w in walkers if w.track_id == int(track)]
                if not found:
                    raise InputError(f"no usable track {track} in {video}; usable tracks: "
                                     + ", ".join(f"{w.track_id} ({w.frames} frames)" for w in walkers))
                chosen = found[0]
            if chosen.frames < min_frames:
                raise InputError(f"walker (track {chosen.track_id}) in {video} has only {chosen.frames} usable "
                                 f"silhouettes; at least {min_frames} are needed to enrol (about one gait cycle)")
            if g is None:  # created only now, so a refused video leaves no empty gallery behind
                g = Gallery.open(gallery, create=True, encoder=self.fingerprint)
            enrolment = g.enroll(
                identity, chosen.embedding, encoder=self.fingerprint, video=str(Path(video).resolve()),
                video_sha256=file_sha256(video), track=chosen.track_id, frame_start=chosen.frame_start,
                frame_end=chosen.frame_end, frames=chosen.frames, quality=chosen.quality,
                extra={"windows": chosen.windows, "dropped": chosen.dropped, "weights": self.meta.get("path")}, force=force)
            return EnrolResult(enrolment, chosen, str(g.path), [w.track_id for w in walkers if w is not chosen])
        finally:
            if g is not None and not isinstance(gallery, Gallery):
                g.close()

    @_names_the_gallery_encoder
    def identify(self, clip: str | Path, *, gallery: "str | Path | Gallery | None" = None, top_k: int = 5,
                 threshold: float | None = None, render: str | Path | None = None,
                 min_frames: int = MIN_IDENTIFY_FRAMES) -> IdentifyResult:
        """Rank gallery identities for every walker of ``clip``; ``unknown`` below ``threshold``.

        ``threshold`` None: the weights' calibrated ``open_set.threshold`` (or the documented
        default). ``render``: also write the clip with boxes, track ids and names (mp4v).
        """
        from gaitpipe.gallery import Gallery

        clip = _check_video(clip)
        g = gallery if isinstance(gallery, Gallery) else Gallery.open(gallery, encoder=self.fingerprint)
        try:
            g.check_encoder(self.fingerprint)
            if len(g) == 0:
                raise GalleryError(f"gallery {g.path} is empty; enrol someone first with gaitpipe enroll")
            thr = self.threshold if threshold is None else float(threshold)
            analysed = self.analyse(clip)
            walkers = sorted(analysed.walkers, key=lambda w: (w.frame_start, w.track_id))
            usable = [w for w in walkers if w.frames >= min_frames]
            if not usable:
                analysed.rejected_frames = sorted([w.frames for w in walkers] + analysed.rejected_frames, reverse=True)
                _raise_no_walker(clip, analysed, min_frames)
            results = g.identify(np.stack([w.embedding for w in usable]), top_k=top_k, threshold=thr)
            out = IdentifyResult(str(clip), thr, [WalkerIdentification(w, r) for w, r in zip(usable, results)],
                                 [w for w in walkers if w.frames < min_frames])
        finally:
            if not isinstance(gallery, Gallery):
                g.close()
        if render is not None:
            out.rendered = str(render_identities(clip, out, render))
        return out


def _raise_no_walker(video: str | Path, analysed: VideoEmbeddings, min_frames: int) -> None:
    """No usable walker: 'too short' when someone was tracked but too briefly, else 'no person'."""
    if analysed.rejected_frames:
        raise InputError(f"the walker in {video} gave only {analysed.rejected_frames[0]} usable silhouettes; "
                         f"at least {min_frames} are needed (the clip is too short or the person mostly out of view)")
    raise NoPersonError(f"no person found walking in {video}")


def _check_video(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"video not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory; give one video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)")
    return p


def render_identities(clip: str | Path, result: IdentifyResult, out: str | Path) -> Path:
    """Write ``clip`` with each identified walker's box, track id and decision drawn (mp4v)."""
    import cv2

    from gaitpipe.io.video import open_video

    out = Path(out).expanduser()
    if out.suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise InputError(f"--render writes an mp4 (mp4v codec): give a .mp4 file, not {out.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    # per frame: (box, label, colour); frames between two silhouettes of a track keep the last box
    boxes: dict[int, list[tuple[np.ndarray, str, tuple[int, int, int]]]] = {}
    everyone = [(w.walker, w.result.decision, w.result.matches[0].score if w.result.matches else None) for w in result.walkers]
    everyone += [(w, "too short", None) for w in result.skipped]
    for walker, decision, score in everyone:
        label = f"#{walker.track_id} {decision}" + (f" {score:.2f}" if score is not None else "")
        colour = (0, 200, 0) if decision not in ("unknown", "too short") else (0, 165, 255)
        fi, bx = walker.frame_indices, walker.boxes
        if len(fi) == 0:
            continue
        j = 0
        for f in range(int(fi[0]), int(fi[-1]) + 1):
            while j + 1 < len(fi) and fi[j + 1] <= f:
                j += 1
            boxes.setdefault(f, []).append((bx[j], label, colour))
    writer = None
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    try:
        with open_video(clip) as src:
            fps = src.info.fps or 25.0
            for frame in src:
                img = frame.image.copy()
                if writer is None:
                    h, w = img.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
                    if not writer.isOpened():
                        raise InputError(f"cannot write video {out} (OpenCV has no mp4v encoder here)")
                for box, label, colour in boxes.get(frame.index, []):
                    x1, y1, x2, y2 = [int(round(v)) for v in box]
                    cv2.rectangle(img, (x1, y1), (x2, y2), colour, 2)
                    cv2.putText(img, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
                writer.write(img)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{clip} has no frames to render")
    tmp.replace(out)
    return out


def _progress(enabled: bool, total: int, desc: str):
    if enabled:
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit="batch", leave=False)

    class _Null:
        def update(self, n: int = 1) -> None:
            pass

        def close(self) -> None:
            pass

    return _Null()


__all__ = ["EnrolResult", "IdentifyResult", "Pipeline", "VideoEmbeddings", "WalkerEmbedding", "WalkerIdentification",
           "file_sha256", "render_identities"]
