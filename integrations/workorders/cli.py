"""``python -m integrations.workorders <command>``: the operators' tool of the work-order service.

    migrate                       upgrade the schema to the newest revision
    downgrade --to REV            downgrade the schema (outside development: also --yes)
    create-staff --username U --role R [--handler-id N] [--areas a,b] [--telegram-chat-id X]
                                  an API account; its token is printed once, only its hash kept
    link-code --handler-id N | --username U
                                  a one-time code (24 h) that links a Telegram chat to a person
    load-demo [--force | --if-empty]
                                  the demo data set (``demo.py``) into a database without orders;
                                  prints each new account's password and token once
    add-alias CODE ALIAS          another name of a grid (a street, a landmark)
    set-fallback-area CODE        the grid that receives reports whose place matches no grid
    verify-audit [--number N]     check the hash chains of the orders' histories
    sweep [--once] [--interval S] the time-limit sweeper (several may run at once); each
                                  pass (at most every 10 min) also removes expired staged
                                  photos, delivered outbox rows past retention and old Rasa
                                  conversations
    rotate-key [--batch N]        re-encrypt every encrypted column under the current key
                                  (old keys in WORKORDERS_OLD_SECRET_KEYS) and recompute hashes
    show-order NUMBER             one order: status, assignee, deadlines, history
    scan-warnings                 one 研判预警 scan (surges, disputes at risk); the sweeper
                                  runs it on every pass too

Settings come from ``WORKORDERS_*`` (``settings.py``) and are built once, in
``main``; ``--database-url`` overrides ``WORKORDERS_DATABASE_URL``. This module
is the only place that reads the clock; the service gets ``now`` from here.

Exit codes: 0 done (or nothing to do), 1 refused or failed (the reason on
stderr), 2 bad usage or configuration, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from integrations.shared.privacy import PrivacyKeyError, install_log_redaction, redact
from integrations.shared.startup import StartupRefused, check_start
from integrations.shared.tracker_retention import make_tracker_engine, prune_trackers

from .adapters.db import downgrade, make_engine, migrate, normalize_url
from .bootstrap import App, bootstrap
from .demo import database_contents, load_demo, new_password
from .domain.errors import DomainError
from .domain.numbers import normalize as normalize_number
from .service import (
    CHINA_TZ,
    InvalidInput,
    NotFound,
    SweepReport,
    add_alias,
    create_staff_user,
    get_area,
    get_handler,
    get_order,
    history,
    issue_link_code,
    list_orders,
    messages,
    reporter_contact,
    run_time_limits,
    set_fallback_area,
    set_password,
    verify_audit,
)
from .service.rekey import DEFAULT_BATCH as REKEY_BATCH
from .service.rekey import RekeyReport, TableCount, rotate_key
from .service.retention import RetentionReport, run_retention
from .service.staff import STAFF_ROLES
from .service.views import SATISFACTION_LABELS
from .service.warning_scan import ScanReport, run_warning_scan
from .settings import Settings, load_settings

log = logging.getLogger("integrations.workorders.cli")

TOKEN_NOTE = ("This token cannot be shown again; store it now. "
              "此令牌只显示这一次，无法再次查看，请立即妥善保存。")

DEMO_CREDENTIALS_NOTE = ("These passwords and tokens cannot be shown again; store them now. "
                         "这些密码和令牌只显示这一次，无法再次查看，请立即妥善保存。")

OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


def utc_now() -> datetime:
    """The real clock (read here only; the service is given ``now``)."""
    return datetime.now(UTC)


# ------------------------------------------------------------------------ parsing


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m integrations.workorders",
        description="Operate the work-order service: schema, staff accounts, demo data, "
                    "place aliases, audit, time limits.",
    )
    parser.add_argument("--database-url", default=None,
                        help="overrides WORKORDERS_DATABASE_URL")
    parser.add_argument("--log-level", default="INFO", type=str.upper,
                        choices=("DEBUG", "INFO", "WARNING", "ERROR"), help="default INFO")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("migrate", help="upgrade the database schema to the newest revision")
    p.set_defaults(run=cmd_migrate)

    p = commands.add_parser("downgrade", help="downgrade the database schema to a revision")
    p.add_argument("--to", required=True, metavar="REV",
                   help="target revision: an id, 'base' (drops every table) or '-1'")
    p.add_argument("--yes", action="store_true",
                   help="confirm (required outside development mode: a downgrade can drop data)")
    p.set_defaults(run=cmd_downgrade)

    p = commands.add_parser("create-staff", help="create an API account and print its token once")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=STAFF_ROLES)
    p.add_argument("--handler-id", type=int, default=None,
                   help="the handler this account acts as (required for --role handler)")
    p.add_argument("--areas", type=_area_list, default=(), metavar="CODE,CODE",
                   help="area codes the account sees (dispatcher, supervisor), any tier")
    p.add_argument("--telegram-chat-id", default=None,
                   help="where a dispatcher hears about queued orders")
    p.add_argument("--password-stdin", action="store_true",
                   help="also set a sign-in password, read as one line from standard input")
    p.set_defaults(run=cmd_create_staff)

    p = commands.add_parser("set-password",
                            help="set a staff account's sign-in password (argon2id hash only)")
    p.add_argument("--username", required=True)
    p.add_argument("--password-stdin", action="store_true", required=True,
                   help="read the password as one line from standard input (never an argument)")
    p.set_defaults(run=cmd_set_password)

    p = commands.add_parser("link-code",
                            help="print a one-time code that links a Telegram chat to a person")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--handler-id", type=int,
                     help="a handler (mediator, grid worker or community staff member)")
    who.add_argument("--username", help="a staff account (dispatcher, supervisor, admin)")
    p.set_defaults(run=cmd_link_code)

    p = commands.add_parser("load-demo", help="load the demo data set into an empty database")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true",
                      help="add the demo next to existing areas and handlers (never next to "
                           "work orders; nothing existing is changed)")
    mode.add_argument("--if-empty", action="store_true",
                      help="load only into an empty database, else do nothing and exit 0")
    p.set_defaults(run=cmd_load_demo)

    p = commands.add_parser("add-alias",
                            help="add another name of a grid (a street, a landmark)")
    p.add_argument("code", help="the grid's area code, e.g. grid:cg-xingfuli")
    p.add_argument("alias", help="the other name, e.g. 人民路")
    p.set_defaults(run=cmd_add_alias)

    p = commands.add_parser("set-fallback-area",
                            help="the grid that receives reports whose place matches no grid")
    p.add_argument("code", help="the grid's area code")
    p.set_defaults(run=cmd_set_fallback_area)

    p = commands.add_parser("hash-caller-refs",
                            help="replace phone callers' plain voice:<number> ids by voice:h: "
                                 "keyed hashes (the number kept only as the encrypted contact)")
    p.set_defaults(run=cmd_hash_caller_refs)

    p = commands.add_parser("verify-audit", help="verify the hash chains of order histories")
    p.add_argument("--number", default=None, help="check this order only")
    p.set_defaults(run=cmd_verify_audit)

    p = commands.add_parser("sweep", help="run the time-limit sweeper")
    p.add_argument("--once", action="store_true", help="sweep once and exit")
    p.add_argument("--interval", type=_positive_seconds, default=30.0, metavar="SECONDS",
                   help="seconds between sweeps (default 30)")
    p.set_defaults(run=cmd_sweep)

    p = commands.add_parser(
        "rotate-key",
        help="re-encrypt personal data under the current key and recompute lookup hashes")
    p.add_argument("--batch", type=int, default=REKEY_BATCH, metavar="ROWS",
                   help=f"rows per transaction (default {REKEY_BATCH})")
    p.set_defaults(run=cmd_rotate_key)

    p = commands.add_parser("scan-warnings",
                            help="run one 研判预警 scan: surges and disputes at risk")
    p.set_defaults(run=cmd_scan_warnings)

    p = commands.add_parser("show-order", help="show one order with its history")
    p.add_argument("number", help="the order number (8 digits)")
    p.set_defaults(run=cmd_show_order)
    return parser


def _area_list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(code.strip() for code in text.split(",") if code.strip()))


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None) -> int:
    """Run one command; returns the exit code. ``settings`` replaces ``load_settings()``."""
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level)
    try:
        if settings is None:
            settings = load_settings()
        if args.database_url:
            settings = settings.model_copy(update={"database_url": args.database_url})
    except ValidationError as exc:
        return _error(f"invalid settings: {redact(str(exc))}", USAGE)
    command: Callable[[argparse.Namespace, Settings], int] = args.run
    try:
        check_start(f"workorders {args.command}", development=settings.development,
                    secret_key=settings.secret_key, log=log)
    except StartupRefused as exc:
        return _error(str(exc), USAGE)
    try:
        return command(args, settings)
    except PrivacyKeyError as exc:
        return _error(str(exc), USAGE)
    except DomainError as exc:  # the service's and the domain's own errors
        return _error(_reason(exc), FAILED)
    except OSError as exc:  # e.g. the taxonomy file is missing
        return _error(redact(str(exc)), FAILED)
    except SQLAlchemyError as exc:
        log.debug("database error", exc_info=True)
        return _error(_database_error(exc), FAILED)
    except KeyboardInterrupt:
        return _error("interrupted", INTERRUPTED)


def configure_logging(level: str) -> None:
    """Log lines on stderr with phone numbers masked (no-op if logging is configured)."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()


