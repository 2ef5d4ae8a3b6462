"""Gait datasets: OpenGait folder trees and bit-packed packs, splits, P x K sampling, frame sampling."""

from gaitpipe.data.dataset import GaitDataset, Sample, sample_frames, to_input
from gaitpipe.data.packed import PackedSource, read_pack_sequences, write_pack
from gaitpipe.data.pickles import load_pkl_array, loads_array
from gaitpipe.data.sampler import PKSampler
from gaitpipe.data.sequence import SequenceInfo, SequenceSource
from gaitpipe.data.sources import LayoutSource, input_kind_for, open_source
from gaitpipe.data.splits import Split, compact_ids, load_split, parse_id_range

__all__ = [
    "GaitDataset",
    "LayoutSource",
    "PKSampler",
    "PackedSource",
    "Sample",
    "SequenceInfo",
    "SequenceSource",
    "Split",
    "compact_ids",
    "input_kind_for",
    "load_pkl_array",
    "load_split",
    "loads_array",
    "open_source",
    "parse_id_range",
    "read_pack_sequences",
    "sample_frames",
    "to_input",
    "write_pack",
]
