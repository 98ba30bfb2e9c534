"""The actions' client behind a load balancer: haproxy's own error pages (HTML, not the
service's JSON) are "unavailable, try again", never an exception that fails the action."""
from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp import web

from actions.workorders_client import ClientSettings, ServiceUnavailable, WorkOrderClient

BAD_GATEWAY = ("<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or "
               "incomplete response.\n</body></html>\n")


def serve_then_call(answers: list[tuple[int, str, str]], call):
    """A server answering ``answers`` in turn (status, body, content type); ``call(client)``'s
    result and the Idempotency-Keys the server saw."""
    keys: list[str | None] = []

    async def handler(request):
        keys.append(request.headers.get("Idempotency-Key"))
        status, body, content_type = answers.pop(0)
        return web.Response(status=status, text=body, content_type=content_type)

    async def main():
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        await web.TCPSite(runner, "127.0.0.1", port).start()
        client = WorkOrderClient(ClientSettings(f"http://127.0.0.1:{port}", "t", backoff_s=0.01))
        try:
            return await call(client)
        finally:
            await client.close()
            await runner.cleanup()

    return asyncio.run(main()), keys


def test_haproxys_html_502_is_retried_with_the_same_key():
    created = '{"number": "20261207-0001", "status": "assigned"}'
    result, keys = serve_then_call(
        [(502, BAD_GATEWAY, "text/html"), (201, created, "application/json")],
        lambda c: c.create_order({"category": "dispute.neighbor"}, "report-key-1"))
    assert result["number"] == "20261207-0001"
    assert keys == ["report-key-1", "report-key-1"]


def test_an_answer_that_is_not_json_is_unavailable_not_a_crash():
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        serve_then_call([(200, "<html>oops</html>", "text/html")] * 3,
                        lambda c: c.latest_order("web:1"))
