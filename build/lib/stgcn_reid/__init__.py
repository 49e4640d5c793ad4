"""STGCN for video-based person re-identification (Yang et al., CVPR 2020).

Data flows ``data`` -> ``models`` -> ``lit_module`` -> ``train`` / ``eval``;
``evaluation`` holds the ranking metrics, ``inference`` the trained-model API.
"""

__version__ = "0.1.0"
