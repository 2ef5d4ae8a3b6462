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

Result types live in :mod:`gaitpipe.results`, windowing in :mod:`gaitpipe.windows` and drawing
in :mod:`gaitpipe.annotate`; this module only wires the stages together.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np

from gaitpipe.errors import (
    EncoderMismatchError,
    GalleryError,
    InputError,
    NoPersonError,
)
from gaitpipe.quality import judge, measure
from gaitpipe.results import (
    DecisionMargin,
    DecisionThreshold,
    EnrolResult,
    IdentifyResult,
    VideoEmbeddings,
    WalkerEmbedding,
    WalkerIdentification,
    sequence_quality,
)
from gaitpipe.utils.batching import length_batches
from gaitpipe.utils.console import progress as progress_bar
from gaitpipe.utils.files import file_sha256
from gaitpipe.windows import split_windows

if TYPE_CHECKING:  # pragma: no cover
    from gaitpipe.extract import VideoSilhouettes
    from gaitpipe.gallery import Gallery
    from gaitpipe.hub.cohort import Cohort
    from gaitpipe.metrics.asnorm import ScoreNormaliser
    from gaitpipe.models.base import GaitEncoder
    from gaitpipe.segment.base import Segmenter
    from gaitpipe.types import SilhouetteSequence
    from gaitpipe.watch import WatchSession