def _error(message: str, code: int) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def _reason(exc: DomainError) -> str:
    return f"{exc.reason} ({exc.reason_zh})" if exc.reason_zh else exc.reason


def _database_error(exc: SQLAlchemyError) -> str:
    # The driver's message, not SQLAlchemy's, which would repeat the statement's parameters.
    detail = redact(str(getattr(exc, "orig", None) or type(exc).__name__).splitlines()[0])
    hint = ""
    if "no such table" in detail or "does not exist" in detail:
        hint = " (has the schema been created? run `migrate`)"
    return f"database error: {detail}{hint}"


@contextmanager
def _app(settings: Settings) -> Iterator[App]:
    app = bootstrap(settings)  # refuses the example key outside development
    try:
        yield app
    finally:
        app.dispose()


def _shown_url(settings: Settings) -> str:
    return normalize_url(settings.database_url).render_as_string(hide_password=True)


# ------------------------------------------------------------------------- schema


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    migrate(settings.database_url)
    print(f"database {_shown_url(settings)} is at revision {_current_revision(settings)}")
    return OK


def cmd_downgrade(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.development and not args.yes:
        return _error(
            "refusing to downgrade outside development mode without --yes "
            "(a downgrade can drop tables and their data)", FAILED,
        )
    downgrade(settings.database_url, args.to)
    print(f"database {_shown_url(settings)} is at revision {_current_revision(settings)}")
    return OK


def _current_revision(settings: Settings) -> str:
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(settings.database_url, pool_size=1, max_overflow=0)
    quiet = logging.getLogger("alembic.runtime.migration")
    level = quiet.level
    quiet.setLevel(max(level, logging.WARNING))  # not "Context impl ..." once more
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
    finally:
        quiet.setLevel(level)
        engine.dispose()
    return ", ".join(heads) or "base (no tables)"


# -------------------------------------------------------------------------- staff


def cmd_create_staff(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        for code in args.areas:
            get_area(app.uow(), code)  # NotFound: a typo would make an account that sees nothing
        if args.role == "handler" and args.handler_id is None:
            raise InvalidInput("handler_id", "--role handler needs --handler-id",
                               "处理人员账号须关联处理人员（--handler-id）。")
        password = _password_from_stdin() if args.password_stdin else None
        token = secrets.token_urlsafe(32)
        account = create_staff_user(
            app.uow(), args.username, args.role, token, utc_now(),
            areas=args.areas, handler_id=args.handler_id,
            telegram_chat_id=args.telegram_chat_id,
        )
        if password is not None:
            set_password(app.uow(), account.username, password)
    log.info("created staff account %r (id %s, role %s)", account.username, account.id,
             account.role)
    print(token)
    print(TOKEN_NOTE)
    return OK


def _password_from_stdin() -> str:
    """One line of standard input, without its line end (a password is never an argument)."""
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput("password", "no password on standard input", "请从标准输入提供密码。")
    return line.rstrip("\r\n")


def cmd_set_password(args: argparse.Namespace, settings: Settings) -> int:
    password = _password_from_stdin()
    with _app(settings) as app:
        account = set_password(app.uow(), args.username, password)
    log.info("password set for staff account %r", account.username)
    print(f"password set for {account.username}")
    return OK


LINK_CODE_NOTE = ("Send this code to the bot within 24 hours (valid until {until}, Beijing "
                  "time); it works once. 请在24小时内（{until}前）把绑定码发给机器人，仅能使用一次。")


def cmd_link_code(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        view = issue_link_code(app.uow(), utc_now(), handler_id=args.handler_id,
                               username=args.username, created_by="cli")
    who = f"handler {view.handler_id}" if view.kind == "handler" else f"staff {view.username!r}"
    log.info("issued a Telegram link code for %s", who)
    print(view.code)
    print(LINK_CODE_NOTE.format(until=_time(view.expires_at)))
    return OK


# --------------------------------------------------------------------------- demo


def cmd_load_demo(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.development:
        # production starts empty: invented handlers must never receive real reports
        print("error: the demo data set is for development mode only "
              "(WORKORDERS_DEVELOPMENT=true)", file=sys.stderr)
        return FAILED
    with _app(settings) as app:
        contents = database_contents(app.uow())
        if args.if_empty and not contents.is_empty:
            print(f"database already has data ({contents.areas} areas, {contents.handlers} "
                  f"handlers, {contents.orders} orders): demo data not loaded")
            return OK
        # load_demo refuses a database with orders, or with areas/handlers unless forced
        result = load_demo(app.uow(), utc_now(), force=args.force,
                           with_staff=settings.development,
                           make_password=new_password if settings.development else None)
    print(f"demo data loaded: {len(result.areas_added)} areas, {len(result.handlers_added)} "
          f"handlers, {len(result.staff_added)} staff accounts, "
          f"{len(result.aliases_added)} place aliases")
    if result.fallback_set is not None:
        print(f"fallback area for unplaced reports: {result.fallback_set}")
    kept = [(len(result.areas_kept), "areas"), (len(result.handlers_kept), "handlers"),
            (len(result.staff_kept), "staff accounts"),
            (len(result.aliases_kept), "place aliases")]
    if any(n for n, _ in kept):
        print("kept as they were: " + ", ".join(f"{n} {what}" for n, what in kept if n))
    if result.staff_added:
        print("staff accounts (sign in at /console/ with the password; "
              "send the token as 'Authorization: Bearer <token>'):")
        width = max(len(account.username) for account, _ in result.staff_added)
        for account, token in result.staff_added:
            password = result.staff_passwords.get(account.username, "-")
            print(f"  {account.username:<{width}}  {account.role:<10}  {password:<16}  {token}")
        print(DEMO_CREDENTIALS_NOTE if result.staff_passwords else TOKEN_NOTE)
    return OK


# ------------------------------------------------------------------------ places


def cmd_add_alias(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        area = add_alias(app.uow(), args.code, args.alias)
    print(f"{area.name}（{area.code}）aliases: {'、'.join(area.aliases)}")
    return OK


def cmd_set_fallback_area(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        area = set_fallback_area(app.uow(), args.code)
    print(f"fallback area for unplaced reports: {area.name}（{area.code}）")
    return OK


# ------------------------------------------------------------------------ callers


def cmd_hash_caller_refs(args: argparse.Namespace, settings: Settings) -> int:
    from .service.caller_refs import hash_legacy_caller_refs

    with _app(settings) as app:
        counts = hash_legacy_caller_refs(app.uow())
    print("phone callers now voice:h: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return OK


# -------------------------------------------------------------------------- audit


def cmd_verify_audit(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        number = None if args.number is None else normalize_number(args.number) or args.number
        broken = verify_audit(app.uow(), number)
        checked = 1 if number is not None else list_orders(app.uow(), limit=1).total
    if not broken:
        print(f"audit chain intact ({checked} orders)")
        return OK
    for number, seq in broken:
        print(f"order {number}: audit chain broken at event seq {seq}")
    print(f"audit chain BROKEN in {len(broken)} of {checked} orders")
    return FAILED


# -------------------------------------------------------------------------- sweep


class _StopFlag:
    """Set by SIGTERM/SIGINT; a second signal interrupts at once."""

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.info("%s: stopping after the current sweep", signal.Signals(signum).name)

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking within 0.2 s of a stop request."""
        deadline = time.monotonic() + seconds
        while not self.requested:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.2))


@contextmanager
def _signals_set(handler: Callable[[int, FrameType | None], Any]) -> Iterator[None]:
    previous: dict[signal.Signals, Any] = {}
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not the main thread (e.g. called from a test's thread)
        pass
    try:
        yield
    finally:
        for restored, old in previous.items():
            signal.signal(restored, old)


def cmd_sweep(args: argparse.Namespace, settings: Settings) -> int:
    stop = _StopFlag()
    with _app(settings) as app, _signals_set(stop):
        trackers = (None if settings.tracker_database_url is None
                    else make_tracker_engine(settings.tracker_database_url))
        try:
            if args.once:
                report = run_time_limits(app.uow, utc_now())
                _log_report(report)
                scan = _scan_warnings(app)
                _retention(app, settings, trackers)
                return FAILED if report.failed or scan.failed else OK
            log.info("sweeper started (every %g s)", args.interval)
            _sweep_loop(app, settings, trackers, stop, args.interval)
        finally:
            if trackers is not None:
                trackers.dispose()
        log.info("sweeper stopped")
    return OK


#: Retention (photos, outbox, trackers) runs at most this often in the sweeper's loop.
RETENTION_EVERY_S = 600.0


def _sweep_loop(app: App, settings: Settings, trackers: Engine | None, stop: _StopFlag,
                interval: float) -> None:
    retention_due = time.monotonic()
    while not stop.requested:
        try:
            _log_report(run_time_limits(app.uow, utc_now()))
            _scan_warnings(app)
            if time.monotonic() >= retention_due:
                _retention(app, settings, trackers)
                retention_due = time.monotonic() + RETENTION_EVERY_S
        except SQLAlchemyError as exc:  # e.g. the database restarting: try again later
            log.error("sweep failed, retrying in %g s: %s", interval, _database_error(exc))
        except DomainError as exc:
            log.error("sweep failed, retrying in %g s: %s", interval, exc.reason)
        stop.sleep(interval)


def _scan_warnings(app: App) -> ScanReport:
    """One 研判预警 scan, logged when it found something; a failure of the scan is logged
    and never stops the sweeper's time limits."""
    try:
        report = run_warning_scan(app.uow, utc_now())
    except Exception:  # noqa: BLE001 (the time limits go on; the error is in the log)
        log.exception("warning scan failed")
        return ScanReport(failed=1)
    if report.total or report.updated or report.moved or report.failed:
        log.log(logging.WARNING if report.failed else logging.INFO,
                "warnings: %d surge, %d dispute risk raised; %d updated; %d moved up%s; "
                "%d failed", report.surge, report.dispute_risk, report.updated,
                len(report.moved), f" ({', '.join(report.moved[:10])})" if report.moved else "",
                report.failed)
    return report


def cmd_scan_warnings(args: argparse.Namespace, settings: Settings) -> int:
    with _app(settings) as app:
        report = _scan_warnings(app)
    print(f"surge {report.surge}, dispute_risk {report.dispute_risk}, updated {report.updated}, "
          f"moved {len(report.moved)}, failed {report.failed}")
    return FAILED if report.failed else OK


def _retention(app: App, settings: Settings, trackers: Engine | None) -> RetentionReport:
    """Expired staged photos, old delivered outbox rows, and old conversations in Rasa's store."""
    now = utc_now()
    report = run_retention(app.uow(), now)
    if report.staged_photos_removed or report.outbox_rows_pruned:
        log.info("retention: %d expired staged photos removed, %d delivered outbox rows pruned",
                 report.staged_photos_removed, report.outbox_rows_pruned)
    if trackers is not None:
        prune_trackers(trackers, now.timestamp(), settings.tracker_retention_days)
    return report


def describe_report(report: SweepReport) -> str | None:
    """One line of what a sweep did, or None if it did nothing."""
    parts = []
    for name in ("accept_timeouts", "escalated", "overdue", "closed_no_answer", "archived",
                 "reminders", "dispatched", "failed"):
        numbers: list[str] = getattr(report, name)
        if numbers:
            more = f", +{len(numbers) - 10}" if len(numbers) > 10 else ""
            shown = ", ".join(numbers[:10]) + more
            parts.append(f"{name} {len(numbers)} ({shown})")
    return "sweep: " + "; ".join(parts) if parts else None


def _log_report(report: SweepReport) -> None:
    line = describe_report(report)
    if line is not None:
        log.log(logging.WARNING if report.failed else logging.INFO, "%s", line)


# --------------------------------------------------------------------- rotate-key


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    if args.batch < 1:
        return _error("--batch must be at least 1", USAGE)
    with _app(settings) as app:
        vault = app.config.vault
        log.info("re-encrypting under key id %s (%d old key(s) configured)",
                 vault.key_id, len(settings.old_keys))

        def progress(table: str, count: TableCount) -> None:
            log.debug("%s: %d scanned, %d re-keyed", table, count.scanned, count.rekeyed)

        from .service.caller_refs import rekey_caller_refs

        report = rotate_key(app.session_factory, vault, batch=args.batch, progress=progress,
                            rekey_refs=rekey_caller_refs)
    _print_rekey_report(report)
    if report.failed:
        print(f"error: {report.failed} row(s) hold values no configured key decrypts; add the key "
              "they were written with to WORKORDERS_OLD_SECRET_KEYS and run rotate-key again",
              file=sys.stderr)
        return FAILED
    return OK


def _print_rekey_report(report: RekeyReport) -> None:
    print(f"current key id {report.key_id}")
    for table, c in report.tables.items():
        print(f"  {table}: {c.scanned} rows, {c.rekeyed} re-encrypted, {c.current} already "
              f"current, {c.failed} failed, {c.changed_meanwhile} changed meanwhile")
    refs = ("not re-keyed (no re-keyer wired)" if report.refs_rekeyed is None
            else f"{report.refs_rekeyed} re-keyed")
    print(f"  pseudonymous reporter refs: {refs}")


# --------------------------------------------------------------------- show-order

PRIORITY_LABELS = {"normal": "普通", "urgent": "紧急"}


def cmd_show_order(args: argparse.Namespace, settings: Settings) -> int:
    now = utc_now()
    with _app(settings) as app:
        order = get_order(app.uow(), args.number)
        events = history(app.uow(), order.number)
        contact = reporter_contact(app.uow(), order.number)  # masked
        try:
            area = f"{get_area(app.uow(), order.area_code).name}（{order.area_code}）"
        except NotFound:
            area = order.area_code
        kind = app.config.taxonomy.kind_name(order.kind)
        assignee = "（无）"
        if order.assignee_id is not None:
            handler = get_handler(app.uow(), order.assignee_id)
            role = messages.ROLE_NAMES.get(handler.role, handler.role)
            assignee = (f"{handler.name}（#{handler.id}，{role}，"
                        f"层级：{messages.tier_name(handler.tier)}，"
                        f"负荷 {handler.load}/{handler.capacity}）")
    if order.anonymous:
        reporter = f"匿名（{messages.channel_name(order.reporter_channel)}）"
    else:
        reporter = (f"{messages.channel_name(order.reporter_channel)}，"
                    f"联系电话：{contact or '未留'}")
    lines = [
        f"工单 {order.number}  {order.category_name}（{kind}，"
        f"{order.category}）  {PRIORITY_LABELS.get(order.priority, order.priority)}",
        f"状态：{order.status_label}（{order.status}）  层级："
        f"{messages.tier_name(order.tier)}" + ("  曾超时" if order.breached else ""),
        f"区域：{area}",
        f"地点：{redact(order.location_text)}",
        f"描述：{redact(order.description)}",
        f"处理人：{assignee}",
        f"签收时限：{_deadline(order.accept_by, now, done_at=order.accepted_at, done='签收')}",
        f"办结时限：{_deadline(order.resolve_by, now, done_at=order.resolved_at, done='办结')}",
        f"反映人：{reporter}",
        f"满意度：{SATISFACTION_LABELS.get(order.satisfaction or '', '—')}",
        f"创建：{_time(order.created_at)}  更新：{_time(order.updated_at)}（北京时间）",
        "历史：",
    ]
    for e in events:
        change = f"{e.from_status or '—'}→{e.to_status}"
        note = f"  {redact(e.note)}" if e.note else ""
        lines.append(f"  {e.seq:>3}  {_time(e.at)}  {e.action_label}（{e.action}）  "
                     f"{e.actor}  {change}{note}")
    print("\n".join(lines))
    return OK


def _time(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def _deadline(at: datetime | None, now: datetime, *, done_at: datetime | None, done: str) -> str:
    if done_at is not None:
        return f"已于 {_time(done_at)} {done}" + ("" if at is None else f"（时限 {_time(at)}）")
    if at is None:
        return "—"
    return _time(at) + ("  已超时" if at <= now else "")


if __name__ == "__main__":
    sys.exit(main())
