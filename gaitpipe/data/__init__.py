"""Gait datasets: OpenGait folder trees and bit-packed packs, splits, P x K sampling, frame sampling."""
from gaitpipe.data.dataset import GaitDataset, Sample, sample_frames, sampling_for, to_input
from gaitpipe.data.pickles import load_pkl_array, loads_array
from gaitpipe.data.sampler import PKSampler
from gaitpipe.data.sources import LayoutSource, SequenceInfo, open_source
from gaitpipe.data.splits import Split, compact_ids, load_split, parse_id_range

__all__ = [
    "GaitDataset", "LayoutSource", "PKSampler", "Sample", "SequenceInfo", "Split", "compact_ids",
    "load_pkl_array", "load_split", "loads_array", "open_source", "parse_id_range", "sample_frames",
    "sampling_for", "to_input",
]
