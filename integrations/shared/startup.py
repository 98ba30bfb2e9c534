"""The start-up check every process that handles personal data runs first.

Privacy fails closed:

- outside development mode (``WORKORDERS_DEVELOPMENT=false``) a process
  without a real master key (unset, the public example key, malformed, a
  placeholder) refuses to start, with a message that says why and what to do;
- in development mode the process says so in its first log line (a WARNING,
  naming the example key when it is in use) and refuses to bind anything but
  loopback (127.0.0.0/8, ::1, localhost), so a development set-up is never
  reachable from the office network.

Call ``check_start`` right after logging is configured, before anything is
logged, bound or opened. It raises ``StartupRefused``; the entry point prints
it and exits non-zero. This module imports no other project package (only
``integrations.shared.privacy``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Mapping

from integrations.shared.privacy import EXAMPLE_KEY, PrivacyKeyError, require_production_key

__all__ = [
    "DEVELOPMENT_ENV",
    "SECRET_KEY_ENV",
    "StartupRefused",
    "check_start",
    "check_start_from_env",
    "is_loopback",
    "parse_flag",
]

DEVELOPMENT_ENV = "WORKORDERS_DEVELOPMENT"
SECRET_KEY_ENV = "WORKORDERS_SECRET_KEY"

_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


class StartupRefused(RuntimeError):
    """The process must not start (no real key in production, a public bind in development)."""


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` names only this machine: ``localhost``, 127.0.0.0/8 or ``::1``.

    An empty host (which servers read as "every address"), ``0.0.0.0``, ``::``
    and any other name are not loopback.
    """
    if host is None:
        return False
    text = host.strip().strip("[]").lower()
    if text in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def parse_flag(value: str | None, name: str, default: bool) -> bool:
    """A boolean environment variable; anything unrecognised refuses (never guesses)."""
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise StartupRefused(f"{name}={value!r} is neither true nor false")


def check_start(
    process: str,
    *,
    development: bool,
    secret_key: str | None,
    bind_hosts: Iterable[str | None] = (),
    log: logging.Logger | None = None,
) -> None:
    """Refuse to start unless the key and the bind addresses fit the mode (see module doc).

    ``process`` names the process in the messages; ``bind_hosts`` are the
    addresses it will listen on (none for a process that only connects out).
    In development mode this logs one WARNING, meant to be the first line.
    """
    logger = log or logging.getLogger(process)
    if not development:
        try:
            require_production_key(secret_key or "", development=False)
        except PrivacyKeyError as exc:
            raise StartupRefused(
                f"{process}: {exc} (set {SECRET_KEY_ENV}; {DEVELOPMENT_ENV}=false)"
            ) from None
        return
    hosts = [h for h in bind_hosts]
    public = [h for h in hosts if not is_loopback(h)]
    example = secret_key is None or not secret_key.strip() or _is_example(secret_key)
    key_note = (
        " with the built-in example key (privacy.EXAMPLE_KEY, public: anything encrypted "
        "with it is readable by anyone)" if example else ""
    )
    logger.warning(
        "%s is running in DEVELOPMENT MODE (%s=true)%s; it listens on loopback only. "
        "Do not use it for real residents' data: set %s=false and a random %s.",
        process, DEVELOPMENT_ENV, key_note, DEVELOPMENT_ENV, SECRET_KEY_ENV,
    )
    if public:
        shown = ", ".join(repr(h) for h in public)
        raise StartupRefused(
            f"{process}: refusing to listen on {shown} in development mode; development "
            f"mode binds loopback only (127.0.0.1, ::1, localhost). Set the bind address "
            f"to 127.0.0.1, or run in production mode ({DEVELOPMENT_ENV}=false with a "
            f"random {SECRET_KEY_ENV})."
        )


def check_start_from_env(
    process: str,
    environ: Mapping[str, str],
    *,
    bind_hosts: Iterable[str | None] = (),
    log: logging.Logger | None = None,
) -> bool:
    """``check_start`` with the mode and the key read from ``environ``; returns the mode.

    For entry points without typed settings of their own (the launcher).
    ``WORKORDERS_DEVELOPMENT`` defaults to true, as in the service's settings.
    """
    development = parse_flag(environ.get(DEVELOPMENT_ENV), DEVELOPMENT_ENV, True)
    check_start(process, development=development, secret_key=environ.get(SECRET_KEY_ENV),
                bind_hosts=bind_hosts, log=log)
    return development


def _is_example(secret_key: str) -> bool:
    return secret_key.strip().rstrip("=") == EXAMPLE_KEY.rstrip("=")
