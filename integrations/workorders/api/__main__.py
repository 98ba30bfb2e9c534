"""``python -m integrations.workorders.api [--host H] [--port P] [--workers N] [--no-migrate]``

Serves the HTTP API with uvicorn. Configuration comes from ``WORKORDERS_*``
(``settings.py``, ``api/config.py``): the database URL, the secret key, the
channel tokens (actions, Telegram) and Open311 keys, the port
(``WORKORDERS_API_PORT``, default 8000). On start the database is migrated to the
newest schema unless ``--no-migrate``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from integrations.shared.privacy import PrivacyKeyError, redact
from integrations.shared.startup import StartupRefused, check_start

from .config import load_api_settings
from .entrypoint import configure_logging, serve


def parse_args(argv: Sequence[str] | None, default_port: int, default_level: str
               ) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.workorders.api",
        description="Serve the work-order HTTP API (FastAPI under uvicorn).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=default_port,
                        help=f"port (default WORKORDERS_API_PORT or {default_port})")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--no-migrate", action="store_true",
                        help="do not migrate the database to head on start")
    parser.add_argument("--log-level", default=default_level,
                        help="debug, info (default; one access-log line a request), warning, error")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_api_settings()
    except ValidationError as exc:
        # never the values: they may be tokens or keys
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                             for e in exc.errors(include_input=False, include_url=False))
        print(f"invalid settings: {redact(problems)}", file=sys.stderr)
        return 2
    args = parse_args(argv, settings.api_port, settings.log_level)
    configure_logging(args.log_level)
    try:
        check_start("work-order API", development=settings.development,
                    secret_key=settings.secret_key, bind_hosts=[args.host])
    except StartupRefused as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2
    try:
        return serve(settings, host=args.host, port=args.port, workers=args.workers,
                     migrate_first=not args.no_migrate, log_level=args.log_level)
    except PrivacyKeyError as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
