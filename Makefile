# One-command set-up, run, test and benchmarks. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV  := .venv
RVENV := .venv-rasa
APP_PYTHON ?= python3
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONPATH := $(CURDIR)
export SQLALCHEMY_SILENCE_UBER_WARNING := 1

RASA_DATA := --domain bot/domain.yml --data nlu_data bot/data --config config.yml

.PHONY: probe help venvs voice-deps model run test test-rasa test-app test-scaled lint validate classify bench bench-nlu bench-dispatch bench-api bench-dialogue bench-telegram bench-voice bench-console vosk-model eval-voice clean

help:
	@echo "make run       set up what is missing, train if needed, start everything"
	@echo "make run-scaled  every process doubled behind haproxy, on PostgreSQL, Redis, RabbitMQ"
	@echo "make test      all tests, both environments (what CI runs)"
	@echo "make lint      ruff and mypy (make test-app runs it first)"
	@echo "make bench     all benchmarks (bench-nlu ...); results in benchmarks/results/"
	@echo "make bench-warnings  研判预警: planted repeats, disputes, surges in 90 simulated days (~5 min)"
	@echo "make classify  < messages.txt: one JSON line per message, from the served model"
	@echo "make model     train the model if its inputs changed"
	@echo "make validate  rasa data validate"
	@echo "make probe     play the attacker of issue 12 against a running make run"

# --- environments ------------------------------------------------------------
# Set-up output goes to stderr so that `make classify` keeps stdout clean.
venvs: voice-deps $(VENV)/.installed $(RVENV)/.installed

# Debian packages, installed with apt-get as root (through sudo otherwise; without
# either, the error says what to install). $(call deb-install,CHECK,PACKAGES,WHAT):
# CHECK is a shell test that is true when they are there. apt-get waits up to
# 5 min for another apt-get's lock (make -j2 may run two of these at once).
define deb-install
	@$(1) && exit 0; \
	  if [ "$$(id -u)" = 0 ]; then su=; elif command -v sudo >/dev/null 2>&1; then su=sudo; else su=none; fi; \
	  if [ "$$su" = none ] || ! command -v apt-get >/dev/null 2>&1; then \
	    echo "error: $(3) needs the Debian packages $(2): install them (apt-get install $(2)), then run make again" >&2; \
	    exit 1; fi; \
	  echo "installing $(2) ($(3))" >&2; \
	  apt="$$su env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300"; \
	  $$apt install -y --no-install-recommends $(2) >&2 \
	    || { $$apt update >&2 && $$apt install -y --no-install-recommends $(2) >&2; } \
	    || { echo "error: could not install $(2); install them by hand: apt-get install $(2)" >&2; exit 1; }
endef

# espeak-ng speaks the phone line's replies (voice/tts.py).
voice-deps:
	$(call deb-install,command -v espeak-ng >/dev/null 2>&1,espeak-ng,the phone line)

# haproxy balances the doubled processes of `make run-scaled` (and its tests, tests/app/scaled/).
.PHONY: scaled-deps run-scaled
scaled-deps:
	$(call deb-install,command -v haproxy >/dev/null 2>&1,haproxy,the scaled system)

