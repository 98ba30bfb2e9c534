"""The pure parts of `make bench-scaled` (benchmarks/scaled.py): the percentile it
reports, the capacity arithmetic (CPU per order, the 2-to-1 ratio the cores
allow), the haproxy configuration, and the wrk Lua script, run by a real wrk
against a small local server that records what it was sent."""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from benchmarks import scaled
from benchmarks.machine import percentile


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile(values, 7) == 7.0      # 7 * 100 / 100 is not 7.000…1
    assert percentile(values[:20], 95) == 19.0  # ceil(19.0)
    assert percentile(values[:21], 95) == 20.0  # ceil(19.95)
    assert percentile(values[:10], 0) == 1.0


def test_cpu_per_unit_and_the_ratio_the_cores_allow():
    per_order = scaled.cpu_ms_per_unit({"api": 6.0, "postgres": 1.5, "wrk": 0.5}, 1000)
    assert per_order == {"api": 6.0, "postgres": 1.5, "wrk": 0.5}
    assert scaled.cpu_ms_per_unit({"api": 1.0}, 0) == {"api": 0.0}
    # two cores, 6 of 8 ms per order in the API: 2 * 6 / 8 = 1.5, below 1.6
    assert scaled.ratio_bound(per_order, "api", cores=2) == 1.5
    assert scaled.cores_for_ratio(per_order, "api", 1.6) == pytest.approx(2.13, abs=0.01)
    # with cores to spare two processes are bounded by their own two cores
    assert scaled.ratio_bound(per_order, "api", cores=16) == 2.0
    assert scaled.ratio_bound({"api": 0.0}, "api", cores=2) is None
    # 100 orders/s at 50 a core, cores loaded to 70 %: 100 / 35
    assert scaled.capacity(50, 100) == pytest.approx(100 / 35)


def test_rates_over_several_runs_add_orders_and_seconds():
    runs = [scaled.ApiRun(processes=1, clients=32, threads=2, seconds=10, orders=1000),
            scaled.ApiRun(processes=1, clients=32, threads=2, seconds=10, orders=1400),
            scaled.ApiRun(processes=2, clients=32, threads=2, seconds=20, orders=3600)]
    assert scaled.rates_by_processes(runs) == {1: 120.0, 2: 180.0}


def test_a_wrk_result_fills_a_run():
    run = scaled.ApiRun(processes=2, clients=32, threads=2, seconds=10)
    run.cpu = {"wall_s": 10.0, "cpu_seconds": {"api": 12.0, "postgres_backends": 3.0},
               "other_cpu_seconds": 1.0}
    line = scaled.WRK_MARK + json.dumps({
        "requests": 2010, "duration_us": 10_000_000,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 10, "timeout": 0},
        "latency_us": {"p50": 150000, "p95": 300000, "p99": 400000, "max": 900000,
                       "mean": 160000.0},
        "statuses": {"201": 2000, "503": 10}})
    scaled.fill_api_run(run, scaled.parse_wrk_output("Running 10s test\n" + line + "\n"))
    assert run.orders == 2000 and run.orders_per_s == 200.0
    assert run.non_201 == {"503": 10} and run.socket_errors == {"status": 10}
    assert (run.p50_ms, run.p95_ms, run.max_ms) == (150.0, 300.0, 900.0)
    assert run.cpu_ms_per_order == {"api": 6.0, "postgres_backends": 1.5}
    assert run.cpu_percent == {"api": 120.0, "postgres_backends": 30.0, "other": 10.0}
    with pytest.raises(ValueError, match="no WRK_JSON"):
        scaled.parse_wrk_output("wrk: connection refused")


def test_haproxy_config_balances_every_server_with_health_checks():
    cfg = scaled.haproxy_config(18000, [18001, 18002])
    assert "bind 127.0.0.1:18000" in cfg
    assert "option httpchk GET /health" in cfg
    servers = [line.split() for line in cfg.splitlines() if line.strip().startswith("server ")]
    assert [s[1:3] for s in servers] == [["api-1", "127.0.0.1:18001"],
                                         ["api-2", "127.0.0.1:18002"]]
    assert all("check" in s for s in servers)


def test_lua_strings_are_escaped():
    assert scaled.lua_string('a"b\\c') == '"a\\"b\\\\c"'
    assert scaled.lua_string("x\ny") == '"x\\010y"'
    assert scaled.lua_string("网格") == '"网格"'
    with pytest.raises(ValueError):
        scaled.wrk_script("t", ["grid:a"], "bad id")


