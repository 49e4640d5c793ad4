"""Friendlier failures of the Hydra entry points: hints about the overrides that caused them."""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from stgcn_reid.utils.config import CONFIG_DIR
from stgcn_reid.utils.keyvalue_cli import quoting_hint


def config_keys(node: DictConfig, prefix: str = "") -> Iterator[str]:
    """Every dotted key path of a composed config (values are not resolved)."""
    for key in node:
        path = f"{prefix}{key}"
        yield path
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            yield from config_keys(child, f"{path}.")


def override_hints(overrides: Sequence[str], config_name: str) -> list[str]:
    """A hint for each argument of a failed command line that is likely its cause.

    - A ``key=value`` override whose key the default config does not have (the close key, or
      the close config group name).
    - A word without ``=`` right after an override: the rest of an unquoted value with a space.
    - For ``eval``: ``experiment=`` and ``dataset.<key>=``, as eval's model and dataset come
      from the checkpoint.

    Group selections (``dataset=mars``) and ``+``/``~``/``hydra.`` overrides are skipped: Hydra's
    own message covers them.
    """
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name)
    keys = set(config_keys(cfg))
    groups = {p.name for p in CONFIG_DIR.iterdir() if p.is_dir()}
    hints = []
    for previous, override in zip(["", *overrides], overrides, strict=False):
        if "=" not in override:
            hint = loose_word_hint(previous, override)
        else:
            key, value = override.split("=", 1)
            hint = eval_hint(key, value) if config_name == "eval" else None
            hint = hint or key_hint(key, value, keys, groups, config_name)
        if hint:
            hints.append(hint)
    return hints


def loose_word_hint(previous: str, word: str) -> str | None:
    """The hint for an argument without ``=`` (flags such as ``-m`` excepted)."""
    if word.startswith("-"):
        return None
    return f"hint: '{word}' is not a key=value override{quoting_hint(previous, word)}"


def eval_hint(key: str, value: str) -> str | None:
    """The hint for an eval override that would set what eval takes from the checkpoint."""
    if key == "experiment":
        return (
            "hint: eval takes its config (model, input size, dataset) from the checkpoint's run "
            f"config; drop experiment={value} and give only ckpt_path=... (and dataset=... to "
            "evaluate on another dataset)"
        )
    if key.startswith("dataset."):
        return (
            "hint: eval takes the dataset from the checkpoint's run config; change one of its "
            f"options with +{key}={value}, or choose a dataset with dataset=<name> {key}={value}"
        )
    return None


def key_hint(
    key: str, value: str, keys: set[str], groups: set[str], config_name: str
) -> str | None:
    """The hint for an override whose key the default config does not have."""
    if key[:1] in "+~-" or key.startswith("hydra.") or key in keys or key in groups:
        return None
    group = difflib.get_close_matches(key, groups, n=1, cutoff=0.8)
    if group:
        return (
            f"hint: '{key}' is not a key of the {config_name} config; did you mean the "
            f"config group {group[0]} ({group[0]}={value})? +{key}=... would add an unused "
            "key and run without it"
        )
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    suggestion = f"did you mean {' or '.join(close)}? " if close else ""
    return (
        f"hint: '{key}' is not a key of the {config_name} config; {suggestion}"
        f"(`python -m stgcn_reid.{config_name} --cfg job` prints every key; "
        f"+{key}=... adds a new one)"
    )


def run_with_hints(main: Callable[[], object], config_name: str) -> None:
    """Run a Hydra ``main``; if it exits with an error, print hints about mistyped keys."""
    try:
        main()
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            for hint in override_hints(sys.argv[1:], config_name):
                print(hint, file=sys.stderr)
        raise
