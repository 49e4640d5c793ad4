"""Build Lightning callbacks and loggers from their Hydra config groups."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, open_dict
from pytorch_lightning.callbacks import DeviceStatsMonitor, LearningRateMonitor
from pytorch_lightning.loggers import Logger

log = logging.getLogger(__name__)


#: Callbacks that only report to a logger: left out when there is none (``logger=none``).
LOGGER_CALLBACKS: tuple[type[pl.Callback], ...] = (LearningRateMonitor, DeviceStatsMonitor)


def instantiate_callbacks(cfg: DictConfig | None, has_logger: bool = True) -> list[pl.Callback]:
    """One callback per ``_target_`` entry of the ``callbacks`` group (empty when ``None``);
    without a logger, the :data:`LOGGER_CALLBACKS` among them are left out."""
    if not cfg:
        return []
    callbacks = [hydra.utils.instantiate(entry) for entry in cfg.values() if entry is not None]
    if has_logger:
        return callbacks
    for callback in callbacks:
        if isinstance(callback, LOGGER_CALLBACKS):
            log.info("No logger: leaving out %s, which reports to one", type(callback).__name__)
    return [c for c in callbacks if not isinstance(c, LOGGER_CALLBACKS)]


def wandb_logged_in() -> bool:
    """Whether W&B has credentials for the server it is configured for (``WANDB_BASE_URL`` or
    ``wandb login --host``, any host): an API key or identity token in the environment, in its
    settings, or in netrc for that host.

    wandb offers no public "am I logged in" call that neither prompts nor contacts the server,
    so this reads the settings as ``wandb.setup`` does (system settings file, then the
    environment) and asks the SDK's netrc reader, which ``wandb.init`` uses. It builds its own
    ``Settings`` rather than loading wandb's process-wide ones, which would then no longer take
    the logger's ``offline`` mode into account.
    """
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    import wandb
    from wandb.errors import AuthenticationError
    from wandb.sdk.lib import wbauth

    settings = wandb.Settings()
    config_dir = Path(os.environ.get("WANDB_CONFIG_DIR", Path.home() / ".config" / "wandb"))
    settings.settings_system = str(config_dir.expanduser() / "settings")
    settings.update_from_system_settings()
    settings.update_from_env_vars(dict(os.environ))
    if settings.api_key:
        return True
    try:
        return wbauth.read_netrc_auth(host=settings.base_url) is not None
    except AuthenticationError:  # an entry for the host, but not a valid key
        return False


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    """One logger per ``_target_`` entry of the ``logger`` group (empty when ``None``).

    A W&B logger with ``offline: null`` runs offline unless an API key is configured, so that a
    run never blocks on login or on the network.
    """
    if not cfg:
        return []
    loggers = []
    for name, entry in cfg.items():
        if entry is None:
            continue
        if name == "wandb" and entry.get("offline") is None:
            offline = os.environ.get("WANDB_MODE") == "offline" or not wandb_logged_in()
            with open_dict(entry):
                entry.offline = offline
            if offline:
                log.info("W&B: not logged in, logging offline (upload with `wandb sync`)")
        loggers.append(hydra.utils.instantiate(entry))
    return loggers


def finish_loggers(loggers: Sequence[Logger], exit_code: int) -> None:
    """Finalize the loggers and close the W&B run, so the next job of a multirun starts clean.

    ``exit_code`` 0 finalizes with ``"success"``; any other with ``"failed"``, and W&B records
    the run as failed with that exit code (rather than as finished).
    """
    status = "success" if exit_code == 0 else "failed"
    for logger in loggers:
        logger.finalize(status)
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=exit_code)


@contextmanager
def closing_loggers(loggers: Sequence[Logger]) -> Iterator[None]:
    """Run the block, then :func:`finish_loggers` with exit code 0 if it ended normally, else
    the exit code of what it raised (a ``SystemExit``'s own code, 1 for any other error)."""
    try:
        yield
    except SystemExit as stop:
        finish_loggers(loggers, stop.code if isinstance(stop.code, int) else int(bool(stop.code)))
        raise
    except BaseException:
        finish_loggers(loggers, 1)
        raise
    finish_loggers(loggers, 0)
