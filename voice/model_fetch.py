"""`make vosk-model`: download the Chinese Vosk model, check it, unpack it.

    python -m voice.model_fetch                  # download into models/vosk/
    python -m voice.model_fetch --from-zip PATH  # a zip fetched elsewhere

The zip's SHA-256 is pinned: on a mismatch the download is deleted and
nothing is unpacked. Prints ``VOSK_MODEL_PATH=<model folder>`` on stdout
(progress and errors go to stderr): ``export $(make -s vosk-model)``.

The pin is the SHA-256 of alphacephei.com's vosk-model-small-cn-0.22.zip
(43,898,754 bytes; the site's model list gives the same size and the MD5
d1a8e82933dcc7632667c036b0bb3dbb), as recorded by several independent
projects that download and verify that file.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import httpx

ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "vosk-model-small-cn-0.22"
MODEL_URL = f"https://alphacephei.com/vosk/models/{MODEL_NAME}.zip"
MODEL_SHA256 = "3af8b0e7e0f835ae9d414ce5df580237a3cfb08d586c9fbbb0f7ff29ad5b14ba"
DEST = ROOT / "models" / "vosk"
#: Written into the unpacked folder: the checksum of the zip it came from.
MARKER = ".verified-sha256"
#: What makes an unpacked folder a Vosk model (new and old layouts).
MODEL_FILES = ("am/final.mdl", "final.mdl")
MAX_UNPACKED_BYTES = 2 * 1024 ** 3


class FetchError(Exception):
    """The model could not be fetched, checked or unpacked."""


class ChecksumMismatch(FetchError):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, target: Path, *, timeout: float = 30.0) -> Path:
    """``url`` into ``target`` (through a ``.part`` file, so a broken download leaves nothing)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    try:
        with httpx.stream("GET", url, follow_redirects=True, timeout=timeout) as response:
            if response.status_code != httpx.codes.OK:
                raise FetchError(f"cannot download {url}: HTTP {response.status_code}")
            with part.open("wb") as out:
                for chunk in response.iter_bytes(1 << 20):
                    out.write(chunk)
    except httpx.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise FetchError(
            f"cannot download {url}: {exc or type(exc).__name__}. If this machine cannot reach "
            f"that site, download {url.rsplit('/', 1)[-1]} on one that can, copy it here and run "
            f"`python -m voice.model_fetch --from-zip PATH` (its SHA-256 must be the pinned one)"
        ) from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(target)
    return target


def verify(archive: Path, expected: str, *, delete: bool) -> None:
    """Raise ``ChecksumMismatch`` (deleting ``archive`` if ``delete``) unless it hashes to ``expected``."""
    actual = sha256_of(archive)
    if actual != expected.lower():
        if delete:
            archive.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"checksum mismatch for {archive.name}: SHA-256 {actual}, expected {expected}"
            + (" (the file was deleted)" if delete else "") + "; nothing was unpacked")


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack a model zip (one top folder, no paths leaving it) into ``dest``; the model folder."""
    with zipfile.ZipFile(archive) as zipped:
        entries = zipped.infolist()
        tops = {PurePosixPath(e.filename).parts[0] for e in entries if e.filename.strip("/")}
        if len(tops) != 1:
            raise FetchError(f"{archive.name} should hold one model folder, it holds {sorted(tops)}")
        top = tops.pop()
        for entry in entries:
            parts = PurePosixPath(entry.filename).parts
            if entry.filename.startswith("/") or ".." in parts or "\\" in entry.filename:
                raise FetchError(f"{archive.name} has an unsafe path: {entry.filename!r}")
        if sum(e.file_size for e in entries) > MAX_UNPACKED_BYTES:
            raise FetchError(f"{archive.name} unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest, prefix=".unpack-") as scratch:
            zipped.extractall(scratch)
            unpacked = Path(scratch) / top
            if not any((unpacked / name).is_file() for name in MODEL_FILES):
                raise FetchError(f"{archive.name} is not a Vosk model (no am/final.mdl)")
            folder = dest / top
            if folder.exists():
                shutil.rmtree(folder)
            unpacked.replace(folder)
    return folder


def install(archive: Path, sha256: str, dest: Path, *, delete_on_mismatch: bool) -> Path:
    verify(archive, sha256, delete=delete_on_mismatch)
    folder = unpack(archive, dest)
    (folder / MARKER).write_text(sha256.lower() + "\n")
    return folder


def fetch(url: str = MODEL_URL, sha256: str = MODEL_SHA256, dest: Path = DEST) -> Path:
    """The model folder: already there and verified, or downloaded, checked and unpacked."""
    name = url.rsplit("/", 1)[-1]
    folder = dest / name.removesuffix(".zip")
    marker = folder / MARKER
    if marker.is_file() and marker.read_text().strip() == sha256.lower():
        return folder
    archive = dest / name
    if not archive.is_file():
        print(f"downloading {url} ...", file=sys.stderr)
        download(url, archive)
    folder = install(archive, sha256, dest, delete_on_mismatch=True)
    archive.unlink()
    return folder


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voice.model_fetch",
                                     description="Fetch and unpack the Chinese Vosk model.")
    parser.add_argument("--from-zip", type=Path, metavar="PATH",
                        help="unpack this zip (checked against the pin) instead of downloading")
    parser.add_argument("--url", default=MODEL_URL)
    parser.add_argument("--sha256", default=MODEL_SHA256,
                        help="expected SHA-256 of the zip (default: the pinned "
                             f"{MODEL_NAME}.zip)")
    parser.add_argument("--dest", type=Path, default=DEST)
    args = parser.parse_args(argv)
    try:
        if args.from_zip is not None:
            if not args.from_zip.is_file():
                raise FetchError(f"no such file: {args.from_zip}")
            # the caller's own file: never deleted, even if it does not match
            folder = install(args.from_zip, args.sha256, args.dest, delete_on_mismatch=False)
        else:
            folder = fetch(args.url, args.sha256, args.dest)
    except (FetchError, zipfile.BadZipFile, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Vosk model ready in {folder}: set VOSK_MODEL_PATH to it", file=sys.stderr)
    print(f"VOSK_MODEL_PATH={folder.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
