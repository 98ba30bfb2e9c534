"""The action server: rasa_sdk's Sanic app behind a shared secret and a body cap.

    python -m bot.action_server            # what tools/run.py starts

Rasa calls the actions over HTTP with the conversation's sender id and slots
in the body, and the actions act on them (open, cancel or rate that sender's
orders). So only Rasa may call: every request but ``GET /health`` must carry
``Authorization: Bearer <ACTIONS_SECRET>`` (bot/endpoints.yml makes Rasa send
it); without it, or with another one, the answer is 401. A body over
``ACTIONS_MAX_BODY_BYTES`` is refused with 413, and so is a compressed body
(``Content-Encoding: deflate`` or ``gzip``) that inflates to more: it is
inflated here, in pieces, stopping at the limit.

Settings (environment): ``ACTIONS_SECRET`` (required: the server refuses to
start without it), ``ACTIONS_HOST`` (127.0.0.1), ``ACTIONS_PORT`` (5055),
``ACTIONS_MAX_BODY_BYTES`` (4 MiB).

Each action call is run with ``bot.call_keys.CALL_KEY`` set, so
the same call made again (Rasa does when the action server that had it went
away) sends the work-order service the same Idempotency-Keys.
"""
from __future__ import annotations

import argparse
import hmac
import logging
import os
import sys
import zlib
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5055
#: Rasa sends the domain and the current session's events with every call;
#: a long session is some hundred kilobytes.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
OPEN_PATHS = frozenset({"/health"})
INFLATED_ENCODINGS = frozenset({"deflate", "gzip", "x-gzip"})

log = logging.getLogger("bot.action_server")


class BodyTooLarge(Exception):
    """The body, once inflated, is over the limit."""


class BadEncoding(Exception):
    """The body is not what its Content-Encoding says."""


@dataclass(frozen=True)
class ServerSettings:
    secret: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_env(cls, env: dict) -> ServerSettings:
        secret = (env.get("ACTIONS_SECRET") or "").strip()
        if not secret:
            raise ValueError("ACTIONS_SECRET is not set: the action server answers only "
                             "requests that carry it (tools/run.py generates one per run)")
        max_body = int(env.get("ACTIONS_MAX_BODY_BYTES") or DEFAULT_MAX_BODY_BYTES)
        if max_body <= 0:
            raise ValueError("ACTIONS_MAX_BODY_BYTES must be positive")
        return cls(secret=secret, host=env.get("ACTIONS_HOST") or DEFAULT_HOST,
                   port=int(env.get("ACTIONS_PORT") or DEFAULT_PORT), max_body_bytes=max_body)


def inflate(body: bytes, max_bytes: int) -> bytes:
    """A zlib or gzip stream inflated in pieces; BodyTooLarge past ``max_bytes``."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # zlib or gzip header
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadEncoding(str(exc)) from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise BodyTooLarge()
    if not inflater.eof or inflater.unused_data:
        raise BadEncoding("truncated stream or data after its end")
    return out


def bearer_matches(authorization: str | None, secret: str) -> bool:
    """``Bearer <secret>``, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), secret.encode())


def install_call_keys() -> None:
    """Run every action call with its ``CALL_KEY`` (see the module docstring)."""
    from rasa_sdk.executor import ActionExecutor

    from bot.call_keys import CALL_KEY, call_key

    original = ActionExecutor.run
    if getattr(original, "call_keys", False):
        return

    async def run(self, action_call):
        token = CALL_KEY.set(call_key(action_call))
        try:
            return await original(self, action_call)
        finally:
            CALL_KEY.reset(token)

    run.call_keys = True
    ActionExecutor.run = run


def create_app(settings: ServerSettings, actions_package: str = "actions"):
    """rasa_sdk's app with the secret check, the body cap and plain error answers."""
    from rasa_sdk.endpoint import create_app as create_sdk_app

    install_call_keys()
    from sanic import response
    from sanic.exceptions import SanicException

    # no CORS origins: only Rasa, never a browser, calls the action server
    app = create_sdk_app(actions_package, cors_origins="")
    app.config.REQUEST_MAX_SIZE = settings.max_body_bytes  # Sanic answers 413 past it

    @app.middleware("request")
    async def guard(request):
        if request.path in OPEN_PATHS and request.method in ("GET", "HEAD"):
            return None
        if not bearer_matches(request.headers.get("authorization"), settings.secret):
            return response.json({"error": "unauthorized"}, status=401,
                                 headers={"WWW-Authenticate": "Bearer"})
        encoding = (request.headers.get("content-encoding") or "").strip().lower()
        if encoding in ("", "identity"):
            return None
        if encoding not in INFLATED_ENCODINGS:
            return response.json({"error": f"unsupported content encoding {encoding!r}"},
                                 status=415)
        try:
            request.body = inflate(request.body or b"", settings.max_body_bytes)
        except BodyTooLarge:
            return response.json({"error": "request body too large"}, status=413)
        except BadEncoding:
            return response.json({"error": "body does not match its content encoding"},
                                 status=400)
        # inflated here: rasa_sdk's webhook must read it as plain JSON
        del request.headers["content-encoding"]
        return None

    @app.exception(SanicException)
    async def sanic_error(request, exception: SanicException):
        # rasa_sdk answers every exception with 500 and echoes the body; a
        # refused request (413, 404, 405) keeps its status and echoes nothing
        return response.json({"error": str(exception)}, status=exception.status_code)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--actions", default="actions", help="package of the actions")
    parser.add_argument("--host", help="overrides ACTIONS_HOST")
    parser.add_argument("--port", type=int, help="overrides ACTIONS_PORT")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    env = dict(os.environ)
    if args.host:
        env["ACTIONS_HOST"] = args.host
    if args.port:
        env["ACTIONS_PORT"] = str(args.port)
    try:
        settings = ServerSettings.from_env(env)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    app = create_app(settings, args.actions)
    log.info("action server on http://%s:%d (secret required, bodies up to %d bytes)",
             settings.host, settings.port, settings.max_body_bytes)
    app.run(settings.host, settings.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
