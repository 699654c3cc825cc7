"""The server's safe defaults, checked on a running app (no browser): loopback only, no share link,
nothing fetched from the internet at startup, a Content-Security-Policy, the upload size limit."""

from __future__ import annotations

import ipaddress
import os
import socket
import urllib.error
import urllib.request
import uuid

import pytest

pytest.importorskip("gradio", reason="the ui extra is not installed (pip install -e '.[ui]')")


def _loopback(host) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture
def app(tmp_path, monkeypatch):
    """``launch(block=False)`` in this process, with every outgoing connection recorded."""
    from dancenow.ui.app import launch

    # launch sets these for the whole process; put them back afterwards (monkeypatch.delenv of an
    # absent name records nothing to restore, so save them by hand)
    names = ("GRADIO_ANALYTICS_ENABLED", "HF_HUB_DISABLE_TELEMETRY", "GRADIO_TEMP_DIR")
    saved = {name: os.environ.pop(name, None) for name in names}
    outside: list = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            outside.append(address)
            raise OSError("test: no network")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = launch(tmp_path / "ws", port=port, max_upload_mb=0.05, block=False)
    yield demo, f"http://127.0.0.1:{port}/", outside
    demo.close()
    demo.dancenow_jobs.shutdown()
    for name, value in saved.items():
        os.environ.pop(name, None)
        if value is not None:
            os.environ[name] = value


def test_safe_defaults(app, tmp_path):
    import gradio.analytics

    demo, url, outside = app
    assert demo.server_name == "127.0.0.1" and demo.share is False and demo.share_url is None
    assert demo.analytics_enabled is False and not gradio.analytics.analytics_enabled()
    with urllib.request.urlopen(url, timeout=10) as r:
        page = r.read().decode()
        policy = r.headers["content-security-policy"]
    assert "dancenow" in page
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "https:" not in policy
    assert (tmp_path / "ws" / "runs").is_dir()
    assert outside == [], f"the server reached for the network: {outside}"


def _upload(url: str, size: int) -> int:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + b"\0" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        url + "gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_upload_size_limit(app):
    _, url, _ = app
    assert _upload(url, 10_000) == 200  # under the 0.05 MB limit
    assert _upload(url, 200_000) == 413


def test_cli_ui_help_and_bad_options(cli, tmp_path):
    result = cli("ui", "--help")
    assert result.returncode == 0
    for option in ("--host", "--port", "--workspace", "--share", "--max-upload-mb", "127.0.0.1"):
        assert option in result.stdout
    cli.error(cli("ui", "--max-upload-mb", "0", "--workspace", tmp_path), "--max-upload-mb")
    (tmp_path / "file").write_text("x")
    cli.error(cli("ui", "--workspace", tmp_path / "file"), "file", "is not a folder")
