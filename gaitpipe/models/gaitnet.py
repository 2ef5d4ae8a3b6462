"""GaitNet (Zhang et al., CVPR 2019, "Gait Recognition via Disentangled Representation Learning").

GaitNet works on soft-masked RGB crops, not binary silhouettes. A per-frame encoder maps each
frame to an appearance feature ``f_a`` (clothing, carried objects, colour: constant within a
sequence) and a pose feature ``f_g`` (the body configuration of that frame). The split is
learned, not imposed: a decoder must reconstruct frame ``t2`` from the appearance of another
frame ``t1`` and the pose of ``t2`` (cross-reconstruction), so everything frame-specific has
to live in ``f_g``; pose features of the same walker in different clothing must agree (gait
similarity), so clothing cannot live in ``f_g``. A 3-layer LSTM runs over the pose features and
its outputs are averaged over time; the running average after every step is classified
(incremental identity loss), and the final average is the gait feature used for retrieval.

Layout (Zhang et al., CVPR 2019): encoder = 4 x [4x4 conv stride 2 + BN + LeakyReLU, 3x3 conv +
BN + LeakyReLU], widths 64/128/256/512, FC to 256 + 64; decoder mirrors it with transposed
convolutions and ends in a sigmoid; LSTM 3 x 256.

Input: ``[n, T, 3, 64, 44]`` RGB in [0, 1], already multiplied by the person's soft mask (what
``extract-silhouettes --rgb`` writes, cut to 64x44 like the silhouettes). Silhouettes
``[n, T, 64, 44]`` (or ``[n, T, 1, 64, 44]``) are accepted too and replicated to 3 channels:
a silhouette *is* the soft mask applied to a white image, so this is the same input family
with the colour removed. A model trained on RGB loses its appearance cues on such input, and
one trained on silhouettes has never seen colour: ``config.input_kind`` records which of the
two the weights were trained on (the trainer sets it from its data), and the pipeline,
evaluator and ONNX export feed that.

Deviations from the paper: 64x44 input (the paper used 64x32) so that GaitNet shares the
OpenGait crop with every other encoder; the decoder's transposed convolutions use output
padding to get back to the odd widths (44 -> 22 -> 11 -> 5 -> 2 and back).

Padding: the encoder is per frame and the LSTM is causal, so the running average at step
``length - 1`` depends on the valid frames only. ``forward`` therefore runs a padded batch in
one pass (encoding only the valid frames, so batch-norm statistics never see padding) instead
of the base class's grouping by length.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from gaitpipe.models.base import ArchSpec, EncoderOutput, GaitEncoder, InputKind
from gaitpipe.models.registry import register_model


@dataclass
class GaitNetConfig:
    channels: tuple[int, int, int, int] = (64, 128, 256, 512)  #: encoder widths (decoder mirrors)
    appearance_dim: int = 256  #: f_a
    pose_dim: int = 64  #: f_g
    lstm_hidden: int = 256  #: also the retrieval embedding width
    lstm_layers: int = 3
    num_classes: int = 74  #: training identities (incremental identity classifier)
    input_size: tuple[int, int] = (64, 44)
    #: cross-reconstruction pairs (t1 != t2) decoded per sequence in training mode; 0 disables.
    recon_pairs: int = 4
    leaky_slope: float = 0.2
    #: what the weights were trained on, hence what the pipeline must feed them: ``rgb``
    #: (soft-masked colour crops, the paper) or ``silhouette`` (binary masks as 3 equal channels).
    #: The trainer sets ``silhouette`` when its data has no colour (the CASIA-B pack).
    input_kind: InputKind = "rgb"

    def __post_init__(self) -> None:
        channels = tuple(int(c) for c in self.channels)
        if len(channels) != 4:
            raise ValueError(f"GaitNet needs 4 encoder widths, got {channels}")
        self.channels = channels
        size = tuple(int(s) for s in self.input_size)
        if len(size) != 2:
            raise ValueError(f"GaitNet input_size is (height, width), got {size}")
        self.input_size = size
        if self.input_kind not in ("rgb", "silhouette"):
            raise ValueError(f"GaitNet input_kind must be rgb or silhouette, got {self.input_kind!r}")


def _conv_block(cin: int, cout: int, kernel: int, stride: int, slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.LeakyReLU(slope, inplace=True),
    )


def _down(size: tuple[int, int]) -> tuple[int, int]:
    """Output size of a 4x4 conv, stride 2, padding 1."""
    return ((size[0] - 2) // 2 + 1, (size[1] - 2) // 2 + 1)


class FrameEncoder(nn.Module):
    """``[m, 3, H, W] -> [m, appearance_dim + pose_dim]`` (appearance first)."""

    def __init__(self, cfg: GaitNetConfig) -> None:
        super().__init__()
        layers, cin, size = [], 3, cfg.input_size
        self.sizes = [size]
        for c in cfg.channels:
            layers += [_conv_block(cin, c, 4, 2, cfg.leaky_slope), _conv_block(c, c, 3, 1, cfg.leaky_slope)]
            cin, size = c, _down(size)
            self.sizes.append(size)
        if min(size) < 1:
            raise ValueError(f"input size {cfg.input_size} is too small for 4 stride-2 stages")
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(cin * size[0] * size[1], cfg.appearance_dim + cfg.pose_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.convs(x).flatten(1))


class FrameDecoder(nn.Module):
    """``[m, appearance_dim + pose_dim] -> [m, 3, H, W]`` in [0, 1]: the encoder mirrored."""

    def __init__(self, cfg: GaitNetConfig, sizes: list[tuple[int, int]]) -> None:
        super().__init__()
        widths = list(cfg.channels[::-1])  # 512, 256, 128, 64
        outs = [*widths[1:], max(widths[-1] // 2, 3)]  # 256, 128, 64, 32
        self.start = (widths[0], *sizes[-1])
        self.fc = nn.Linear(cfg.appearance_dim + cfg.pose_dim, widths[0] * sizes[-1][0] * sizes[-1][1])
        layers: list[nn.Module] = [nn.LeakyReLU(cfg.leaky_slope, inplace=True)]
        cin = widths[0]
        for i, c in enumerate(outs):
            (hi, wi), (ho, wo) = sizes[-1 - i], sizes[-2 - i]
            # a 4x4/stride-2/pad-1 transposed conv doubles the size; odd sizes need one more row/column
            pad = (ho - 2 * hi, wo - 2 * wi)
            layers += [
                nn.ConvTranspose2d(cin, c, 4, 2, padding=1, output_padding=pad, bias=False),
                nn.BatchNorm2d(c),
                nn.LeakyReLU(cfg.leaky_slope, inplace=True),
            ]
            last = i == len(outs) - 1
            layers += (
                [nn.Conv2d(c, 3, 3, padding=1), nn.Sigmoid()] if last else [_conv_block(c, c, 3, 1, cfg.leaky_slope)]
            )
            cin = c
        self.deconvs = nn.Sequential(*layers)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.fc(code).reshape(code.shape[0], *self.start))


class GaitNet(GaitEncoder):
    """GaitNet: ``[n, T, 3, 64, 44]`` soft-masked RGB (or ``[n, T, 64, 44]`` silhouettes) -> ``[n, 1, 256]``.

    ``extras`` (all with leading dim ``n``): ``appearance`` ``[n,T,256]``, ``pose`` ``[n,T,64]``,
    ``pose_mean`` ``[n,64]`` (over valid frames), ``lstm_average`` ``[n,T,256]`` (running average
    of the LSTM outputs), ``step_logits`` ``[n,T,C]`` (identity logits of every running average),
    ``frame_mask`` ``[n,T]`` bool, ``lengths`` ``[n]``; in training mode also
    ``reconstruction`` / ``reconstruction_target`` ``[n,K,3,64,44]`` with ``recon_source`` /
    ``recon_frame`` ``[n,K]`` (the frames t1 and t2 of ``D(f_a^t1, f_g^t2) ~ I^t2``).
    """

    arch = "gaitnet"
    # An LSTM over time needs frames in order; the authors train with Adam 1e-4 and their own losses.
    spec = ArchSpec(input_kind="rgb", sampling="ordered", optimizer="adam", lr=1e-4, weight_decay=0.0, loss="gaitnet")
    classifier_prefixes = ("classifier.",)  # the decoder is training-only too: see num_parameters

    def __init__(self, config: GaitNetConfig | None = None) -> None:
        config = config or GaitNetConfig()
        super().__init__(config)
        self.encoder = FrameEncoder(config)
        self.decoder = FrameDecoder(config, self.encoder.sizes)
        self.lstm = nn.LSTM(config.pose_dim, config.lstm_hidden, config.lstm_layers, batch_first=True)
        self.classifier = nn.Linear(config.lstm_hidden, config.num_classes)

    @property
    def input_kind(self) -> InputKind:
        """``rgb`` or ``silhouette``: what these weights were trained on (``config.input_kind``)."""
        return self.config.input_kind

    def use_input_kind(self, kind: InputKind) -> None:
        """Record ``kind`` in the config, so the weights say what they were trained on."""
        self.config.input_kind = kind

    @property
    def parts(self) -> int:
        return 1

    @property
    def embed_dim(self) -> int:
        return self.config.lstm_hidden

    def tiny_overrides(self) -> dict:
        """Same structure with narrow layers: for fast contract tests."""
        return {"channels": (8, 16, 16, 16), "appearance_dim": 16, "pose_dim": 8, "lstm_hidden": 16, "num_classes": 5}

    # -- pieces ----------------------------------------------------------------------------
    def to_rgb(self, frames: torch.Tensor) -> torch.Tensor:
        """Accept ``[n,T,3,H,W]``, ``[n,T,1,H,W]`` or ``[n,T,H,W]``; silhouettes become 3 equal channels."""
        if frames.dim() == 4:
            frames = frames.unsqueeze(2)
        h, w = self.config.input_size
        if frames.dim() != 5 or frames.shape[2] not in (1, 3) or tuple(frames.shape[-2:]) != (h, w):
            raise ValueError(
                f"GaitNet takes [n, T, 3, {h}, {w}] RGB or [n, T, {h}, {w}] silhouettes, got {tuple(frames.shape)}"
            )
        return frames.expand(-1, -1, 3, -1, -1) if frames.shape[2] == 1 else frames

    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``[m, 3, H, W]`` -> (appearance ``[m, 256]``, pose ``[m, 64]``)."""
        return self.encoder(frames).split([self.config.appearance_dim, self.config.pose_dim], dim=-1)

    def decode(self, appearance: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        """``D(f_a, f_g)``: ``[m, 256] + [m, 64] -> [m, 3, H, W]`` in [0, 1]."""
        return self.decoder(torch.cat([appearance, pose], dim=-1))

    # -- contract --------------------------------------------------------------------------
    def forward_fixed(self, frames: torch.Tensor) -> EncoderOutput:
        return self._run(frames, None)

    def forward(self, frames: torch.Tensor, lengths: torch.Tensor | None = None) -> EncoderOutput:
        if lengths is not None:
            n, t = frames.shape[:2]
            lengths = torch.as_tensor(lengths, device="cpu").long()
            if lengths.shape != (n,) or int(lengths.min()) < 1 or int(lengths.max()) > t:
                raise ValueError(f"lengths must be {n} values in 1..{t}, got {lengths.tolist()}")
            if bool((lengths == t).all()):
                lengths = None
        return self._run(frames, lengths)

    def _run(self, frames: torch.Tensor, lengths: torch.Tensor | None) -> EncoderOutput:
        x = self.to_rgb(frames)
        n, t = x.shape[:2]
        cfg = self.config
        steps = torch.arange(1, t + 1, device=x.device)
        if lengths is None:
            lengths = torch.full((n,), t, dtype=torch.long)
            mask = torch.ones(n, t, dtype=torch.bool, device=x.device)
            feats = self.encoder(x.reshape(n * t, *x.shape[2:])).reshape(n, t, -1)
        else:
            mask = steps[None, :] <= lengths.to(x.device)[:, None]
            # encode valid frames only (batch-norm statistics never see padding), then scatter back
            valid = self.encoder(x[mask])
            feats = valid.new_zeros(n, t, valid.shape[-1]).masked_scatter(mask[..., None], valid)
        appearance, pose = feats.split([cfg.appearance_dim, cfg.pose_dim], dim=-1)
        lengths_dev = lengths.to(x.device)

        hidden, _ = self.lstm(pose)  # causal: step i depends on frames 0..i only
        running = hidden.cumsum(dim=1) / steps.to(hidden.dtype)[None, :, None]  # incremental average
        final = running[torch.arange(n, device=x.device), lengths_dev - 1]  # [n, H]
        step_logits = self.classifier(running)
        final_logits = step_logits[torch.arange(n, device=x.device), lengths_dev - 1]
        pose_mean = (pose * mask[..., None]).sum(1) / lengths_dev[:, None].to(pose.dtype)

        extras = {
            "appearance": appearance,
            "pose": pose,
            "pose_mean": pose_mean,
            "lstm_average": running,
            "step_logits": step_logits,
            "frame_mask": mask,
            "lengths": lengths_dev,
        }
        if self.training and cfg.recon_pairs > 0:
            extras.update(self._cross_reconstruct(x, appearance, pose, lengths_dev))
        return EncoderOutput(embeddings=final[:, None, :], logits=final_logits[:, None, :], extras=extras)

    def _cross_reconstruct(self, x, appearance, pose, lengths) -> dict[str, torch.Tensor]:
        """Decode ``D(f_a^t1, f_g^t2)`` for K random pairs t1 != t2 per sequence (t1 = t2 if one frame)."""
        n, k = x.shape[0], self.config.recon_pairs
        span = lengths[:, None].float()
        t2 = (torch.rand(n, k, device=x.device) * span).long().clamp_max(lengths[:, None] - 1)
        shift = 1 + (torch.rand(n, k, device=x.device) * (span - 1)).long()  # 1..L-1
        t1 = torch.where(lengths[:, None] > 1, (t2 + shift) % lengths[:, None], t2)
        rows = torch.arange(n, device=x.device)[:, None]
        code = torch.cat([appearance[rows, t1], pose[rows, t2]], dim=-1)  # [n, K, 320]
        recon = self.decoder(code.reshape(n * k, -1)).reshape(n, k, *x.shape[2:])
        return {
            "reconstruction": recon,
            "reconstruction_target": x[rows, t2],
            "recon_source": t1,
            "recon_frame": t2,
        }


@register_model
def gaitnet(**overrides) -> GaitNet:
    """CASIA-B (74 training subjects), soft-masked RGB at 64x44, 256-d gait feature."""
    cfg = GaitNetConfig()
    return GaitNet(replace(cfg, **overrides) if overrides else cfg)
