"""The Hydra configs, shipped inside the package as ``stgcn_reid.conf`` (see setup.py)."""
