"""Reading ``warnings.yml`` (the only file I/O around the warning rules)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..domain.warning_rules import WarningRules, parse_rules


def load_warning_rules(path: str | Path) -> WarningRules:
    """Parse the settings file; ``ValueError`` (naming the file) if it is missing or invalid."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read the warning settings {path}: {exc.strerror}") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    try:
        return parse_rules(document)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
