"""Per-frame encoder work shared by a track's overlapping windows.

A track's windows overlap (30 silhouettes every 8: each frame is in about four windows). Encoders
that see every frame alone and pool frames only by a max over time (``frame_separable``, e.g.
GaitBase) give exactly the same embedding from per-frame features computed once: the backbone runs
on each new silhouette only, and a window is the max of its frames' features followed by the
encoder's head. Other encoders (3D convolutions, LSTMs) embed whole windows instead
(:meth:`Pipeline.embed_sequences`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from gaitpipe.models.base import GaitEncoder
    from gaitpipe.types import SilhouetteSequence

#: Silhouettes per backbone batch.
BATCH = 256


class FrameFeatures:
    """Per-frame backbone features of the silhouettes the tracks hold, each computed once."""

    def __init__(self, encoder: GaitEncoder, device: str) -> None:
        if not encoder.frame_separable:
            raise ValueError(f"{encoder.arch} does not embed frames one at a time")
        self.encoder = encoder
        self.device = device
        self._cache: dict[int, dict[int, torch.Tensor]] = {}  # track -> source frame -> features

    def embed(self, windows: list[SilhouetteSequence]) -> list[np.ndarray]:
        """``[parts, dim]`` embedding of each window, as :meth:`GaitEncoder.embed` gives for its frames."""
        import torch

        from gaitpipe.silhouette.normalize import to_model_input

        missing = [
            (w.track_id, int(f), w.frames[i])
            for w in windows
            for i, f in enumerate(w.frame_indices)
            if int(f) not in self._cache.get(w.track_id, {})
        ]
        out = []
        was_training = self.encoder.training
        self.encoder.eval()
        try:
            with torch.inference_mode():
                for a in range(0, len(missing), BATCH):
                    chunk = missing[a : a + BATCH]
                    x = torch.from_numpy(to_model_input(np.stack([s for _, _, s in chunk]))).to(self.device)
                    for (tid, f, _), feats in zip(chunk, self.encoder.frame_features(x)):
                        self._cache.setdefault(tid, {})[f] = feats
                for w in windows:
                    cached = self._cache[w.track_id]
                    feats = torch.stack([cached[int(f)] for f in w.frame_indices])[None]
                    out.append(self.encoder.embed_frame_features(feats)[0].float().cpu().numpy())
        finally:
            self.encoder.train(was_training)
        return out

    def forget(self, track_id: int, *, before: int | None = None) -> None:
        """Forget the track's features of frames before ``before`` (None: all of them)."""
        cached = self._cache.get(track_id)
        if cached is None:
            return
        for f in [f for f in cached if before is None or f < before]:
            del cached[f]
        if not cached:
            del self._cache[track_id]

    def held(self) -> int:
        """Frames whose features are held, over all tracks."""
        return sum(len(c) for c in self._cache.values())


__all__ = ["FrameFeatures"]
