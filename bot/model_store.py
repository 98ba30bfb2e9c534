"""The trained model, keyed on a hash of everything that shapes it.

Rasa's own training cache does not notice edits of the jieba dictionary, so
the model file is named after a SHA-256 of its inputs: config.yml, the domain,
stories and rules, the NLU data (jieba dictionary included), the custom
components' code and the pinned Rasa requirements. A changed input means a new
name, and `ensure` retrains with --force.

    python -m bot.model_store path      # the model path for the current inputs
    python -m bot.model_store ensure    # train unless that model exists; print its path

Standard library only: the launcher (Python 3.11) and the Rasa side (3.10)
both use it.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
KEEP_MODELS = 3
INPUTS = (
    "config.yml",
    "bot/domain.yml",
    "bot/data",
    "nlu_data",
    "bot/components",
    "requirements-rasa.txt",
)
TRAIN_ARGS = ("--config", "config.yml", "--domain", "bot/domain.yml", "--data", "nlu_data", "bot/data")


def input_files(root: Path = ROOT) -> list[Path]:
    files: list[Path] = []
    for name in INPUTS:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p for p in path.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
            )
    return sorted(files)


def inputs_hash(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for path in input_files(root):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_name(root: Path = ROOT) -> str:
    return f"zh-{inputs_hash(root)}"


def model_path(root: Path = ROOT) -> Path:
    return root / "models" / f"{model_name(root)}.tar.gz"


def rasa_executable() -> str:
    local = ROOT / ".venv-rasa" / "bin" / "rasa"
    if local.exists():
        return str(local)
    found = shutil.which("rasa")
    if not found:
        sys.exit("error: rasa is not installed; run `make venvs` first")
    return found


def train(root: Path = ROOT) -> Path:
    """Train into a temporary folder, then move the model into place atomically."""
    target = model_path(root)
    target.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [rasa_executable(), "train", *TRAIN_ARGS, "--out", tmp,
               "--fixed-model-name", model_name(root), "--force"]
        print(f"training {target.name} ...", file=sys.stderr)
        # Rasa prints progress on stdout; keep our stdout for the model path.
        result = subprocess.run(cmd, cwd=root, env=env, stdout=sys.stderr)
        if result.returncode != 0:
            sys.exit(f"error: rasa train failed with exit code {result.returncode}")
        os.replace(Path(tmp) / target.name, target)
    print(f"trained {target.name} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    prune(target.parent, keep=target)
    return target


def prune(models: Path, keep: Path) -> None:
    """Keep the newest few models so that rolling back stays cheap."""
    old = sorted(models.glob("zh-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in [p for p in old if p != keep][KEEP_MODELS - 1:]:
        path.unlink(missing_ok=True)


@contextlib.contextmanager
def training_lock(models: Path):
    """One training at a time per models folder: `make test` asks for the model from
    both of its parallel branches, and a second `make run` may start beside the first.
    Whoever comes second waits, then finds the model the first one trained."""
    models.mkdir(parents=True, exist_ok=True)
    with open(models / ".training.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("another process is training a model here; waiting for it ...", file=sys.stderr)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure(root: Path = ROOT) -> Path:
    path = model_path(root)
    if path.exists():
        return path
    with training_lock(path.parent):
        return path if path.exists() else train(root)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "path"
    if command == "path":
        print(model_path())
    elif command == "ensure":
        print(ensure())
    elif command == "train":
        with training_lock(model_path().parent):
            print(train())
    elif command == "hash":
        print(inputs_hash())
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
