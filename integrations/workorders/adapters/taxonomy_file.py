"""Reading ``taxonomy.yml`` (the only file I/O around the taxonomy)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..domain.errors import InvalidTaxonomy
from ..domain.taxonomy import Taxonomy


def load_taxonomy(path: str | Path) -> Taxonomy:
    """Parse the taxonomy file; raise ``InvalidTaxonomy`` if it is not valid YAML or malformed."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidTaxonomy(f"{path} is not valid YAML: {exc}") from None
    return Taxonomy.from_dict(document)
