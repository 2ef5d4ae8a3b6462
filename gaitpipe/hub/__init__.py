"""The weights hub: where weights live, names -> files, what a weights file is, the default.

* :mod:`~gaitpipe.hub.locations`: the folders searched (``$GAITPIPE_WEIGHTS_DIR``, the user's
  weights folder, the weights shipped in the package) and where new weights are written;
* :mod:`~gaitpipe.hub.encoders`: gait encoder weights by name, the default, ``load_encoder``;
* :mod:`~gaitpipe.hub.segmenter`: the YOLO segmenter's weights by name;
* :mod:`~gaitpipe.hub.info`: :class:`WeightsInfo`, the typed header of a weights file;
* :mod:`~gaitpipe.hub.index`: a folder's ``MANIFEST.json`` (the default, and a summary derived
  from the files);
* :mod:`~gaitpipe.hub.remote`: the model zoo's entries (official checkpoints) and the download rules;
* :mod:`~gaitpipe.hub.zoo`: fetching a zoo entry, converting it, keeping it in the user cache.

The weights file format itself (save, load, fingerprint) is :mod:`gaitpipe.models.checkpoint`.
"""

from gaitpipe.hub.encoders import (
    RENAMED,
    default_weights,
    describe_installed,
    find_weights,
    installed_weights,
    load_encoder,
    resolve_weights,
    weights_info,
)
from gaitpipe.hub.index import INDEX_NAME, read_index, refresh_index_of, stale_entries, write_index
from gaitpipe.hub.info import CASIAB_LICENCE, WeightsInfo
from gaitpipe.hub.locations import (
    CACHE_ENV,
    WEIGHT_SUFFIXES,
    WEIGHTS_DIR_ENV,
    install_dir,
    packaged_weights_dir,
    user_cache_dir,
    user_weights_dir,
    weights_dirs,
    zoo_dir,
)
from gaitpipe.hub.remote import REMOTE_WEIGHTS, DownloadError, NotFetchedError, RemoteWeights, zoo_entry
from gaitpipe.hub.segmenter import (
    DEFAULT_SEGMENTER_WEIGHTS,
    find_segmenter_weights,
    resolve_segmenter_weights,
    segmenter_search_dirs,
)
from gaitpipe.hub.zoo import FetchResult, describe_zoo, fetch_weights

__all__ = [
    "CACHE_ENV",
    "CASIAB_LICENCE",
    "DEFAULT_SEGMENTER_WEIGHTS",
    "INDEX_NAME",
    "REMOTE_WEIGHTS",
    "RENAMED",
    "WEIGHTS_DIR_ENV",
    "WEIGHT_SUFFIXES",
    "DownloadError",
    "FetchResult",
    "NotFetchedError",
    "RemoteWeights",
    "WeightsInfo",
    "default_weights",
    "describe_installed",
    "describe_zoo",
    "fetch_weights",
    "find_segmenter_weights",
    "find_weights",
    "install_dir",
    "installed_weights",
    "load_encoder",
    "packaged_weights_dir",
    "read_index",
    "refresh_index_of",
    "resolve_segmenter_weights",
    "resolve_weights",
    "segmenter_search_dirs",
    "stale_entries",
    "user_cache_dir",
    "user_weights_dir",
    "weights_dirs",
    "weights_info",
    "write_index",
    "zoo_dir",
    "zoo_entry",
]
