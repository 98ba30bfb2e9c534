"""What the use cases need from outside besides a database session.

Built once in the entrypoint (``ServiceConfig.from_settings``) and carried by
every ``UnitOfWork``, so that a use case which dispatches (and therefore needs
the taxonomy) or notifies (and needs to know where a resident's messages go)
gets them without reading files or the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, timezone, tzinfo

from integrations.shared.privacy import Vault

from ..adapters.taxonomy_file import load_taxonomy
from ..adapters.warning_rules_file import load_warning_rules
from ..domain.lifecycle import FOLLOW_UP_WINDOW
from ..domain.taxonomy import Taxonomy
from ..domain.warning_rules import WarningRules, default_rules
from ..settings import Settings

#: China Standard Time (no daylight saving): how times are written in messages.
CHINA_TZ = timezone(timedelta(hours=8), "CST")


@dataclass(frozen=True)
class ServiceConfig:
    """Taxonomy, vault and notification routing of the work-order use cases.

    ``webhook_enabled``: whether ``web:`` / ``open311:`` residents' status
    changes go to the webhook (else to the log channel). ``follow_up``: how
    long a resident has to answer the satisfaction question before the order
    closes as ``no_answer``. ``archive_after``: closed orders older than this
    are archived by the sweeper (None: never). ``display_tz``: the zone of
    times written into messages.
    """

    taxonomy: Taxonomy
    vault: Vault
    webhook_enabled: bool = False
    follow_up: timedelta = FOLLOW_UP_WINDOW
    archive_after: timedelta | None = timedelta(days=30)
    display_tz: tzinfo = CHINA_TZ
    #: Largest photo a resident may send, in bytes; photos one order may carry.
    max_attachment_bytes: int = 5 * 1024 * 1024
    max_attachments_per_order: int = 10
    #: How long a staged photo lives; how many staged photos (and bytes) one resident may hold.
    staged_photo_ttl: timedelta = timedelta(hours=24)
    max_staged_photos: int = 20
    max_staged_bytes: int = 50 * 1024 * 1024
    #: Delivered outbox rows older than this are deleted by the sweeper.
    outbox_retention: timedelta = timedelta(days=7)
    #: The 研判预警 detectors' thresholds and windows (``warnings.yml``).
    warning_rules: WarningRules = field(default_factory=default_rules)

    @classmethod
    def from_settings(cls, settings: Settings, taxonomy: Taxonomy | None = None) -> ServiceConfig:
        """The configuration the settings describe (reads the taxonomy file unless given)."""
        return cls(
            taxonomy=taxonomy if taxonomy is not None else load_taxonomy(settings.taxonomy_path),
            vault=Vault(settings.secret_key, old_keys=settings.old_keys),
            webhook_enabled=bool(settings.webhook_url),
            follow_up=timedelta(hours=settings.follow_up_hours),
            max_attachment_bytes=settings.max_attachment_bytes,
            max_attachments_per_order=settings.max_attachments_per_order,
            staged_photo_ttl=timedelta(hours=settings.staged_photo_hours),
            max_staged_photos=settings.max_staged_photos,
            max_staged_bytes=settings.max_staged_bytes,
            outbox_retention=timedelta(days=settings.outbox_retention_days),
            warning_rules=load_warning_rules(settings.warnings_path),
        )
