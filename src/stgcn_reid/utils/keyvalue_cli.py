"""``key=value`` command lines checked against a dataclass (OmegaConf structured configs).

The inference tools (``embed``, ``search``, ``export``) take ``key=value`` arguments like the
Hydra entry points, but are parsed with OmegaConf alone: Hydra would add a run directory, log
files and a dependency on the ``conf/`` folder of the checkout, none of which a tool that reads
one file and writes another needs. OmegaConf still types the values, rejects unknown keys and
reports missing mandatory ones (fields defaulting to ``omegaconf.MISSING``), and unlike Hydra's
override grammar it takes any path as a value (commas, brackets) without quoting.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from stgcn_reid.errors import CheckpointError, DatasetError

Config = TypeVar("Config")

#: Errors that a user can fix (bad argument, file, checkpoint or frame, missing optional
#: package): reported as one line.
USER_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError,
    DatasetError,
    ValueError,
    OSError,
    ImportError,
)
HELP_FLAGS = ("-h", "--help", "help")


class UsageError(ValueError):
    """A command line that does not fit the tool's arguments."""


def parse_key_values(schema: type[Config], argv: Sequence[str]) -> Config:
    """An instance of the dataclass ``schema`` from ``key=value`` strings (typed, checked)."""
    loose = [
        (previous, arg) for previous, arg in zip(["", *argv], argv, strict=False) if "=" not in arg
    ]
    if loose:
        raise UsageError(
            f"arguments must be key=value, got {[arg for _, arg in loose]}"
            f"{quoting_hint(*loose[0])}; valid keys: {_keys(schema)}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.from_dotlist(list(argv)))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as err:
        # The first line names the key; the rest is OmegaConf's object-type trailer.
        raise UsageError(f"{str(err).splitlines()[0]}; valid keys: {_keys(schema)}") from err


def quoting_hint(previous: str, word: str) -> str:
    """``"; ..."`` saying that ``word`` may be the rest of ``previous``'s value, cut at a space
    by the shell; ``""`` when ``previous`` is not a ``key=value`` argument."""
    if "=" not in previous or previous.startswith("-"):
        return ""
    return (
        f"; if '{word}' is the rest of the value before it, that value has a space and must be "
        f"quoted: '{previous} {word}'"
    )


def run_cli(
    schema: type[Config], run: Callable[[Config], Any], argv: Sequence[str] | None, doc: str
) -> None:
    """Parse ``argv`` (default ``sys.argv[1:]``) into ``schema`` and call ``run`` with it.

    ``-h`` / ``--help`` prints ``doc`` and the keys with their defaults. A user error
    (:data:`USER_ERRORS`) exits with status 1 and a one-line ``error: ...`` message instead of a
    traceback.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if any(arg in HELP_FLAGS for arg in args):
        print(doc.strip() + "\n\nkeys (default; ??? = required):\n" + _defaults(schema))
        return
    try:
        run(parse_key_values(schema, args))
    except USER_ERRORS as err:
        raise SystemExit(f"error: {err}") from err


def _keys(schema: type) -> list[str]:
    return [field.name for field in dataclasses.fields(schema)]


def _defaults(schema: type) -> str:
    """One ``  key=default`` line per field."""
    return "\n".join(f"  {field.name}={field.default}" for field in dataclasses.fields(schema))
