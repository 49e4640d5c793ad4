"""The start-up checks of an evaluation split, from its metadata."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pytorch_lightning.utilities import rank_zero_only

from stgcn_reid.data.datasets import DatasetError, Tracklet
from stgcn_reid.data.datasets.checks import check_evaluation_split


def tracklet(root: Path, pid: int, camid: int) -> Tracklet:
    """A one-frame tracklet whose frame exists."""
    frame = root / f"{pid:04d}" / f"{pid:04d}C{camid + 1}.jpg"
    frame.parent.mkdir(parents=True, exist_ok=True)
    frame.write_bytes(b"")
    return Tracklet((str(frame),), pid, camid)


def test_some_queries_without_a_match_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    query = [tracklet(tmp_path, 1, 0), tracklet(tmp_path, 2, 0), tracklet(tmp_path, 3, 1)]
    gallery = [tracklet(tmp_path, 1, 1), tracklet(tmp_path, 2, 0), tracklet(tmp_path, 9, 0)]
    with caplog.at_level(logging.WARNING):
        check_evaluation_split("dukemtmc_video val", query, gallery)
    assert (
        "dukemtmc_video val split: 2 of 3 queries have no gallery tracklet of their identity "
        "under another camera (first: pid 2 camera 1, pid 3 camera 2); they will be left out "
        "of CMC and mAP"
    ) in caplog.text


def test_no_query_with_a_match_is_an_error(tmp_path: Path) -> None:
    query = [tracklet(tmp_path, 1, 0)]
    with pytest.raises(DatasetError, match=r"val split: 1 of 1 queries .* so none can be"):
        check_evaluation_split("synthetic val", query, [tracklet(tmp_path, 1, 0)])


def test_only_the_first_ddp_process_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = [tracklet(tmp_path, 1, 0), tracklet(tmp_path, 2, 0)]
    gallery = [tracklet(tmp_path, 1, 1), tracklet(tmp_path, 2, 0)]
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    with caplog.at_level(logging.WARNING):
        check_evaluation_split("mars test", query, gallery)
    assert "queries have no gallery tracklet" not in caplog.text
