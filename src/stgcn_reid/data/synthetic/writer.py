"""Writing a benchmark to disk in the DukeMTMC-VideoReID layout, cached by config hash.

::

    root/synthetic-<hash>/{train,query,gallery}/<pid:04d>/<tracklet:04d>/
        <pid:04d>_C<cam>_F<frame:04d>_X<serial:05d>.jpg
    root/synthetic-<hash>/{val_query,val_gallery}/...   # validation identities, same layout
    root/synthetic-<hash>/synthetic.json     # completion marker: config, version, statistics

As in the official Duke release, ``F`` numbers the frames of each tracklet from ``F0001`` (the
loaders of torchreid and of the original authors look for ``F0001``, ``F0002``, ... in turn),
``X`` is a global frame counter, and every query tracklet is also written to ``gallery/`` under
the same tracklet folder name (the Duke loader removes those copies); likewise for
``val_query/`` and ``val_gallery/``. A loader written for the official release reads ``train/``,
``query/`` and ``gallery/`` unchanged and does not see the validation folders. Generation writes
into a private ``.synthetic-<hash>.partial-<host>-<pid>`` folder and renames it into place only
after the marker is written, so ``synthetic-<hash>/`` is either complete or absent; a folder of
that name without a matching marker (copied by hand, written by an older tool) is rebuilt.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import shutil
import socket
import sys
import time
import types
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from stgcn_reid.data.synthetic.config import GENERATOR_VERSION, SyntheticConfig
from stgcn_reid.data.synthetic.identities import Identity
from stgcn_reid.data.synthetic.plan import Benchmark, PlannedTracklet, build_benchmark
from stgcn_reid.data.synthetic.render import background_panorama, render_tracklet
from stgcn_reid.data.synthetic.scene import Camera
from stgcn_reid.data.synthetic.splits import QUERY_GALLERY, SPLITS
from stgcn_reid.utils.processes import exit_with_parent

log = logging.getLogger(__name__)

MARKER = "synthetic.json"
CHUNK = 24  # tracklets per worker task: large enough to amortise pickling, small to balance


def dataset_dir(root: str | Path, cfg: SyntheticConfig) -> Path:
    """Cache folder of ``cfg`` under ``root``."""
    return Path(root) / f"synthetic-{cfg.cache_key()}"


def frame_name(pid: int, camid: int, frame: int, serial: int) -> str:
    """Duke frame file name; ``camid`` is 0-based and written 1-based."""
    return f"{pid:04d}_C{camid + 1}_F{frame:04d}_X{serial:05d}.jpg"


def is_complete(folder: Path, cfg: SyntheticConfig) -> bool:
    """Whether ``folder`` holds a finished benchmark of exactly ``cfg``."""
    try:
        marker = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return (
        marker.get("generator_version") == GENERATOR_VERSION
        and marker.get("config") == cfg.to_dict()
    )


def generate(cfg: SyntheticConfig, root: str | Path, workers: int | None = None) -> Path:
    """Generate the benchmark of ``cfg`` under ``root`` unless a complete copy is cached.

    Args:
        cfg: generator parameters; their hash names the folder.
        root: cache folder (created if missing).
        workers: rendering processes (default: all CPUs, at most 8); 1 renders in-process.
            The output does not depend on it.

    Returns:
        The dataset folder holding ``train/``, ``query/`` and ``gallery/``.
    """
    target = dataset_dir(root, cfg)
    if is_complete(target, cfg):
        return target
    if target.exists():
        log.warning("rebuilding %s: no completion marker for this config", target)
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(target)
    partial = target.parent / f".{target.name}.partial-{socket.gethostname()}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    start = time.perf_counter()
    try:
        benchmark = build_benchmark(cfg)
        log.info(
            "generating synthetic benchmark %s (%d tracklets) ...",
            target.name,
            len(benchmark.tracklets),
        )
        _render_all(benchmark, partial, workers)
        marker = {
            "generator_version": GENERATOR_VERSION,
            "config": cfg.to_dict(),
            "statistics": statistics(benchmark),
        }
        (partial / MARKER).write_text(json.dumps(marker, indent=2))
        try:
            partial.rename(target)
        except OSError:
            # Another process (e.g. another DDP rank) finished first; use its copy.
            if not is_complete(target, cfg):
                raise
    finally:
        if partial.exists():
            shutil.rmtree(partial)
    log.info("generated %s in %.1f s", target, time.perf_counter() - start)
    return target


def _remove_stale_partials(target: Path) -> None:
    """Delete partial folders of ``target`` left by crashed processes of this host (a live
    process may still be writing its own, so only dead owners' folders go)."""
    host = socket.gethostname()
    for partial in target.parent.glob(f".{target.name}.partial-{host}-*"):
        owner = partial.name.rsplit("-", 1)[-1]
        if owner.isdigit() and not _alive(int(owner)):
            log.warning("removing %s left by a crashed generation", partial)
            shutil.rmtree(partial, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def statistics(benchmark: Benchmark) -> dict[str, dict[str, int]]:
    """Identities, tracklets and frames per split as listed on disk (gallery without the query
    copies, i.e. as the Duke loader will see it)."""
    stats: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        items = [t for t in benchmark.tracklets if t.slot.split == split]
        stats[split] = {
            "ids": len({t.slot.pid for t in items}),
            "tracklets": len(items),
            "frames": sum(t.spec.num_frames for t in items),
        }
    return stats


def _chunks(items: Sequence[PlannedTracklet], size: int) -> Iterator[list[PlannedTracklet]]:
    for i in range(0, len(items), size):
        yield list(items[i : i + size])


def _render_all(benchmark: Benchmark, folder: Path, workers: int | None) -> None:
    cfg = benchmark.config
    workers = workers or min(os.cpu_count() or 1, 8)
    tasks = [
        (chunk, [benchmark.identities[t.slot.pid] for t in chunk], benchmark.cameras, cfg, folder)
        for chunk in _chunks(benchmark.tracklets, CHUNK)
    ]
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            _write_chunk(*task)
        return
    # Not "fork": the caller (a training run) may already hold torch/OpenMP threads, and forking
    # a multi-threaded process can deadlock the children.
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    with (
        _main_module_hidden(),
        # exit_with_parent: a killed generation must not leave its workers rendering.
        ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=exit_with_parent
        ) as pool,
    ):
        # list() re-raises the first worker exception here.
        list(pool.map(_write_chunk, *zip(*tasks, strict=True)))


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Start worker processes that do not re-import the caller's ``__main__``.

    forkserver and spawn workers re-run the main script (``init_main_from_path``) so that
    objects defined there unpickle; a script without an ``if __name__ == "__main__":`` guard
    then runs again in every worker and dies, and ``python -`` (stdin) cannot be re-read at
    all. The tasks here name functions of this package only, so the workers need nothing of
    ``__main__``: while they start, multiprocessing sees an empty one.
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


@lru_cache(maxsize=32)
def _panorama(camera: Camera, height: int, width: int) -> np.ndarray:
    # Cached per process: every tracklet of a camera crops the same scene.
    return background_panorama(camera, height, width)


def _write_chunk(
    chunk: list[PlannedTracklet],
    identities: list[Identity],
    cameras: list[Camera],
    cfg: SyntheticConfig,
    folder: Path,
) -> None:
    for planned, identity in zip(chunk, identities, strict=True):
        camera = cameras[planned.slot.camid]
        frames = render_tracklet(
            identity, camera, planned.spec, _panorama(camera, cfg.height, cfg.width)
        )
        write_tracklet(folder, planned, frames, cfg.jpeg_quality)


def write_tracklet(
    folder: Path, planned: PlannedTracklet, frames: np.ndarray, quality: int
) -> None:
    """JPEG-encode the frames once and write them to the tracklet's split folder (query
    tracklets also to their gallery folder, as in the official Duke download)."""
    slot = planned.slot
    splits = [slot.split]
    for query, gallery in QUERY_GALLERY.values():
        if slot.split == query:
            splits.append(gallery)
    dirs = [folder / split / f"{slot.pid:04d}" / f"{slot.number:04d}" for split in splits]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
        name = frame_name(slot.pid, slot.camid, i + 1, planned.first_serial + i)
        for d in dirs:
            (d / name).write_bytes(buffer.getvalue())
