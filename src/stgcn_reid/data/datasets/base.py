"""Tracklet records and the dataset container shared by every dataset module.

A dataset module only reads metadata (paths, identities, cameras); decoding images and
sampling frames happen in :mod:`stgcn_reid.data.clips`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stgcn_reid.errors import DatasetError

#: The identity of MARS's junk tracklets (detector false alarms, written ``00-1``): never a
#: match, and left out of every query's ranking (as the official evaluation does).
JUNK_PID = -1


@dataclass(frozen=True, slots=True)
class Tracklet:
    """One tracklet: ordered frame paths, identity and camera.

    ``pid`` is the original identity label for query/gallery (``0`` = distractor in MARS) and a
    contiguous training label ``0..num_train_pids-1`` in the training split.
    """

    frames: tuple[str, ...]
    pid: int
    camid: int


def relabel(tracklets: Sequence[Tracklet]) -> list[Tracklet]:
    """Map the identities of ``tracklets`` to contiguous labels ``0..n-1`` (sorted by pid)."""
    mapping = {pid: label for label, pid in enumerate(sorted({t.pid for t in tracklets}))}
    return [Tracklet(t.frames, mapping[t.pid], t.camid) for t in tracklets]


def require_paths(paths: Sequence[Path], what: str) -> None:
    """Raise :class:`DatasetError` naming every missing path of ``paths``."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise DatasetError(f"{what}: missing {', '.join(missing)}")


class VideoReIDDataset:
    """Train / query / gallery tracklet lists (and a validation query / gallery) with split
    statistics.

    The validation split chooses checkpoints; its identities are disjoint from the training and
    test identities (:func:`~stgcn_reid.data.datasets.validation.hold_out_validation` carves
    one out of the training split; the synthetic benchmark generates its own).

    Args:
        name: dataset name shown in the summary.
        train: training tracklets (identities are relabelled to ``0..n-1`` here).
        query: query tracklets (original identities).
        gallery: gallery tracklets (original identities).
        val_query, val_gallery: validation tracklets; both empty when there is none.
        val_source: how the validation split was made (shown in the summary).
    """

    def __init__(
        self,
        name: str,
        train: Sequence[Tracklet],
        query: Sequence[Tracklet],
        gallery: Sequence[Tracklet],
        val_query: Sequence[Tracklet] = (),
        val_gallery: Sequence[Tracklet] = (),
        val_source: str = "",
    ) -> None:
        if bool(val_query) != bool(val_gallery):
            raise ValueError(
                f"{name}: a validation split needs both query and gallery tracklets, got "
                f"{len(val_query)} and {len(val_gallery)}"
            )
        self.name = name
        self.train = relabel(train)
        self.query = list(query)
        self.gallery = list(gallery)
        self.val_query = list(val_query)
        self.val_gallery = list(val_gallery)
        self.val_source = val_source if self.val_query else ""

    @property
    def has_validation(self) -> bool:
        return bool(self.val_query)

    @property
    def num_train_pids(self) -> int:
        return len({t.pid for t in self.train})

    def statistics(self) -> list[tuple[str, int, int, int, int]]:
        """Rows ``(split, ids, tracklets, cameras, frames)`` for train, query and gallery, and
        for the validation query and gallery if there is a validation split."""
        splits = [("train", self.train), ("query", self.query), ("gallery", self.gallery)]
        if self.has_validation:
            splits += [("val query", self.val_query), ("val gallery", self.val_gallery)]
        rows = []
        for split, items in splits:
            rows.append(
                (
                    split,
                    len({t.pid for t in items}),
                    len(items),
                    len({t.camid for t in items}),
                    sum(len(t.frames) for t in items),
                )
            )
        return rows

    def summary(self) -> str:
        """The statistics as a text table, as printed when a dataset is loaded."""
        header = f"{'split':<11} {'ids':>6} {'tracklets':>10} {'cameras':>8} {'frames':>10}"
        lines = [f"=> {self.name}", header, "-" * len(header)]
        lines += [f"{s:<11} {i:>6} {n:>10} {c:>8} {f:>10}" for s, i, n, c, f in self.statistics()]
        lines.append(f"validation: {self.val_source or 'none (the last checkpoint is tested)'}")
        return "\n".join(lines)