#: Fewest usable silhouettes to enrol a walker: about one gait cycle at 25 fps. A template from
#: fewer frames misses part of the cycle and matches poorly (:data:`gaitpipe.quality.MIN_FRAMES`).
MIN_ENROL_FRAMES = 20
#: Fewest usable silhouettes for a walker to be compared with the gallery at all; shorter tracks
#: are reported as ``uncertain`` (too short) without matches. A name needs more: the quality
#: checks of :mod:`gaitpipe.quality` (at least :data:`gaitpipe.quality.MIN_FRAMES`).
MIN_IDENTIFY_FRAMES = 10
#: Tracks with fewer surviving frames than this are ignored altogether (OpenGait's own limit).
MIN_TRACK_FRAMES = 5
#: Longest clip embedded in one piece; longer tracks are split into equal windows.
DEFAULT_WINDOW = 300


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _names_the_gallery_encoder(method: _Method) -> _Method:
    """A gallery built with other installed weights: say which, since a new default encoder (or
    weights forgotten) is the usual cause and a bare fingerprint does not tell the user what to pass."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except EncoderMismatchError as exc:
            from gaitpipe.hub import find_weights

            found = find_weights(exc.bound)
            if found is None:
                raise
            raise EncoderMismatchError(
                f"{exc}: it was built with the installed weights {found.stem!r}",
                exc.bound,
                exc.wanted,
                installed_weights=found.stem,
            ) from None

    return wrapper  # type: ignore[return-value]  # same signature as ``method``


class Pipeline:
    """Segmenter + gait encoder on one device.

    ``segmenter``: a name for ``create_segmenter`` (``auto``, ``yolo``, ``bgsub`` ...) or a
    segmenter object. ``weights``: a weights file/name (None: the installed default).
    ``device``: ``cuda``/``cpu``/... (None: CUDA when available). ``rotate``: ``"auto"`` (find
    videos stored sideways or upside down, :mod:`gaitpipe.io.orientation`) or 0/90/180/270 degrees
    clockwise to turn every frame (after any rotation metadata); results say what was used.
    Weights and segmenter load on first use, so a bad video fails fast without loading a model.
    """

    def __init__(
        self,
        segmenter: str | Segmenter = "auto",
        weights: str | Path | None = None,
        device: str | None = None,
        *,
        segmenter_options: dict[str, Any] | None = None,
        stride: int = 1,
        max_frames: int | None = None,
        window: int = DEFAULT_WINDOW,
        batch_frames: int | None = None,
        progress: bool = False,
        rotate: str | int = "auto",
    ) -> None:
        from gaitpipe.io.orientation import check_rotate

        #: the backend name (``auto`` until resolved) or the given object's name
        self._segmenter_name: str = segmenter if isinstance(segmenter, str) else segmenter.name
        self._segmenter: Segmenter | None = None if isinstance(segmenter, str) else segmenter
        self.segmenter_options = dict(segmenter_options or {})
        self.weights = weights
        self._device = device
        self._resolved_device: str | None = None
        self.stride = int(stride)
        self.max_frames = max_frames
        self.window = int(window)
        self.batch_frames = batch_frames
        self.progress = progress
        self.rotate = check_rotate(rotate)  # a bad value fails here, before any video is read
        self._encoder: GaitEncoder | None = None
        self._meta: dict[str, Any] | None = None
        self._cohort: Cohort | None = None

    # -- lazy parts ---------------------------------------------------------------------------
    @property
    def requested_device(self) -> str | None:
        """The device asked for (None: CUDA when available), before it is resolved on this machine."""
        return self._device

    @property
    def device(self) -> str:
        """The resolved torch device (``None``/``auto``: CUDA when available)."""
        if self._resolved_device is None:
            from gaitpipe.utils.device import resolve_device

            self._resolved_device = str(resolve_device(self._device))
        return self._resolved_device

    @property
    def segmenter(self) -> Segmenter:
        if self._segmenter is None:
            from gaitpipe.segment import create_segmenter, select_options

            options = dict(self.segmenter_options)
            if self._device is not None:
                options.setdefault("device", self._device)
            # the device and other shared settings go only to a backend that takes them
            self._segmenter = create_segmenter(self._segmenter_name, **select_options(self._segmenter_name, options))
        return self._segmenter

    def _load_encoder(self) -> GaitEncoder:
        if self._encoder is None:
            from gaitpipe.hub import load_encoder

            model, self._meta = load_encoder(self.weights, self.device)
            self._encoder = cast("GaitEncoder", model)  # every registered architecture is a GaitEncoder
        return self._encoder

    @property
    def encoder(self) -> GaitEncoder:
        return self._load_encoder()

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

    @property
    def margin(self) -> DecisionMargin:
        """How far a named identity must score above the next: the weights' calibrated ``open_set.margin``,
        else :data:`gallery.DEFAULT_MARGIN`."""
        from gaitpipe.gallery import DEFAULT_MARGIN

        m = (self.meta.get("open_set") or {}).get("margin")
        return DecisionMargin(float(m), "calibrated") if m is not None else DecisionMargin(DEFAULT_MARGIN, "default")

    @property
    def threshold_source(self) -> DecisionThreshold:
        """:attr:`threshold` with where it comes from (calibrated on which data, or a default)."""
        from gaitpipe.hub import WeightsInfo

        info = WeightsInfo.from_dict(self.meta)
        if info.threshold is None:
            return DecisionThreshold(self.threshold, "default", trained_on=info.training_domain)
        trained, calibrated = info.training_domain, info.threshold_domain
        own = None if trained is None or calibrated is None else trained == calibrated
        where = (info.open_set or {}).get("calibrated_on") or calibrated
        return DecisionThreshold(info.threshold, "calibrated", str(where) if where else None, trained, own)

    @property
    def score_norm(self) -> bool:
        """Whether :meth:`identify` decides on AS-norm scores by default (:mod:`gaitpipe.metrics.asnorm`).

        Yes when the weights carry a threshold calibrated on normalised scores
        (``open_set.normalised``), and for an official checkpoint (imported or fetched) that
        carries no calibrated threshold at all: a normalised default transfers between models and
        places far better than a raw cosine default. Weights calibrated on raw scores only keep them.
        """
        if self.encoder.input_kind == "rgb":
            return False  # no silhouette cohort for colour encoders
        open_set = self.meta.get("open_set") or {}
        if open_set.get("normalised"):
            return True
        return open_set.get("threshold") is None and bool(self.meta.get("source"))

    @property
    def cohort(self) -> Cohort:
        """The weights' score-normalisation cohort: stored beside them or in the user cache, else
        computed now from synthetic walkers (once per weights file, :func:`gaitpipe.engine.cohort.ensure_cohort`)."""
        if self._cohort is None:
            from gaitpipe.engine.cohort import ensure_cohort

            self._cohort = ensure_cohort(
                self.meta["path"], self.fingerprint, device=self._device, progress=self.progress
            )
        return self._cohort

    def decision_rule(
        self, score_norm: bool | None = None
    ) -> tuple[ScoreNormaliser | None, DecisionThreshold, DecisionMargin]:
        """What :meth:`identify` decides with: the normaliser (None: raw scores), threshold and margin.

        ``score_norm`` None: :attr:`score_norm`. On normalised scores the threshold and margin are
        ``open_set.normalised`` of the weights, else the generic AS-norm defaults
        (:data:`gaitpipe.metrics.asnorm.DEFAULT_NORM_THRESHOLD`, ``DEFAULT_NORM_MARGIN``).
        """
        from gaitpipe.metrics.asnorm import DEFAULT_NORM_MARGIN, DEFAULT_NORM_THRESHOLD

        use = self.score_norm if score_norm is None else bool(score_norm)
        if not use:
            return None, self.threshold_source, self.margin
        if self.encoder.input_kind == "rgb":
            raise InputError("score normalisation needs a silhouette encoder; these weights take RGB")
        from gaitpipe.hub import WeightsInfo

        cal = (self.meta.get("open_set") or {}).get("normalised") or {}
        trained = WeightsInfo.from_dict(self.meta).training_domain
        if cal.get("threshold") is None:
            source = DecisionThreshold(DEFAULT_NORM_THRESHOLD, "default", trained_on=trained, scale="as-norm")
        else:
            domains = list(cal.get("domains") or [])
            own = None if trained is None or not domains else trained in domains
            where = cal.get("calibrated_on")
            source = DecisionThreshold(
                float(cal["threshold"]), "calibrated", str(where) if where else None, trained, own, scale="as-norm"
            )
        m = cal.get("margin")
        margin = (
            DecisionMargin(float(m), "calibrated", "as-norm")
            if m is not None
            else DecisionMargin(DEFAULT_NORM_MARGIN, "default", "as-norm")
        )
        return self.cohort.normaliser(), source, margin

    # -- stages -------------------------------------------------------------------------------
    def extract(self, video: str | Path, *, keep_rgb: bool | None = None) -> VideoSilhouettes:
        """Tracks -> normalised silhouettes (colour crops too when the encoder takes RGB).

        ``keep_rgb``: keep colour crops (None: when the encoder takes RGB). A segmentation-only
        worker of a distributed run passes it so that it never loads an encoder.
        """
        from gaitpipe.extract import extract_video

        return extract_video(
            video,
            self.segmenter,
            stride=self.stride,
            max_frames=self.max_frames,
            keep_rgb=self.encoder.input_kind == "rgb" if keep_rgb is None else keep_rgb,
            min_frames=MIN_TRACK_FRAMES,
            require_person=False,
            progress=self.progress,
            rotate=self.rotate,
        )

    def embed_sequences(
        self, sequences: list[SilhouetteSequence], *, progress: bool | None = None
    ) -> list[WalkerEmbedding]:
        """Embed tracks, batching all (track, window) clips by length on the pipeline's device.

        ``progress``: show a bar (None: the pipeline's setting; a stream embedding a few windows at
        a time passes False)."""
        import torch

        from gaitpipe.gallery import flatten_parts
        from gaitpipe.silhouette.normalize import to_model_input

        encoder = self.encoder
        rgb = encoder.input_kind == "rgb"
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
        # equal/similar lengths together: little padding, few length groups
        batches = length_batches([len(x) for _, x in clips], max_frames=budget)
        show = self.progress if progress is None else progress
        with progress_bar(len(batches), "embedding", unit="batch", enabled=show) as bar:
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
                    sums[si] = sums[si] + out[row] if si in sums else out[row].copy()
                    counts[si] = counts.get(si, 0) + 1
                bar.update(1)
        walkers = []
        for si, seq in enumerate(sequences):
            if si not in sums:
                continue
            emb = (sums[si] / counts[si]).astype(np.float32)
            fi = np.asarray(seq.frame_indices, np.int64)
            checks = judge(measure(fi, seq.dropped, seq.frames))
            walkers.append(
                WalkerEmbedding(
                    track_id=int(seq.track_id),
                    frame_start=int(fi.min()),
                    frame_end=int(fi.max()),
                    frames=len(seq),
                    quality=sequence_quality(len(seq), seq.dropped),
                    embedding=emb,
                    vector=flatten_parts(emb)[0],
                    windows=counts[si],
                    frame_indices=fi,
                    boxes=np.asarray(seq.boxes, np.float32),
                    dropped=dict(seq.dropped),
                    checks=checks,
                )
            )
        return walkers

    def analyse(self, video: str | Path) -> VideoEmbeddings:
        """Tracks, silhouettes and embeddings of every usable walker in ``video``."""
        self._load_encoder()  # weights problems surface before minutes of segmentation
        return self.embed_silhouettes(video, self.extract(video))

    def embed_silhouettes(self, video: str | Path, sil: VideoSilhouettes) -> VideoEmbeddings:
        """:meth:`analyse` for silhouettes extracted elsewhere (e.g. by another process of a batch run)."""
        walkers = self.embed_sequences(list(sil.sequences))
        for w in walkers:
            w.rotation = sil.rotation  # its boxes are in the turned frames
        return VideoEmbeddings(
            str(video),
            sil.info,
            walkers,
            dict(sil.manifest),
            sorted((len(s) for s in sil.rejected), reverse=True),
            sil.rotation,
        )

    def embed_video(self, video: str | Path, *, analysed: VideoEmbeddings | None = None) -> list[WalkerEmbedding]:
        """One :class:`WalkerEmbedding` per usable track of ``video``, longest first.

        ``analysed``: the video's :meth:`analyse` result when it was made elsewhere (None: analyse it here).
        """
        if analysed is None:
            analysed = self.analyse(video)
        if not analysed.walkers:
            _raise_no_walker(video, analysed, MIN_TRACK_FRAMES)
        return sorted(analysed.walkers, key=lambda w: (-w.frames, w.track_id))

    # -- enrol / identify ---------------------------------------------------------------------
    @_names_the_gallery_encoder
    def enroll(
        self,
        video: str | Path,
        identity: str,
        *,
        gallery: str | Path | Gallery | None = None,
        track: int | None = None,
        force: bool = False,
        min_frames: int = MIN_ENROL_FRAMES,
        analysed: VideoEmbeddings | None = None,
    ) -> EnrolResult:
        """Enrol the main walker of ``video`` (longest usable track, or ``track``) as ``identity``.

        Refused (:class:`NoPersonError` / :class:`InputError`) when there is no usable walker, and
        (:class:`InputError` with remedy ``force``) when it fails the quality checks of
        :mod:`gaitpipe.quality` with ``min_frames`` as the shortest track (too short, border-cut,
        fragmented, inconsistent silhouettes) unless ``force``; duplicates follow
        :meth:`Gallery.enroll`. The enrolment's ``extra["checks"]`` records the checks (and
        whether they were overridden). ``analysed``: the video's :meth:`analyse` result when a
        batch run made it in another process (None: analyse the video here).
        """
        from gaitpipe.gallery import Gallery, check_identity, resolve_gallery_path
        from gaitpipe.gallery.gallery import check_location
        from gaitpipe.gallery.store import DB_NAME

        check_identity(identity)  # a bad name fails before minutes of segmentation, not after
        video = _check_video(video)
        g = gallery if isinstance(gallery, Gallery) else None
        where = None if isinstance(gallery, Gallery) else gallery
        if g is not None:
            g.check_encoder(self.fingerprint)
        elif (resolve_gallery_path(where) / DB_NAME).is_file():
            # fail on a gallery of another encoder before spending time on the video
            g = Gallery.open(where, encoder=self.fingerprint)
        else:  # and on a --gallery that is a file or somebody else's folder
            check_location(where)
        try:
            walkers = self.embed_video(video, analysed=analysed)
            if track is None:
                chosen = max(walkers, key=lambda w: (w.frames, w.quality))
            else:
                found = [w for w in walkers if w.track_id == int(track)]
                if not found:
                    raise InputError(
                        f"no usable track {track} in {video}; usable tracks: "
                        + ", ".join(f"{w.track_id} ({w.frames} frames)" for w in walkers)
                    )
                chosen = found[0]
            checks = judge(chosen.checks.stats, min_frames=min_frames) if chosen.checks.stats else chosen.checks
            if not checks.ok and not force:
                short = chosen.frames < min_frames
                raise InputError(
                    f"walker (track {chosen.track_id}) in {video} "
                    + (
                        f"has only {chosen.frames} usable silhouettes; at least {min_frames} are needed to enrol "
                        "(about one gait cycle)"
                        if short and len(checks.reasons) == 1
                        else "is too poorly seen to enrol: " + "; ".join(checks.reasons)
                    )
                    + "; enrolling it anyway with force stores a template that may match poorly",
                    remedy="force",
                )
            if g is None:  # created only now, so a refused video leaves no empty gallery behind
                g = Gallery.open(where, create=True, encoder=self.fingerprint)
            enrolment = g.enroll(
                identity,
                chosen.embedding,
                encoder=self.fingerprint,
                video=str(Path(video).resolve()),
                video_sha256=file_sha256(video),
                track=chosen.track_id,
                frame_start=chosen.frame_start,
                frame_end=chosen.frame_end,
                frames=chosen.frames,
                quality=chosen.quality,
                extra={
                    "checks": checks.to_dict() | {"forced": not checks.ok},
                    "windows": chosen.windows,
                    "dropped": chosen.dropped,
                    "weights": self.meta.get("path"),
                    **({"rotation": chosen.rotation.to_dict()} if chosen.rotation is not None else {}),
                },
                force=force,
            )
            return EnrolResult(
                enrolment,
                chosen,
                str(g.path),
                [w.track_id for w in walkers if w is not chosen],
                chosen.rotation,
            )
        finally:
            if g is not None and not isinstance(gallery, Gallery):
                g.close()

    @_names_the_gallery_encoder
    def identify(
        self,
        clip: str | Path,
        *,
        gallery: str | Path | Gallery | None = None,
        top_k: int = 5,
        threshold: float | None = None,
        margin: float | None = None,
        render: str | Path | None = None,
        min_frames: int = MIN_IDENTIFY_FRAMES,
        score_norm: bool | None = None,
    ) -> IdentifyResult:
        """Rank gallery identities for every walker of ``clip`` and decide who each one is.

        A walker is named only when its track passes the quality checks (:mod:`gaitpipe.quality`;
        else ``uncertain``, with the reasons) and its best identity (max over that identity's
        enrolments) scores at least ``threshold`` and at least ``margin`` above the next
        identity (else ``unknown``, with the candidates). ``threshold``/``margin`` None: the
        weights' calibrated ``open_set`` values (or the documented defaults). Tracks with fewer
        than ``min_frames`` silhouettes are not compared (``skipped``: ``uncertain``, too short).
        ``render``: also write the clip with boxes, track ids and names (mp4v). ``score_norm``:
        decide on AS-norm scores (True), raw cosine (False) or as the weights say (None, see
        :meth:`decision_rule`); a given ``threshold``/``margin`` is on that scale.
        """
        from gaitpipe.gallery import Gallery

        clip = _check_video(clip)
        g = gallery if isinstance(gallery, Gallery) else Gallery.open(gallery, encoder=self.fingerprint)
        try:
            g.check_encoder(self.fingerprint)
            if len(g) == 0:
                raise GalleryError(f"gallery {g.path} is empty; enrol someone first")
            normaliser, source, used_margin = self.decision_rule(score_norm)
            scale = source.scale
            if threshold is not None:
                source = DecisionThreshold(_check_threshold(threshold, scale), "given", scale=scale)
            if margin is not None:
                used_margin = DecisionMargin(_check_margin(margin, scale), "given", scale)
            analysed = self.analyse(clip)
            walkers = sorted(analysed.walkers, key=lambda w: (w.frame_start, w.track_id))
            usable = [w for w in walkers if w.frames >= min_frames]
            if not usable:
                analysed.rejected_frames = sorted([w.frames for w in walkers] + analysed.rejected_frames, reverse=True)
                _raise_no_walker(clip, analysed, min_frames)
            results = g.identify(
                np.stack([w.embedding for w in usable]),
                top_k=top_k,
                threshold=source.value,
                margin=used_margin.value,
                reasons=[w.checks.reasons for w in usable],
                normaliser=normaliser,
            )
            out = IdentifyResult(
                str(clip),
                source.value,
                [WalkerIdentification(w, r) for w, r in zip(usable, results)],
                [w for w in walkers if w.frames < min_frames],
                rotation=analysed.rotation,
                threshold_source=source,
                margin=used_margin,
            )
        finally:
            if not isinstance(gallery, Gallery):
                g.close()
        if render is not None:
            from gaitpipe.annotate import render_identities

            out.rendered = str(render_identities(clip, out, render))
        return out

    @_names_the_gallery_encoder
    def watch(
        self, source: str | Path | int, *, gallery: str | Path | Gallery | None = None, **options: Any
    ) -> WatchSession:
        """Identify everyone walking in ``source`` as it plays; iterate the result for decisions.

        ``source``: a camera index, an ``rtsp://``/``http://`` stream or a file (or image folder).
        Returns a :class:`~gaitpipe.watch.WatchSession` that yields a
        :class:`~gaitpipe.watch.WatchDecision` per track each time one of its sliding windows
        completes (``event="window"``; ``changed`` when the shown decision changed) and when a
        track ends (``event="left"``); its ``stats`` say how processing kept up with the source.
        Settings, gallery and source are checked here, before the first frame.

        ``options`` (defaults in :mod:`gaitpipe.watch`): ``window`` usable silhouettes per
        window (30), ``window_stride`` new silhouettes between windows (8), ``memory`` good windows
        averaged into a track's evidence (4), ``hold`` windows a new decision must persist to
        replace the shown one and ``band`` how far under the threshold a shown name may dip (2,
        0.03: :mod:`gaitpipe.watch.hysteresis`), ``threshold``/``margin``/``score_norm``/``top_k``
        as in :meth:`identify`, ``realtime`` (play a file at its frame rate and drop frames when
        processing falls behind, as a live source always does), ``render`` (an .mp4 of the
        annotated stream), ``lost_after`` (seconds unseen before a track ends, 2),
        ``queue`` (frames that may wait, 25), ``max_frames``, ``frame_cache`` (True: encoders that
        pool frames by a max over time compute each frame once for all its windows,
        :mod:`gaitpipe.watch.features`; the embeddings are the same).
        """
        from gaitpipe.watch import WatchSession

        self._load_encoder()  # weights problems surface before the stream is opened
        return WatchSession(self, source, gallery=gallery, **options)


def _raise_no_walker(video: str | Path, analysed: VideoEmbeddings, min_frames: int) -> None:
    """No usable walker: 'too short' when someone was tracked but too briefly, else 'no person'."""
    if analysed.rejected_frames:
        raise InputError(
            f"the walker in {video} gave only {analysed.rejected_frames[0]} usable silhouettes; "
            f"at least {min_frames} are needed (the clip is too short or the person mostly out of view)"
        )
    raise NoPersonError(f"no person found walking in {video}")


def _check_threshold(threshold: float, scale: str = "raw") -> float:
    """A cosine threshold is in -1..1; an AS-norm one is any finite score (standard deviations)."""
    import math

    from gaitpipe.errors import SettingError

    t = float(threshold)
    if not math.isfinite(t) or (scale == "raw" and not -1.0 <= t <= 1.0):
        what = "a cosine similarity between -1 and 1" if scale == "raw" else "a finite AS-norm score"
        raise SettingError(f"threshold must be {what}, got {threshold}", "threshold")
    return t


def _check_margin(margin: float, scale: str = "raw") -> float:
    """A margin is a difference of two cosine similarities: 0..2 (0 turns the margin rule off); of
    two AS-norm scores (standard deviations of impostor scores): 0..50."""
    import math

    from gaitpipe.errors import SettingError

    top = 2.0 if scale == "raw" else 50.0
    m = float(margin)
    if not (math.isfinite(m) and 0.0 <= m <= top):
        raise SettingError(f"margin must be a score difference between 0 and {top:g}, got {margin}", "margin")
    return m


def _check_video(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError(f"video not found: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory; give one video file")
    if p.stat().st_size == 0:
        raise InputError(f"{p} is empty (0 bytes)")
    return p


__all__ = ["EnrolResult", "IdentifyResult", "Pipeline", "VideoEmbeddings", "WalkerEmbedding", "WalkerIdentification"]
