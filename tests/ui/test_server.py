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


def _request(url: str, data: bytes | None = None, headers: dict | None = None, method: str = "GET"):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def _post_file(url: str, name: str, content: bytes, kind: str, headers: dict | None = None):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            f"Content-Type: {kind}\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", **(headers or {})}
    return _request(url + "gradio_api/upload", body, headers, "POST")


def _upload(url: str, size: int) -> int:
    return _post_file(url, "big.mp4", b"\0" * size, "video/mp4")[0]


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


PAGE = b"<html><body><script>fetch('/gradio_api/upload')</script>evil</body></html>"


def _stored(root, suffix: str) -> list:
    return [p for p in root.rglob(f"*{suffix}") if p.is_file()]


def test_an_html_upload_is_not_stored(app, tmp_path):
    _, url, _ = app
    status, _, body = _post_file(url, "page.html", PAGE, "text/html")
    assert status == 415 and b"only video files" in body
    assert _stored(tmp_path / "ws", ".html") == []  # nothing kept, not even for a moment's reuse
    status, _, body = _post_file(url, "clip.mp4", b"\0" * 100, "video/mp4")
    assert status == 200 and body.decode().count(".mp4") == 1


def test_files_are_never_served_as_active_content(app, tmp_path):
    """A page that reached the workspace anyway (any way at all) downloads inert; media play inline."""
    _, url, _ = app
    results = tmp_path / "ws" / "results" / "r"
    results.mkdir(parents=True)
    (results / "page.html").write_bytes(PAGE)
    (results / "icon.svg").write_bytes(b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>')
    (results / "result.mp4").write_bytes(b"\0" * 100)
    for name in ("page.html", "icon.svg"):
        status, headers, body = _request(f"{url}gradio_api/file={results / name}")
        assert status == 200 and body.startswith(b"<")
        assert headers["content-type"] == "application/octet-stream", headers
        assert headers["content-disposition"] == "attachment"
        assert headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in headers["content-security-policy"]
        assert "unsafe-inline" not in headers["content-security-policy"]
    status, headers, _ = _request(f"{url}gradio_api/file={results / 'result.mp4'}")
    assert status == 200 and headers["content-type"] == "video/mp4"  # the page's players still work
    assert headers["x-content-type-options"] == "nosniff"


def test_cross_origin_requests_are_refused(app, tmp_path):
    _, url, _ = app
    evil = {"Origin": "http://evil.example"}
    status, _, _ = _post_file(url, "clip.mp4", b"\0" * 100, "video/mp4", evil)
    assert status == 403
    assert _stored(tmp_path / "ws", ".mp4") == []
    status, _, _ = _request(
        url + "gradio_api/queue/join", b"{}", {**evil, "Content-Type": "application/json"}, "POST"
    )
    assert status == 403
    status, _, _ = _request(url + "gradio_api/info", headers={"Sec-Fetch-Site": "cross-site"})
    assert status == 403
    # the page itself (same origin) is served as before
    same = {"Origin": url.rstrip("/")}
    assert _post_file(url, "clip.mp4", b"\0" * 100, "video/mp4", same)[0] == 200
    assert _request(url)[0] == 200
