"""The errors a user can act on, at the bottom layer so that every layer may raise and catch them.

``data`` raises :class:`DatasetError`, the checkpoint modules :class:`CheckpointError`; the
checkpoint callback, the key=value command-line runner and the entry points catch both. The
frozen and last-stage studies raise and catch :class:`StudyRecordsError`.
"""

from __future__ import annotations


class DatasetError(RuntimeError):
    """A dataset on disk is missing, incomplete or not in the expected layout."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, damaged, cannot be written, or does not fit the
    model."""


class StudyRecordsError(RuntimeError):
    """A study's records folder holds runs made by another setup or on other features, which
    would not pair with the runs asked for."""
