"""Lightning callbacks of the training entry point."""

from stgcn_reid.callbacks.nonfinite import NonFiniteLossError, NonFiniteLossGuard

__all__ = ["NonFiniteLossError", "NonFiniteLossGuard"]
