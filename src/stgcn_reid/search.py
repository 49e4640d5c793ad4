"""Rank a gallery of embedded tracklets for every query tracklet.

Usage::

    python -m stgcn_reid.search query=q.npz gallery=g.npz output_dir=DIR [topk=10]
        [metric=euclidean|cosine] [picture_queries=8] [color_by_identity=false]

Both inputs are feature files (:class:`~stgcn_reid.inference.feature_file.FeatureFile`: of
``stgcn_reid.embed``, or of ``stgcn_reid.eval`` with ``picture_queries=0``) made with the same
checkpoint (checked by its SHA-256: features of two models are not comparable). Writes to
``output_dir``:

- ``ranking.csv``: ``query, rank, gallery, distance``, the ``topk`` nearest gallery tracklets of
  every query, nearest first (rank 1); ties keep the gallery order.
- ``ranked.png``: the first ``picture_queries`` queries, each followed by its top-``topk``
  gallery tracklets, captioned with name and distance. Borders are neutral grey: the tracklets
  carry no identity labels. With ``color_by_identity=true`` and names of the form
  ``<identity>/<tracklet>`` (the layout of a labelled test set), a gallery tracklet is framed
  green when its identity folder equals the query's and red otherwise. The frames are read from
  the tracklet folders that the feature files record.

Distances are :func:`~stgcn_reid.evaluation.compute_distance`: the L2 distance, or ``1 -
cosine similarity``. No re-ranking and no same-camera filtering happen here: without camera and
identity labels every gallery tracklet is a candidate.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import MISSING
from PIL import Image

from stgcn_reid.evaluation import compute_distance
from stgcn_reid.inference import FeatureFile
from stgcn_reid.utils.io import atomic_write
from stgcn_reid.utils.keyvalue_cli import run_cli

# The evaluation's drawing primitives, so that search pictures look exactly like ranked.png.
from stgcn_reid.viz.ranking import (
    BACKGROUND,
    GREEN,
    QUERY_GREY,
    RED,
    RankGridLayout,
    paste_tile,
)

NEUTRAL = (160, 160, 160)
FRAMES_PER_TILE = 4


@dataclass
class SearchConfig:
    """Arguments of ``python -m stgcn_reid.search``."""

    query: str = MISSING
    gallery: str = MISSING
    output_dir: str = MISSING
    topk: int = 10
    metric: str = "euclidean"
    picture_queries: int = 8
    color_by_identity: bool = False


@dataclass(frozen=True)
class Ranking:
    """The ``topk`` nearest gallery items of every query: indices and distances ``[Q, k]``."""

    order: torch.Tensor
    distances: torch.Tensor


def rank_gallery(distmat: torch.Tensor, topk: int) -> Ranking:
    """The ``min(topk, num_gallery)`` nearest gallery columns of each row, nearest first.

    A stable sort, so equal distances keep the gallery order (``torch.topk`` does not promise
    any order among ties).
    """
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    distances, order = torch.sort(distmat, dim=1, stable=True)
    k = min(topk, distmat.shape[1])
    return Ranking(order[:, :k], distances[:, :k])


def check_compatible(query: FeatureFile, gallery: FeatureFile, names: tuple[str, str]) -> None:
    """Raise ``ValueError`` unless both feature files come from the same checkpoint."""
    for features, name in zip((query, gallery), names, strict=True):
        if not features.checkpoint_sha256:
            raise ValueError(
                f"{name} records no checkpoint (features of weights never saved alone), so "
                "nothing shows that the other file comes from the same model; evaluate or "
                "embed with a checkpoint file"
            )
    if query.checkpoint_sha256 != gallery.checkpoint_sha256:
        raise ValueError(
            f"{names[0]} was embedded with {query.checkpoint} and {names[1]} with "
            f"{gallery.checkpoint} (different SHA-256): features of two models cannot be "
            "compared; embed both with the same checkpoint"
        )


def write_ranking_csv(
    path: str | Path, query_names: Sequence[str], gallery_names: Sequence[str], ranking: Ranking
) -> Path:
    """``query, rank, gallery, distance`` rows (rank from 1), written atomically."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["query", "rank", "gallery", "distance"])
    for q, (row, dists) in enumerate(
        zip(ranking.order.tolist(), ranking.distances.tolist(), strict=True)
    ):
        for rank, (g, dist) in enumerate(zip(row, dists, strict=True), start=1):
            writer.writerow([query_names[q], rank, gallery_names[g], f"{dist:.6f}"])
    return atomic_write(path, lambda handle: handle.write(text.getvalue().encode()))


