#!/usr/bin/env bash
# Print the path of a working Python 3.10 interpreter (the Rasa side needs it:
# Rasa Open Source 3.6 supports Python 3.8-3.10 only). Tries, in order:
# $PYTHON310, python3.10 on PATH, pyenv, uv. Exits 1 with advice otherwise.
set -u

works() { "$@" -c 'import sys, venv; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1; }
resolve() { "$@" -c 'import sys; print(sys.executable)'; }

if [ -n "${PYTHON310:-}" ] && works "$PYTHON310"; then resolve "$PYTHON310"; exit 0; fi
if command -v python3.10 >/dev/null 2>&1 && works python3.10; then resolve python3.10; exit 0; fi
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for candidate in $(ls -d "$root"/versions/3.10.* 2>/dev/null | sort -rV); do
  if works "$candidate/bin/python3.10"; then echo "$candidate/bin/python3.10"; exit 0; fi
done
if command -v uv >/dev/null 2>&1; then
  found=$(uv python find 3.10 2>/dev/null) && works "$found" && { echo "$found"; exit 0; }
fi
cat >&2 <<'MSG'
error: Python 3.10 was not found, and the Rasa side needs it (Rasa 3.6 runs on Python 3.8-3.10).
Install one of these, then run the command again:
  pyenv install 3.10.13        (https://github.com/pyenv/pyenv)
  uv python install 3.10       (https://docs.astral.sh/uv/)
  apt-get install python3.10 python3.10-venv   (where your distribution has it)
or point PYTHON310 at an interpreter: PYTHON310=/path/to/python3.10 make run
MSG
exit 1