class _Recorder(BaseHTTPRequestHandler):
    """Answers 201 to every POST and keeps its headers and body."""

    seen: list[tuple[str, dict[str, str], bytes]] = []
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            self.seen.append((self.path, dict(self.headers), body))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (make bench-deps)")
def test_the_wrk_script_posts_a_new_order_with_its_own_key_each_time(tmp_path: Path):
    _Recorder.seen = []
    _Recorder.protocol_version = "HTTP/1.1"  # keep-alive, as wrk expects
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        areas = ["grid:t0-g0", "grid:t1-g3"]
        script = tmp_path / "orders.lua"
        script.write_text(scaled.wrk_script("secret-token", areas, "run1"))
        figures, wrk_cpu = scaled.run_wrk(f"http://127.0.0.1:{httpd.server_port}", script,
                                          clients=2, threads=2, seconds=1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    seen = _Recorder.seen
    assert len(seen) >= 10
    # what wrk reports is what the server answered
    assert figures["statuses"] == {"201": figures["requests"]}
    assert abs(figures["requests"] - len(seen)) <= 2  # requests cut off at the end
    assert wrk_cpu >= 0
    keys = [headers["Idempotency-Key"] for _, headers, _ in seen]
    assert len(set(keys)) == len(keys), "every request has its own Idempotency-Key"
    assert all(k.startswith("run1-") for k in keys)
    bodies = [json.loads(body) for _, _, body in seen]
    assert len({b["description"] for b in bodies}) == len(bodies)
    assert len({b["reporter_ref"] for b in bodies}) == len(bodies)
    for path, headers, _ in seen:
        assert path == "/api/v1/orders"
        assert headers["Authorization"] == "Bearer secret-token"
        assert headers["Content-Type"] == "application/json"
    for body in bodies:
        assert body["area_code"] in areas
        assert body["category"] in scaled.CATEGORIES
        assert body["description"].startswith("基准测试")
        assert body["reporter_ref"].startswith("tg:")


def test_capacity_plan_arithmetic():
    rates = scaled.Rates(conversations_per_rasa_core_s=10.0, orders_per_api_core_s=200.0,
                         postgres_ms_per_order=2.0, calls_per_voice_core=3.0)
    # 876,000 requests a year: 100 an hour on average, 300 in the peak hour
    plan = scaled.capacity_plan(876_000, 1.0, rates, peak_factor=3.0, call_seconds=288.0,
                                phone_share=1.0, utilization=0.7)
    assert plan["requests_per_year"] == 876_000
    assert plan["mean_per_hour"] == 100.0 and plan["peak_per_hour"] == 300.0
    peak = 300 / 3600
    assert plan["peak_per_s"] == round(peak, 3)
    assert plan["calls_at_once"] == round(peak * 288, 1)  # 24 calls at once
    assert plan["cores"]["rasa"] == round(peak / 10 / 0.7, 3)
    assert plan["cores"]["api"] == round(peak / 200 / 0.7, 3)
    assert plan["cores"]["postgres"] == round(peak * 0.002 / 0.7, 3)
    with_tracker = scaled.capacity_plan(876_000, 1.0, scaled.Rates(
        10.0, 200.0, 2.0, 3.0, postgres_ms_per_conversation=12.0))
    assert with_tracker["cores"]["postgres"] == round(peak * 0.014 / 0.7, 3)
    assert plan["cores"]["voice"] == round(24 / 3 / 0.7, 2)
    # half the requests by phone: half the recognizers
    half = scaled.capacity_plan(876_000, 1.0, rates, phone_share=0.5)
    assert half["calls_at_once"] == 12.0


def test_published_volumes_give_requests_per_resident():
    assert scaled.requests_per_resident("beijing_2023") == pytest.approx(0.980, abs=0.001)
    assert scaled.requests_per_resident("shanghai_2023") == pytest.approx(0.365, abs=0.001)
    assert scaled.requests_per_resident("hengdong_2025q1") == pytest.approx(0.146, abs=0.001)


def test_rates_come_from_the_results():
    scaled_result = {
        "dialogue": {"conversations_per_rasa_cpu_second": 9.5},
        "api": {"api_orders_per_core_s": 180.0, "cpu_ms_per_order": {"postgres_backends": 1.6}},
    }
    voice_result = {"calls_in_real_time": 6, "machine": {"cores": 2}}
    assert scaled.rates_from_results(scaled_result, voice_result) == scaled.Rates(9.5, 180.0,
                                                                                  1.6, 3.0)
    phases = [{"conversations": 100, "http_errors": 0,
               "cpu": {"cpu_seconds": {"rasa": 20.0, "postgres": 1.0}}},
              {"conversations": 300, "http_errors": 0,
               "cpu": {"cpu_seconds": {"rasa": 60.0, "postgres": 4.0}}}]
    scaled_result["dialogue"] = {"phases": phases}
    rates = scaled.rates_from_results(scaled_result, voice_result)
    assert rates.conversations_per_rasa_core_s == 5.0
    assert rates.postgres_ms_per_conversation == 12.5


def test_rasa_rate_counts_only_phases_rasa_served():
    phases = [{"conversations": 100, "http_errors": 0, "cpu": {"cpu_seconds": {"rasa": 20.0}}},
              {"conversations": 300, "http_errors": 0, "cpu": {"cpu_seconds": {"rasa": 60.0}}},
              # the balancer refused most turns: Rasa spent little on many conversations
              {"conversations": 800, "http_errors": 2000, "cpu": {"cpu_seconds": {"rasa": 10.0}}}]
    assert scaled.rasa_rate_per_core(phases) == 5.0
    assert scaled.rasa_rate_per_core(phases[2:]) is None
