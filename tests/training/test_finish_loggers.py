"""Loggers are finalized, and the W&B run finished, with the outcome of the run: a crash is
reported as a failure, not as a success."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest
from pytorch_lightning.loggers import Logger

from stgcn_reid.utils.instantiate import closing_loggers


class RecordingLogger(Logger):
    """A logger that records the statuses it was finalized with."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[str] = []

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        pass

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def finalize(self, status: str) -> None:
        self.statuses.append(status)


@pytest.fixture
def wandb_exit_codes(monkeypatch: pytest.MonkeyPatch) -> list[int | None]:
    """The exit codes ``wandb.finish`` is called with (a stand-in module with an open run)."""
    codes: list[int | None] = []
    fake = SimpleNamespace(run=object())

    def finish(exit_code: int | None = None) -> None:
        codes.append(exit_code)
        fake.run = None

    fake.finish = finish
    monkeypatch.setitem(sys.modules, "wandb", fake)
    return codes


def test_a_run_that_ends_normally_is_a_success(wandb_exit_codes: list[int | None]) -> None:
    logger = RecordingLogger()
    with closing_loggers([logger]):
        pass
    assert logger.statuses == ["success"]
    assert wandb_exit_codes == [0]


def test_a_crash_is_reported_as_a_failure(wandb_exit_codes: list[int | None]) -> None:
    logger = RecordingLogger()
    with pytest.raises(RuntimeError, match="boom"), closing_loggers([logger]):
        raise RuntimeError("boom")
    assert logger.statuses == ["failed"]
    assert wandb_exit_codes == [1]


@pytest.mark.parametrize(("code", "expected"), [(143, 143), ("error: bad file", 1), (None, 0)])
def test_an_exit_keeps_its_status(
    wandb_exit_codes: list[int | None], code: int | str | None, expected: int
) -> None:
    logger = RecordingLogger()
    with pytest.raises(SystemExit), closing_loggers([logger]):
        raise SystemExit(code)
    assert logger.statuses == ["success" if expected == 0 else "failed"]
    assert wandb_exit_codes == [expected]


def test_without_a_wandb_run_only_the_loggers_are_finalized(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    logger = RecordingLogger()
    with pytest.raises(ValueError), closing_loggers([logger]):
        raise ValueError("bad value")
    assert logger.statuses == ["failed"]
