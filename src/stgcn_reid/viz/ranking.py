"""Top-k retrieved tracklets per query, one row per query (as in Figure 6 of the STGCN paper).

Each row shows a few frames of the query tracklet, then its ``topk`` gallery tracklets in
rank order, each framed green (same identity) or red (another identity). Same-identity
same-camera gallery items and identity ``-1`` are skipped, as the standard protocol does.
The grid is composed with PIL: exact pixel placement, no plotting backend involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

import numpy as np
import torch
from PIL import Image, ImageDraw

from stgcn_reid.data.datasets.base import JUNK_PID

Frame: TypeAlias = str | Path | Image.Image | np.ndarray
Labels: TypeAlias = Sequence[int] | np.ndarray | torch.Tensor

GREEN = (0, 170, 0)
RED = (220, 0, 0)
QUERY_GREY = (90, 90, 90)
BACKGROUND = (255, 255, 255)
TEXT = (0, 0, 0)


@dataclass(frozen=True)
class RankGridLayout:
    """Pixel geometry of the grid: column 0 is the query, column ``r`` the rank-``r`` item."""

    num_rows: int
    topk: int
    frames_per_clip: int
    frame_size: tuple[int, int] = (48, 96)  # (width, height) of one frame
    border: int = 4
    header: int = 14  # text line above each tile
    gap: int = 6
    query_gap: int = 18  # extra space between the query and its ranked list
    margin: int = 6

    @property
    def tile_size(self) -> tuple[int, int]:
        """(width, height) of one framed tracklet, border included."""
        width, height = self.frame_size
        return self.frames_per_clip * width + 2 * self.border, height + 2 * self.border

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) of the whole picture."""
        tile_w, tile_h = self.tile_size
        width = 2 * self.margin + (self.topk + 1) * tile_w + self.topk * self.gap + self.query_gap
        height = 2 * self.margin + self.num_rows * (self.header + tile_h + self.gap) - self.gap
        return width, height

    def tile_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of a tile, border included, right/bottom exclusive."""
        tile_w, tile_h = self.tile_size
        left = self.margin + column * (tile_w + self.gap) + (self.query_gap if column else 0)
        top = self.margin + row * (self.header + tile_h + self.gap) + self.header
        return left, top, left + tile_w, top + tile_h


def spread_queries(
    q_pids: Labels, g_pids: Labels, q_camids: Labels, g_camids: Labels, count: int
) -> list[int]:
    """Up to ``count`` queries to show, evenly spread over those with a correct match.

    A correct match has the query's identity, another camera and an identity other than
    ``-1``: the "good" item of :mod:`~stgcn_reid.evaluation.rank` (a query without one has no
    AP) and the tile this picture frames green. Picking by position in the query list, not by
    outcome, keeps the picture honest.
    """
    q_pid, g_pid, q_cam, g_cam = (
        np.asarray(torch.as_tensor(a).cpu()) for a in (q_pids, g_pids, q_camids, g_camids)
    )
    good = (q_pid[:, None] == g_pid[None, :]) & (q_cam[:, None] != g_cam[None, :])
    valid = np.flatnonzero((good & (g_pid != JUNK_PID)[None, :]).any(axis=1))
    picks = np.linspace(0, len(valid) - 1, min(count, len(valid))).astype(int)
    return sorted({int(valid[i]) for i in picks})


def plot_ranked_results(
    query_frames: Sequence[Sequence[Frame]],
    gallery_frames: Sequence[Sequence[Frame]],
    distmat: np.ndarray | torch.Tensor,
    q_pids: Labels,
    g_pids: Labels,
    q_camids: Labels,
    g_camids: Labels,
    path: str | Path,
    topk: int = 5,
    frames_per_clip: int = 4,
    query_indices: Sequence[int] | None = None,
    num_queries: int = 4,
    frame_size: tuple[int, int] = (48, 96),
) -> Path:
    """Save one PNG with a row per query: the query clip, then its top-``topk`` gallery clips.

    Args:
        query_frames, gallery_frames: per tracklet, its frames (paths, PIL images or
            ``H x W [x 3]`` arrays); ``frames_per_clip`` of them, evenly spaced, are shown.
        distmat: ``[num_query, num_gallery]`` distances.
        q_pids, g_pids, q_camids, g_camids: identities and cameras.
        query_indices: queries to show; default the first ``num_queries``.
        frame_size: (width, height) each frame is resized to.
    """
    dist = np.asarray(torch.as_tensor(distmat).detach().cpu(), dtype=np.float64)
    qp, gp, qc, gc = (
        np.asarray(torch.as_tensor(a).cpu()) for a in (q_pids, g_pids, q_camids, g_camids)
    )
    _check_inputs(dist, query_frames, gallery_frames, qp, gp, qc, gc, topk, frames_per_clip)
    rows = (
        list(range(min(num_queries, dist.shape[0])))
        if query_indices is None
        else list(query_indices)
    )
    if not rows or not all(0 <= q < dist.shape[0] for q in rows):
        raise ValueError(
            f"query_indices must be non-empty indices below {dist.shape[0]}, got {rows}"
        )

    layout = RankGridLayout(len(rows), topk, frames_per_clip, frame_size=frame_size)
    canvas = Image.new("RGB", layout.image_size, BACKGROUND)
    for row, q in enumerate(rows):
        tiles = [(query_frames[q], QUERY_GREY, f"query pid {qp[q]} cam {qc[q]}")]
        for rank, g in enumerate(_top_gallery(dist[q], qp[q], qc[q], gp, gc, topk), start=1):
            colour = GREEN if gp[g] == qp[q] else RED
            tiles.append((gallery_frames[g], colour, f"#{rank} pid {gp[g]} cam {gc[g]}"))
        for column, (frames, colour, caption) in enumerate(tiles):
            paste_tile(canvas, layout, layout.tile_box(row, column), frames, colour, caption)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out, format="PNG")
    return out


def _top_gallery(
    dist_row: np.ndarray, q_pid: int, q_cam: int, g_pids: np.ndarray, g_cams: np.ndarray, topk: int
) -> np.ndarray:
    """Indices of the ``topk`` nearest gallery items, junk removed (stable on ties)."""
    order = np.argsort(dist_row, kind="stable")
    junk = ((g_pids[order] == q_pid) & (g_cams[order] == q_cam)) | (g_pids[order] == JUNK_PID)
    return order[~junk][:topk]


def paste_tile(
    canvas: Image.Image,
    layout: RankGridLayout,
    box: tuple[int, int, int, int],
    frames: Sequence[Frame],
    colour: tuple[int, int, int],
    caption: str,
) -> None:
    """Draw one clip inside a border of ``colour`` at ``box``, with its caption above."""
    if len(frames) == 0:
        raise ValueError(f"tracklet '{caption}' has no frames to show")
    left, top, right, bottom = box
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((left, top, right - 1, bottom - 1), fill=colour)
    draw.text((left, top - layout.header), caption, fill=TEXT)
    width, height = layout.frame_size
    picks = np.linspace(0, len(frames) - 1, layout.frames_per_clip).round().astype(int)
    for slot, index in enumerate(picks):
        image = _load(frames[index]).resize((width, height), Image.Resampling.BILINEAR)
        canvas.paste(image, (left + layout.border + slot * width, top + layout.border))


def _load(frame: Frame) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or a uint8 / [0, 1] float array."""
    if isinstance(frame, str | Path):
        with Image.open(frame) as image:
            return image.convert("RGB")
    if isinstance(frame, Image.Image):
        return frame.convert("RGB")
    array = np.asarray(frame)
    if array.dtype != np.uint8:
        array = (np.clip(array, 0.0, 1.0) * 255).round().astype(np.uint8)
    if array.ndim == 2:
        return Image.fromarray(array, mode="L").convert("RGB")
    if array.ndim == 3 and array.shape[2] == 3:
        return Image.fromarray(array, mode="RGB")
    raise ValueError(f"a frame array must be H x W or H x W x 3, got shape {array.shape}")


def _check_inputs(
    dist: np.ndarray,
    query_frames: Sequence[Sequence[Frame]],
    gallery_frames: Sequence[Sequence[Frame]],
    qp: np.ndarray,
    gp: np.ndarray,
    qc: np.ndarray,
    gc: np.ndarray,
    topk: int,
    frames_per_clip: int,
) -> None:
    """Raise ``ValueError`` naming the first input whose size does not fit ``dist``."""
    if dist.ndim != 2:
        raise ValueError(f"distmat must be 2-D, got shape {dist.shape}")
    num_q, num_g = dist.shape
    sizes = {
        "query_frames": (len(query_frames), num_q),
        "q_pids": (len(qp), num_q),
        "q_camids": (len(qc), num_q),
        "gallery_frames": (len(gallery_frames), num_g),
        "g_pids": (len(gp), num_g),
        "g_camids": (len(gc), num_g),
    }
    for name, (got, want) in sizes.items():
        if got != want:
            raise ValueError(f"{name} has length {got}, but distmat is {num_q} x {num_g}")
    if topk < 1 or frames_per_clip < 1:
        raise ValueError(f"topk and frames_per_clip must be >= 1, got {topk}, {frames_per_clip}")
