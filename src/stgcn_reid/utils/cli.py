"""Friendlier command-line failures: suggest the real config key for a mistyped override."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from stgcn_reid.utils.config import CONFIG_DIR


def config_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every dotted key path of a composed config (values are not resolved)."""
    for key in node:
        path = f"{prefix}{key}"
        yield path
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from config_keys(child, f"{path}.")


def override_hints(overrides: Sequence[str], config_name: str) -> list[str]:
    """A hint for each ``key=value`` override whose key the default config does not have.

    Group selections (``dataset=mars``) and ``+``/``~``/``hydra.`` overrides are skipped: Hydra's
    own message covers them.
    """
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name)
    keys = set(config_keys(cfg))
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    hints = []
    for override in overrides:
        key = override.split("=", 1)[0]
        if "=" not in override or key[:1] in "+~-" or key.startswith("hydra."):
            continue
        if key in keys or key in groups:
            continue
        group = difflib.get_close_matches(key, groups, n=1, cutoff=0.8)
        if group:
            value = override.split("=", 1)[1]
            hints.append(
                f"hint: '{key}' is not a key of the {config_name} config; did you mean the "
                f"config group {group[0]} ({group[0]}={value})? +{key}=... would add an unused "
                "key and run without it"
            )
            continue
        close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
        suggestion = f"did you mean {' or '.join(close)}? " if close else ""
        hints.append(
            f"hint: '{key}' is not a key of the {config_name} config; {suggestion}"
            f"(`python -m stgcn_reid.{config_name} --cfg job` prints every key; "
            f"+{key}=... adds a new one)"
        )
    return hints


def run_with_hints(main: Callable[[], object], config_name: str) -> None:
    """Run a Hydra ``main``; if it exits with an error, print hints about mistyped keys."""
    try:
        main()
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            for hint in override_hints(sys.argv[1:], config_name):
                print(hint, file=sys.stderr)
        raise
