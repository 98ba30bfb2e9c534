"""voice/model_fetch.py: pinned checksum, unpacking, and failing clearly offline."""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from voice import model_fetch
from voice.model_fetch import MODEL_SHA256, MODEL_URL, main


def model_zip(path: Path, top: str = "vosk-model-test", extra: dict[str, bytes] | None = None) -> str:
    """A small zip laid out like a Vosk model; its SHA-256."""
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(f"{top}/", b"")
        zipped.writestr(f"{top}/am/final.mdl", b"acoustic model")
        zipped.writestr(f"{top}/conf/model.conf", b"--beam=10\n")
        for name, data in (extra or {}).items():
            zipped.writestr(name, data)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www; counts requests."""
    www = tmp_path / "www"
    www.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(www), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", www, requests
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_pin_is_the_small_chinese_model():
    assert MODEL_URL == "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip"
    assert len(MODEL_SHA256) == 64 and int(MODEL_SHA256, 16)


def test_download_checks_unpacks_and_prints_the_path(server, tmp_path, capsys):
    base, www, requests = server
    digest = model_zip(www / "vosk-model-test.zip")
    dest = tmp_path / "models"
    args = ["--url", f"{base}/vosk-model-test.zip", "--sha256", digest, "--dest", str(dest)]
    assert main(args) == 0
    folder = dest / "vosk-model-test"
    assert (folder / "am" / "final.mdl").read_bytes() == b"acoustic model"
    assert (folder / ".verified-sha256").read_text().strip() == digest
    assert not (dest / "vosk-model-test.zip").exists(), "the zip is removed once unpacked"
    assert capsys.readouterr().out.strip() == f"VOSK_MODEL_PATH={folder.resolve()}"
    # a second run finds the verified folder and downloads nothing
    assert main(args) == 0
    assert requests == ["/vosk-model-test.zip"]


def test_a_checksum_mismatch_deletes_the_download_and_unpacks_nothing(server, tmp_path, capsys):
    base, www, _ = server
    model_zip(www / "vosk-model-test.zip")
    dest = tmp_path / "models"
    code = main(["--url", f"{base}/vosk-model-test.zip", "--sha256", "0" * 64, "--dest", str(dest)])
    assert code == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "deleted" in err
    assert list(dest.iterdir()) == []


def test_an_unreachable_site_fails_with_a_clear_message(tmp_path, capsys):
    dest = tmp_path / "models"
    url = f"http://127.0.0.1:{closed_port()}/vosk-model-small-cn-0.22.zip"
    assert main(["--url", url, "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert f"cannot download {url}" in err
    assert "--from-zip" in err
    assert not dest.exists() or list(dest.iterdir()) == []


def test_http_errors_are_reported(server, tmp_path, capsys):
    base, _, _ = server
    assert main(["--url", f"{base}/missing.zip", "--dest", str(tmp_path / "m")]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_from_zip_checks_the_pin_and_keeps_the_callers_file(tmp_path, capsys):
    archive = tmp_path / "vosk-model-test.zip"
    digest = model_zip(archive)
    dest = tmp_path / "models"
    assert main(["--from-zip", str(archive), "--dest", str(dest)]) == 1  # not the pinned zip
    assert "checksum mismatch" in capsys.readouterr().err
    assert archive.exists() and not (dest / "vosk-model-test").exists()
    assert main(["--from-zip", str(archive), "--sha256", digest, "--dest", str(dest)]) == 0
    assert (dest / "vosk-model-test" / "am" / "final.mdl").is_file()
    assert archive.exists()


@pytest.mark.parametrize("extra", [{"../evil.txt": b"x"}, {"vosk-model-test/../../evil": b"x"},
                                   {"other-top/file": b"x"}])
def test_unsafe_or_odd_archives_are_refused(tmp_path, capsys, extra):
    archive = tmp_path / "bad.zip"
    digest = model_zip(archive, extra=extra)
    assert main(["--from-zip", str(archive), "--sha256", digest, "--dest", str(tmp_path / "m")]) == 1
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "evil").exists()


def test_a_zip_without_a_model_is_refused(tmp_path, capsys):
    archive = tmp_path / "notes.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("notes/readme.txt", b"hello")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert main(["--from-zip", str(archive), "--sha256", digest, "--dest", str(tmp_path / "m")]) == 1
    assert "not a Vosk model" in capsys.readouterr().err
    assert not (tmp_path / "m" / "notes").exists()


def test_verify_reads_the_file_in_chunks(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x01" * (3 * (1 << 20) + 5))
    assert model_fetch.sha256_of(big) == hashlib.sha256(big.read_bytes()).hexdigest()
