"""Procedural synthetic video re-id benchmark carrying the paper's two problems.

People with a body structure, clothes and accessories walk (swinging arms and legs) past
cameras that each have their own scene, color cast, blur and noise; some tracklets are partly
occluded for a run of frames (Figure 1a of the paper), and confuser groups dress identically
and differ only in body structure (Figure 1b vs 1d). The benchmark is written in the
DukeMTMC-VideoReID layout and read back by its loader. Presets: ``default`` and ``hard``.
"""

from stgcn_reid.data.synthetic.config import (
    PARAMETER_NAMES,
    PRESETS,
    SyntheticConfig,
    SyntheticConfigError,
    make_config,
)
from stgcn_reid.data.synthetic.load import load_synthetic
from stgcn_reid.data.synthetic.writer import dataset_dir, generate

__all__ = [
    "PARAMETER_NAMES",
    "PRESETS",
    "SyntheticConfig",
    "SyntheticConfigError",
    "dataset_dir",
    "generate",
    "load_synthetic",
    "make_config",
]