# Debian's chromium and chromium-driver (and fonts-noto-cjk, to draw Chinese):
# the console's browser tests (tests/app/console/browser/) drive the system
# browser through Playwright (never `playwright install`).
BROWSER_PACKAGES := chromium chromium-driver fonts-noto-cjk
.PHONY: browser-deps
browser-deps:
	$(call deb-install,command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1 && test -n "$$(fc-list :lang=zh family 2>/dev/null)",$(BROWSER_PACKAGES),the console's browser tests)

$(VENV)/.installed: requirements.txt
	@$(APP_PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: the application side needs Python 3.11 or newer (set APP_PYTHON)")' >&2
	@echo "creating $(VENV) (application side, $$($(APP_PYTHON) --version))" >&2
	@test -x $(VENV)/bin/python || $(APP_PYTHON) -m venv $(VENV) >&2
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt >&2
	@touch $@

$(RVENV)/.installed: requirements-rasa.txt
	@py=$$(tools/find-python310.sh) || exit 1; \
	  echo "creating $(RVENV) (Rasa side, $$($$py --version))" >&2; \
	  test -x $(RVENV)/bin/python || $$py -m venv $(RVENV) >&2
	@$(RVENV)/bin/pip install -q --disable-pip-version-check -r requirements-rasa.txt >&2
	@touch $@

# --- model -------------------------------------------------------------------
# Keyed on a hash of config, domain, stories, NLU data, the jieba dictionary
# and the custom components (bot/model_store.py), so edits always retrain.
model: $(RVENV)/.installed
	@$(RVENV)/bin/python -m bot.model_store ensure >&2

# The phone line's Chinese speech model (vosk-model-small-cn-0.22, SHA-256
# pinned) into models/vosk/; prints VOSK_MODEL_PATH=... Without access to
# alphacephei.com: .venv/bin/python -m voice.model_fetch --from-zip PATH
vosk-model: $(VENV)/.installed
	@$(VENV)/bin/python -m voice.model_fetch

# --- run ---------------------------------------------------------------------
run: venvs model
	@$(VENV)/bin/python tools/run.py

# every process doubled behind haproxy, on PostgreSQL, Redis and RabbitMQ (README: Scaled)
run-scaled: venvs scaled-deps model
	@$(VENV)/bin/python tools/scaled.py

# the trust-boundary probe: every attempt and its answer (needs a running `make run`)
probe: $(VENV)/.installed
	@rc=0; $(VENV)/bin/python tools/probe.py || rc=1; $(VENV)/bin/python tools/probe_api.py || rc=1; exit $$rc

# --- tests -------------------------------------------------------------------
# The two sides run at once (each mostly waits on servers it started), their
# output kept apart (-O); the application side in two xdist workers, a test
# module per worker at a time (module-scoped stacks and servers stay shared).
# At the end it repeats every failure and skip of both sides (tools/test_summary.py),
# from the JUnit reports each run writes to .test-results/.
RESULTS := .test-results
test:
	@rm -rf $(RESULTS); rc=0; \
	  $(MAKE) --no-print-directory -j2 -O test-rasa-then-scaled test-app || rc=$$?; \
	  python3 tools/test_summary.py $(RESULTS) || true; exit $$rc

# the Rasa side's tests also start the work-order API from the application side
test-rasa: $(RVENV)/.installed $(VENV)/.installed model
	$(RVENV)/bin/python -m pytest -q tests/rasa --junitxml=$(RESULTS)/rasa.xml

test-app: voice-deps browser-deps bench-deps $(VENV)/.installed lint $(RVENV)/.installed model
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadscope tests/app --ignore=tests/app/scaled \
	  --junitxml=$(RESULTS)/app.xml

# the scaled system's tests share ONE stack (two of every process, ~2 min to start), so
# they run in one process; in `make test` after the Rasa side, beside the application side
.PHONY: test-scaled test-rasa-then-scaled
test-scaled: voice-deps scaled-deps $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m pytest -q tests/app/scaled --junitxml=$(RESULTS)/scaled.xml

# the scaled tests run even when a Rasa-side test failed (both results are wanted)
test-rasa-then-scaled:
	@rc=0; $(MAKE) --no-print-directory test-rasa || rc=1; \
	  $(MAKE) --no-print-directory test-scaled || rc=1; exit $$rc

# ruff (style, imports, bugbear, pyupgrade) on everything, mypy on the
# application packages; configured in pyproject.toml
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

validate: $(RVENV)/.installed
	$(RVENV)/bin/rasa data validate $(RASA_DATA)

# --- classifier --------------------------------------------------------------
classify: $(RVENV)/.installed model
	@$(RVENV)/bin/python -m bot.classify

# --- benchmarks --------------------------------------------------------------
bench: bench-nlu bench-dispatch bench-api bench-dialogue bench-telegram bench-voice bench-console
bench: bench-warnings
bench: bench-scaled

bench-nlu: $(RVENV)/.installed model
	$(RVENV)/bin/python -m benchmarks.nlu

bench-dispatch: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.dispatch_sim

# needs PostgreSQL for the PostgreSQL half (127.0.0.1:5432, or TEST_POSTGRES_URL)
bench-api: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.api

# the whole embedded stack (tools/stack.py) replaying tests/app/e2e/conversations.yml
bench-dialogue: $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m benchmarks.dialogue

# the Telegram channel through a Bot API emulator: relay rate, update-to-reply p95, tickets/s
bench-telegram: $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m benchmarks.telegram

# Chinese speech recognition on ../shared/audio/zh: CER at 16 and 8 kHz, and
# intent/category of the tts_* transcripts; needs a Chinese Vosk model
# (VOSK_MODEL_PATH or make vosk-model), exits non-zero without one
eval-voice: $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m benchmarks.eval_voice

clean:
	rm -rf var models .pytest_cache

# the phone line: decoding real-time factor, calls kept in real time, end of speech -> first reply audio
bench-voice: voice-deps $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m benchmarks.voice

# the staff pages' server time (console, or its API equivalents) at 10,000 and 100,000
# orders; needs PostgreSQL for the PostgreSQL half (127.0.0.1:5432, or TEST_POSTGRES_URL)
bench-console: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.console

# 研判预警: 90 simulated days of a county's reports with planted repeats, escalating disputes
# and surges, through the real service on SQLite; recall/precision per kind, time to warning,
# false alarms (benchmarks/results/warnings.json). QUICK=1: 7 days, a smoke test.
.PHONY: bench-warnings
bench-warnings: $(VENV)/.installed
	$(VENV)/bin/python -m benchmarks.warnings_sim $(if $(QUICK),--quick)

# wrk, the API load generator of bench-scaled (a compiled tool: it leaves the cores to the server).
.PHONY: bench-deps
bench-deps:
	$(call deb-install,command -v wrk >/dev/null 2>&1,wrk,bench-scaled)

# the scaled system through haproxy: conversations/s and turn p50/p95 with 1 and 2 Rasa
# instances at 8, 16, 32 residents (tools/scaled_stack.py), and orders/s with 1 and 2 API
# processes on PostgreSQL at 32 wrk connections (benchmarks/results/scaled.json; see
# docs/scaling.md). Needs PostgreSQL, Redis, RabbitMQ. QUICK=1: a smoke run.
.PHONY: bench-scaled
bench-scaled: bench-deps scaled-deps $(VENV)/.installed $(RVENV)/.installed model
	$(VENV)/bin/python -m benchmarks.scaled $(if $(QUICK),--quick)
