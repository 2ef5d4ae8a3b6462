"""Weights that live elsewhere: the model zoo's entries, and the rules for downloading.

:data:`REMOTE_WEIGHTS` is the model zoo: name -> :class:`RemoteWeights`, the official OpenGait
checkpoints of GaitBase and DeepGaitV2 on the Hugging Face Hub (repository ``opengait/OpenGait``)
and the HSTL authors' CASIA-B release. :func:`gaitpipe.hub.fetch_weights` (``gaitpipe weights
fetch NAME``) downloads an entry into the Hugging Face cache, converts it and keeps the gaitpipe
weights file in the user cache (:func:`gaitpipe.hub.zoo_dir`), where name lookup
(:func:`gaitpipe.hub.resolve_weights`) finds it like any installed weights.

Paths on the Hub follow OpenGait's save path, ``<dataset_name>/<model>/<save_name>/checkpoints/
<save_name>-<total_iter>.pt`` of the config each was trained from; every published path, size and
sha256 below was read from the Hub's commit pages (the LFS pointers of commits 1cb8896 "update
gaitbase", 3dee011, 81b0feb and 79d8047 "Upload ... files"), and the sizes agree with each preset's
parameter count (float32 weights, plus SGD momentum where the snapshot keeps it). Downloads pin the
Hub commit :data:`OPENGAIT_HUB_COMMIT`, at which all of them exist.

Offline rule: ``$GAITPIPE_OFFLINE`` (set to anything but ``0``) forbids every network access made
by gaitpipe, whatever the endpoint; a zoo file already in the Hugging Face cache is still converted.
Tests of the download path unset it themselves and point ``$HF_ENDPOINT`` at a loopback server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gaitpipe.errors import NotFetchedError, WeightsError


@dataclass(frozen=True)
class RemoteWeights:
    """One model-zoo entry: where an official checkpoint lives and what it is."""

    name: str  #: the name it is fetched and looked up under
    arch: str  #: checkpoint format, i.e. the converter used (``gaitbase``, ``deepgaitv2``, ``hstl``)
    preset: str  #: the gaitpipe preset it converts into
    repo: str | None  #: Hugging Face Hub repository id; None: not on the Hub (see ``url``)
    filename: str | None  #: the file inside ``repo``
    trained_on: str  #: training data (dataset, split, iterations)
    #: published rank-1 (%) of this model, per test condition or dataset; empty when none is published
    rank1: tuple[tuple[str, float], ...]
    rank1_source: str  #: where ``rank1`` is published (or why there is none)
    licence: str  #: terms the weights come under
    revision: str = "main"  #: Hub revision (a commit pins the file)
    sha256: str | None = None  #: expected hash of the downloaded file (a download that differs is refused)
    size: int | None = None  #: expected size in bytes
    config: str | None = None  #: the upstream training config
    url: str | None = None  #: the page to download it by hand (entries that are not on the Hub)
    #: False: ``filename`` is where the config's save path would put it, but upstream had no such
    #: file when this list was written (fetching it then says so)
    published: bool = True
    notes: str = ""

    @property
    def downloadable(self) -> bool:
        return self.repo is not None and self.filename is not None

    @property
    def rank1_text(self) -> str:
        """``NM 97.6 / BG 94.0 / CL 77.4``, ``Gait3D 74.4``, or ``-``."""
        return " / ".join(f"{k} {v:.1f}" for k, v in self.rank1) or "-"

    @property
    def source_url(self) -> str | None:
        """A web page for the file: its page on the Hub, or ``url``."""
        if self.downloadable:
            return f"https://huggingface.co/{self.repo}/blob/{self.revision}/{self.filename}"
        return self.url


#: The Hub repository of OpenGait's released checkpoints.
OPENGAIT_HUB_REPO = "opengait/OpenGait"
#: The Hub commit the published zoo files are downloaded at (79d8047, "Upload 3 files").
OPENGAIT_HUB_COMMIT = "79d80476a9485f3049961659977de551de111f5d"


def _opengait_licence(dataset: str) -> str:
    return (
        f"OpenGait's released checkpoints are for academic use only, no commercial use (OpenGait README); "
        f"trained on {dataset}, whose research-use terms also apply"
    )


_ZOO_SOURCE = "OpenGait model zoo (docs/1.model_zoo.md)"


def _opengait(
    name: str,
    arch: str,
    dataset: str,
    filename: str,
    config: str,
    trained_on: str,
    rank1: tuple[tuple[str, float], ...],
    sha256: str | None,
    size: int | None,
    *,
    rank1_source: str = _ZOO_SOURCE,
    published: bool = True,
    notes: str = "",
) -> RemoteWeights:
    return RemoteWeights(
        name=name,
        arch=arch,
        preset=f"{arch}-{name.rsplit('-', 1)[1]}",
        repo=OPENGAIT_HUB_REPO,
        filename=filename,
        trained_on=trained_on,
        rank1=rank1,
        rank1_source=rank1_source,
        licence=_opengait_licence(dataset),
        revision=OPENGAIT_HUB_COMMIT if published else "main",
        sha256=sha256,
        size=size,
        config=config,
        published=published,
        notes=notes,
    )


_P3D_NOTE = (
    "this checkpoint is the published P3D config (its size is the P3D preset's parameters x 8 bytes); "
    "the model zoo's {figure} is DeepGaitV2-3D's"
)

_ENTRIES = [
    _opengait(
        "opengait-gaitbase-casiab",
        "gaitbase",
        "CASIA-B",
        "CASIA-B/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-60000.pt",
        "configs/gaitbase/gaitbase_da_casiab.yaml",
        "CASIA-B subjects 001-074 (all conditions), 60k iterations",
        (("NM", 97.6), ("BG", 94.0), ("CL", 77.4)),
        "ff16d73d76780a1775cb4c8441ed262a9bf8836b14fad5dcec024f839c234d77",
        58540051,
        rank1_source=f"{_ZOO_SOURCE}; CASIA-B test subjects 075-124, identical views excluded",
    ),
    _opengait(
        "opengait-gaitbase-oumvlp",
        "gaitbase",
        "OU-MVLP",
        "OUMVLP/Baseline/GaitBase/checkpoints/GaitBase-120000.pt",
        "configs/gaitbase/gaitbase_oumvlp.yaml",
        "OU-MVLP training subjects (5,153), 120k iterations (no DA config is published for OU-MVLP)",
        (("OU-MVLP", 90.8),),
        "f8844610c4adddd1ec5fc7b48695c8c191587c10611c1987ddf031c9454353bf",
        112522069,
    ),
    _opengait(
        "opengait-gaitbase-grew",
        "gaitbase",
        "GREW",
        "GREW/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-180000.pt",
        "configs/gaitbase/gaitbase_da_grew.yaml",
        "GREW training set (20,000 subjects, outdoor), 180k iterations",
        (("GREW", 60.1),),
        "09e070ce43e3acb40b7bf84d8d29051d02d0c0c127bbb45f1df0df1067ca3779",
        355775432,
    ),
    _opengait(
        "opengait-gaitbase-gait3d",
        "gaitbase",
        "Gait3D",
        "Gait3D/Baseline/GaitBase_DA/checkpoints/GaitBase_DA-60000.pt",
        "configs/gaitbase/gaitbase_da_gait3d.yaml",
        "Gait3D training set (3,000 subjects, in the wild), 60k iterations",
        (("Gait3D", 64.6),),
        "975a60098b7fe9414a8fc7e625f83a6ac189a89ea38322f1338cd2744fb1fc96",
        154419027,
    ),
    _opengait(
        "opengait-deepgaitv2-casiab",
        "deepgaitv2",
        "CASIA-B",
        "CASIA-B/DeepGaitV2/DeepGaitV2/checkpoints/DeepGaitV2-60000.pt",
        "configs/deepgaitv2/DeepGaitV2_casiab.yaml",
        "CASIA-B subjects 001-074, 60k iterations (config)",
        (),
        None,
        None,
        rank1_source="none published for DeepGaitV2 on CASIA-B",
        published=False,
        notes="OpenGait has published no DeepGaitV2 CASIA-B checkpoint (its Hub repository's CASIA-B folder holds "
        "GaitBase only); the path is the one its config's save path gives",
    ),
    _opengait(
        "opengait-deepgaitv2-oumvlp",
        "deepgaitv2",
        "OU-MVLP",
        "OUMVLP/DeepGaitV2/DeepGaitV2/checkpoints/DeepGaitV2-120000.pt",
        "configs/deepgaitv2/DeepGaitV2_oumvlp.yaml",
        "OU-MVLP training subjects (5,153), 120k iterations",
        (),
        "40e6860c43840f61f85cfa2e59d18eb47031ce647ccb88f3e4ba7c86a1968b63",
        233255517,
        rank1_source="none published for the P3D config",
        notes=_P3D_NOTE.format(figure="OU-MVLP 92.0"),
    ),
    _opengait(
        "opengait-deepgaitv2-grew",
        "deepgaitv2",
        "GREW",
        "GREW/DeepGaitV2/DeepGaitV2/checkpoints/DeepGaitV2-180000.pt",
        "configs/deepgaitv2/DeepGaitV2_grew.yaml",
        "GREW training set (20,000 subjects, outdoor), 180k iterations",
        (),
        "a83ef619517651bd82a4a210c50f5ad97c90a24bc7580588fa3bef19bd2033d3",
        761187161,
        rank1_source="none published for the P3D config",
        notes=_P3D_NOTE.format(figure="GREW 79.4"),
    ),
    _opengait(
        "opengait-deepgaitv2-gait3d",
        "deepgaitv2",
        "Gait3D",
        "Gait3D/DeepGaitV2/DeepGaitV2/checkpoints/DeepGaitV2-60000.pt",
        "configs/deepgaitv2/DeepGaitV2_gait3d.yaml",
        "Gait3D training set (3,000 subjects, in the wild), 60k iterations",
        (("Gait3D", 74.4),),
        "ca816eab7a937cbd8f0f9c259444a8192f5438408c4b90d3896e11749e47a383",
        204131161,
    ),
    RemoteWeights(
        name="hstl-authors-casiab",
        arch="hstl",
        preset="hstl-casiab",
        repo=None,
        filename=None,
        trained_on="CASIA-B subjects 001-074",
        rank1=(("NM", 98.1), ("BG", 95.9), ("CL", 88.9)),
        rank1_source="HSTL paper (Wang et al., ICCV 2023), CASIA-B test subjects 075-124",
        licence="no licence stated by the authors (github.com/gudaochangsheng/HSTL); trained on CASIA-B "
        "(CASIA's research-use terms)",
        url="https://drive.google.com/file/d/1keZBtWr9O8gfeqBB9qHNbZ-96Eh6LggB/view?usp=sharing",
        notes="the authors share it on Google Drive (linked from their README), which gaitpipe does not download "
        "from: download it by hand and import the checkpoint with --arch hstl",
    ),
]

#: The model zoo: name -> entry.
REMOTE_WEIGHTS: dict[str, RemoteWeights] = {e.name: e for e in _ENTRIES}


def zoo_entry(name: str) -> RemoteWeights:
    """The zoo entry called ``name`` (a trailing ``.pt`` is ignored); an unknown name lists the known ones."""
    stem = name[:-3] if name.endswith(".pt") else name
    entry = REMOTE_WEIGHTS.get(stem)
    if entry is None:
        raise WeightsError(f"no model-zoo entry {name!r}; known: {', '.join(REMOTE_WEIGHTS)}")
    return entry


#: Set (to anything but ``0``) to forbid downloads: offline machines, test suites.
OFFLINE_ENV = "GAITPIPE_OFFLINE"


class DownloadError(OSError):
    """A download could not be made (offline, refused, or the file is missing upstream)."""


def downloads_allowed() -> bool:
    return os.environ.get(OFFLINE_ENV, "0") in ("", "0")


def download_ultralytics_asset(name: str, folder: Path) -> str:
    """Ultralytics' own asset download of ``name`` into ``folder`` (with its progress bar).

    The target is a full path, so ultralytics never substitutes a same-named file from the
    working directory. Raises :class:`DownloadError` when downloads are off or fail.
    """
    if not downloads_allowed():
        raise DownloadError(f"downloads are off (${OFFLINE_ENV} is set)")
    from ultralytics.utils.downloads import attempt_download_asset

    folder.mkdir(parents=True, exist_ok=True)
    return str(attempt_download_asset(folder / name))


__all__ = [
    "OFFLINE_ENV",
    "OPENGAIT_HUB_COMMIT",
    "OPENGAIT_HUB_REPO",
    "REMOTE_WEIGHTS",
    "DownloadError",
    "NotFetchedError",
    "RemoteWeights",
    "download_ultralytics_asset",
    "downloads_allowed",
    "zoo_entry",
]