def identity_of(name: str) -> str:
    """The identity folder of a tracklet named ``<identity>/<tracklet>``."""
    parts = name.split("/")
    if len(parts) < 2:
        raise ValueError(
            f"color_by_identity=true needs tracklet names of the form <identity>/<tracklet>, "
            f"got '{name}'; embed the parent folder of the identity folders"
        )
    return parts[-2]


def plot_search(
    query: FeatureFile,
    gallery: FeatureFile,
    ranking: Ranking,
    path: str | Path,
    num_queries: int = 8,
    color_by_identity: bool = False,
) -> Path:
    """One row per query (the first ``num_queries``): the query, then its ranked gallery.

    The grid geometry and tile drawing are those of
    :func:`~stgcn_reid.viz.ranking.plot_ranked_results`; only the captions (name, distance) and
    the border colours differ, since search results carry no identity or camera labels.
    """
    rows = range(min(num_queries, len(query.names)))
    colours = _border_colours(query, gallery, ranking, rows, color_by_identity)
    layout = RankGridLayout(len(rows), ranking.order.shape[1], FRAMES_PER_TILE)
    canvas = Image.new("RGB", layout.image_size, BACKGROUND)
    for row in rows:
        tiles = [(query.frames(row), QUERY_GREY, f"query {query.names[row]}")]
        ranked = zip(ranking.order[row].tolist(), ranking.distances[row].tolist(), strict=True)
        for rank, ((g, dist), colour) in enumerate(zip(ranked, colours[row], strict=True), 1):
            tiles.append((gallery.frames(g), colour, f"#{rank} {gallery.names[g]} d={dist:.3g}"))
        for column, (frames, colour, caption) in enumerate(tiles):
            paste_tile(canvas, layout, layout.tile_box(row, column), frames, colour, caption)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _border_colours(
    query: FeatureFile,
    gallery: FeatureFile,
    ranking: Ranking,
    rows: range,
    color_by_identity: bool,
) -> list[list[tuple[int, int, int]]]:
    """Per shown query, the border colour of each ranked gallery tile (checked before drawing)."""
    if not color_by_identity:
        return [[NEUTRAL] * ranking.order.shape[1] for _ in rows]
    q_ids = [identity_of(name) for name in query.names]
    g_ids = [identity_of(name) for name in gallery.names]
    return [
        [GREEN if g_ids[g] == q_ids[row] else RED for g in ranking.order[row].tolist()]
        for row in rows
    ]


def search(cfg: SearchConfig) -> tuple[Path, Path | None]:
    """Rank ``cfg.gallery`` for every tracklet of ``cfg.query``; write the CSV and the picture.

    Returns the CSV path and the picture path (``None`` with ``picture_queries=0``).
    """
    if cfg.picture_queries < 0:
        raise ValueError(f"picture_queries must be >= 0, got {cfg.picture_queries}")
    query, gallery = FeatureFile.load(cfg.query), FeatureFile.load(cfg.gallery)
    check_compatible(query, gallery, (cfg.query, cfg.gallery))
    if cfg.picture_queries:  # fail before writing anything
        for features, name in ((query, cfg.query), (gallery, cfg.gallery)):
            if not features.input_dir:
                raise ValueError(
                    f"{name} holds an evaluation's dataset tracklets, not tracklet folders: "
                    "there are no frames to draw; pass picture_queries=0"
                )
    if cfg.color_by_identity:
        for name in [*query.names, *gallery.names]:
            identity_of(name)
    # float64: the distances are written to the CSV, and float32 matrix-product distances of
    # near-identical tracklets lose their small values to cancellation (0.03 instead of 0).
    distmat = compute_distance(
        torch.from_numpy(query.features).double(),
        torch.from_numpy(gallery.features).double(),
        cfg.metric,
    )
    ranking = rank_gallery(distmat, cfg.topk)
    out = Path(cfg.output_dir)
    csv_path = write_ranking_csv(out / "ranking.csv", query.names, gallery.names, ranking)
    print(
        f"Wrote {csv_path}: top {ranking.order.shape[1]} of {len(gallery.names)} gallery "
        f"tracklets for {len(query.names)} queries ({cfg.metric})"
    )
    if not cfg.picture_queries:
        return csv_path, None
    png_path = plot_search(
        query, gallery, ranking, out / "ranked.png", cfg.picture_queries, cfg.color_by_identity
    )
    print(f"Wrote {png_path}")
    return csv_path, png_path


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point (``argv`` defaults to ``sys.argv[1:]``)."""
    run_cli(SearchConfig, search, argv, __doc__ or "")


if __name__ == "__main__":
    main()
