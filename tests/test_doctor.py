"""csup doctor against stand-in processes with known connections: the findings and the commands that fix them."""

from __future__ import annotations

import json
import socket
import subprocess
import threading

from conftest import CSUP, Env, finish, ready_pid


def _doctor(env: Env) -> tuple[int, dict[str, object]]:
    result = subprocess.run([*CSUP, "doctor", "--json"], env=env.vars, capture_output=True, text=True, timeout=30)
    return result.returncode, json.loads(result.stdout)


def _listener() -> tuple[socket.socket, int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    return server, server.getsockname()[1]


def test_doctor_is_quiet_when_all_is_well(env: Env) -> None:
    code, report = _doctor(env)
    assert code == 0 and report["needs_action"] is False and report["processes"] == []
    # The machine's own load and memory are not this test's to control; nothing about sessions is reported.
    for finding in report["findings"]:  # type: ignore[union-attr]
        assert finding["severity"] == "ok" or finding["code"] in ("load-elsewhere", "low-memory", "no-notifications")


def test_doctor_reports_strays_with_their_connections_and_the_fix(env: Env) -> None:
    server, port = _listener()
    try:
        child = env.csup("run", "--allow-unmanaged", "--claude", str(env.program()))
        managed = ready_pid(child)
        stray = env.stray()
        stray.send(f"connect {port} 12\r".encode())
        stray.expect(b"connected 12")
        code, report = _doctor(env)
        assert code == 1 and report["needs_action"] is True
        kinds = {p["pid"]: p for p in report["processes"]}  # type: ignore[union-attr]
        assert kinds[managed]["kind"] == "managed" and kinds[stray.pid]["kind"] == "unmanaged"
        assert kinds[stray.pid]["tcp_connections"] == 12 and kinds[managed]["tcp_connections"] == 0
        assert kinds[stray.pid]["rss_bytes"] > 0 and kinds[stray.pid]["age_seconds"] >= 0
        findings = {f["what"]: f["fix"] for f in report["findings"]}  # type: ignore[union-attr]
        assert any("outside csup" in what and "csup takeover" in fix for what, fix in findings.items())
        assert any(f"pid {stray.pid} holds 12 TCP connections" in what for what in findings)
        text = subprocess.run([*CSUP, "doctor"], env=env.vars, capture_output=True, text=True, timeout=30).stdout
        assert "✗" in text and "→ csup takeover" in text and f"pid {stray.pid}" in text
        finish(child)
    finally:
        server.close()
