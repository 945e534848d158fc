"""The ``etl`` command: run the pipeline, generate sample data, manage services and secrets.

Every user error is one line on stderr and a documented exit code
(see ``etl/errors.py``); a traceback means a bug.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from etl.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, ConfigError, EtlError

log = logging.getLogger("etl")


_DATE_FORM = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")


def parse_date(text: str) -> date:
    """A YYYY-MM-DD date; one in that form that does not exist (2026-02-30) is said to be no real date."""
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        pass
    form = _DATE_FORM.fullmatch(text)
    if not form:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date in YYYY-MM-DD form")
    try:
        date(*map(int, form.groups()))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a real date ({exc})") from None
    raise argparse.ArgumentTypeError(f"'{text}' is not a real date")


def yesterday_utc() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


SECRETS_ACTIONS = ("init", "set", "list", "rotate", "check", "upgrade")
# The profile a user sets once for every command (``export ETL_PROFILE=dev``); --profile overrides it.
PROFILE_ENV = "ETL_PROFILE"
# `etl services` manages the loopback servers of the dev profile: its default when ETL_PROFILE is unset.
SERVICES_DEFAULT_PROFILE = "dev"
DASHBOARD_PORT = 8501           # Streamlit's own default
EXIT_CODES = ("Exit codes: 0 done, 1 other failure, 2 usage error (unknown option, bad value; "
              "nothing was run), 3 configuration or credential error, 4 data-quality threshold exceeded, "
              "5 another run holds the lock, 6 check-freshness: stale (docs/operations.md).")


class _Parser(argparse.ArgumentParser):
    """No abbreviated options (``--stage gold`` is not ``--stages gold``): a typo is a usage error
    (exit 2), never a different run. Subparsers are made of the same class (argparse's default)."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def _tcp_port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not a TCP port (1-65535)")
    return int(text)


def _with_profile(parser: argparse.ArgumentParser, default: str = "local") -> None:
    parser.add_argument("--profile", help=f"config profile in conf/ (default: ${PROFILE_ENV}, else {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="etl", description="The etl command: run the pipeline, generate sample data, "
                                             "manage services and secrets. Set the profile once with "
                                             f"`export {PROFILE_ENV}=dev`, or give --profile to a command.",
                     epilog=EXIT_CODES)
    _with_log_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the pipeline for one run date, or a backfill over several",
                              description="Run the pipeline (ingest, silver, gold, export) for one run date, "
                                          "or a backfill over several, one full run per date.")
    _with_profile(run)
    when = run.add_mutually_exclusive_group()
    when.add_argument("--date", type=parse_date, help="run date YYYY-MM-DD (default: yesterday in UTC)")
    when.add_argument("--from", dest="from_date", type=parse_date, metavar="D1",
                      help="backfill: first run date (with --to); one full run per date, in order, "
                           "stopping at the first failure")
    run.add_argument("--to", dest="to_date", type=parse_date, metavar="D2", help="backfill: last run date")
    run.add_argument("--dry-run", action="store_true",
                     help="list what each chosen stage would read and write, then stop: no Spark, "
                          "no lock, nothing written")
    run.add_argument("--stages", default="ingest,silver,gold,export",
                     help="comma-separated subset of ingest,silver,gold,export")
    run.add_argument("--rebuild", action="store_true",
                     help="recompute the gold facts from all of silver instead of only the changed months "
                          "(after a rule or formula change); the tables come out the same")
    run.add_argument("--trigger", help="what started the run, recorded in ops/runs (default: spark-submit under "
                                       "spark-submit, else cli; e.g. cron, airflow)")

    status = commands.add_parser("status", help="the last runs recorded in ops/runs, or one run in detail")
    _with_profile(status)
    status.add_argument("--run", metavar="RUN_ID", help="one run: per stage durations, per table rows and "
                                                       "Delta versions, the error")
    status.add_argument("--last", type=int, default=10, help="how many runs to list (default 10)")

    fresh = commands.add_parser("check-freshness", help="exit 0 when the newest succeeded run ended less than "
                                                        "--max-age ago, else exit 6 (for a monitor)")
    _with_profile(fresh)
    fresh.add_argument("--max-age", required=True, help="e.g. 26h, 90m, 2d, 30s")

    rollback = commands.add_parser("rollback", help="restore every gold table to before a run (Delta RESTORE) "
                                                    "and export gold to MySQL again")
    _with_profile(rollback)
    rollback.add_argument("--run", metavar="RUN_ID", required=True, help="the run to undo (see etl status)")

    export = commands.add_parser("export", help="redo only the export stage for a run date, from the gold "
                                                "Delta tables (e.g. after MySQL was down)")
    _with_profile(export)
    export.add_argument("target", choices=["mysql", "excel"], help="mysql: every gold table into MySQL; "
                                                                  "excel: the daily report")
    export.add_argument("--date", type=parse_date, help="run date YYYY-MM-DD (default: yesterday in UTC)")

    gen = commands.add_parser("generate", help="write sample landing files (and upload them)")
    _with_profile(gen)
    gen.add_argument("--start", type=parse_date,
                     help="first sales date (default: the days end yesterday in UTC, the default run date)")
    gen.add_argument("--days", type=int, default=3, help="how many consecutive sales dates (default 3)")
    gen.add_argument("--sales-per-day", type=int, default=40, help="sales rows per date (default 40)")
    gen.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same files "
                                                         "(default 7)")
    gen.add_argument("--customers", type=int, default=50, help="customers in the customer feed (default 50)")
    gen.add_argument("--stores", type=int, default=3, help="stores in the store feed (default 3)")
    gen.add_argument("--orders-per-day", type=int, default=20, help="orders per date in the order feed "
                                                                   "(default 20)")
    gen.add_argument("--events-per-day", type=int, default=20, help="orders per day in the order event feed")
    gen.add_argument("--feeds", default="all", help="comma-separated feeds, or 'all' (default) for all seven")
    gen.add_argument("--inject-defects", action="store_true", help="add every defect kind at a small rate")
    gen.add_argument("--drop-day", type=parse_date, action="append", default=[],
                     help="a date whose sales drop to a fifth (repeatable)")
    gen.add_argument("--out", type=Path, default=Path(".local/generated"), help="local folder for the files")
    gen.add_argument("--no-upload", action="store_true", help="only write locally, do not copy to landing")

    upload = commands.add_parser("upload", help="copy your own files into a feed's landing prefix")
    _with_profile(upload)
    upload.add_argument("path", type=Path, help="a file, or a folder whose files are all uploaded")
    upload.add_argument("--feed", required=True, help="the landing feed: stores, products, sales_team, "
                                                       "customers, sales, orders or order_events")
    upload.add_argument("--folder", default="", help="a sub-folder under the feed prefix, e.g. 2026-11-22")

    services = commands.add_parser("services", help="local MinIO and MariaDB for the dev profile")
    _with_profile(services, SERVICES_DEFAULT_PROFILE)
    services.add_argument("action", choices=["start", "stop", "status"],
                          help="start (installing and provisioning on first use), stop, or status "
                               "(exit 1 when a server is down)")

    sec = commands.add_parser(
        "secrets", help="the encrypted secrets file of a profile",
        description="init: new master key (if none) and an empty file; set NAME: store a value read from a "
                    "no-echo prompt or standard input, never from the command line; list: names only; "
                    "rotate: new master key, every value re-encrypted, the old key stops working; "
                    "check: every secret the profile's config refers to is present and decrypts; "
                    "upgrade: rewrite a format-1 file with every value bound to the profile "
                    "(docs/security.md, \"Secrets bound to their file\").")
    _with_profile(sec)
    sec.add_argument("action", choices=list(SECRETS_ACTIONS), help="what to do (see above)")
    sec.add_argument("name", nargs="?", help="secret name (for set); the value is read from stdin or a prompt")

    maintain = commands.add_parser(
        "maintain", help="compact (OPTIMIZE) and VACUUM every Delta table of the lake; report files and bytes",
        description="OPTIMIZE every Delta table under the lake (bronze, silver, gold, ops), then VACUUM with a "
                    "retention of ops.time_travel_days days (default 7): time travel keeps working that far "
                    "back. Prints files and bytes per table before and after. See docs/operations-maintenance.md.")
    _with_profile(maintain)
    maintain.add_argument("--tables", default="",
                          help="comma-separated <layer>/<table> names to maintain (default: every table)")

    dash = commands.add_parser(
        "dashboard", help="the dashboard on the gold tables MySQL serves (Streamlit), on loopback",
        description="Starts the Streamlit dashboard (etl/dashboard/app.py) over the profile's MySQL, read as the "
                    "read-only consumer account when the profile has one. Open the address it prints. "
                    "See docs/dashboard.md.")
    _with_profile(dash)
    dash.add_argument("--port", type=_tcp_port, default=DASHBOARD_PORT, help="port (default 8501)")
    dash.add_argument("--address", default="127.0.0.1",
                      help="address to listen on (default 127.0.0.1; the compose stack's container uses 0.0.0.0 "
                           "behind a port published on the host's loopback only)")

    commands.add_parser("jars", help="print the jar list for spark-submit --jars")
    for command in commands.choices.values():
        # Also after the subcommand: spark-submit jobs/daily_etl.py --log-format json ... puts `run` first.
        _with_log_options(command, argparse.SUPPRESS)
        command.epilog = command.epilog or EXIT_CODES
    return parser


def _with_log_options(parser: argparse.ArgumentParser, default) -> None:
    """--log-format and --log-level; a subcommand's copy has no default (SUPPRESS), so that it leaves the
    value given before the subcommand alone when it is not given itself."""
    parser.add_argument("--log-format", choices=["text", "json"], default=default,
                        help="log line format (default: $ETL_LOG_FORMAT, else the profile's log_format, else text)")
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], default=default,
                        help="lowest level logged (default: $ETL_LOG_LEVEL, else INFO)")


def log_settings(args, environ=None) -> tuple[str, str]:
    """(format, level) of the logs: the option, else ETL_LOG_FORMAT / ETL_LOG_LEVEL, else the profile's
    ``log_format`` (which ETL__LOG_FORMAT also sets), else text and INFO. A profile that cannot be read
    leaves text: the command itself reports it."""
    import os

    environ = os.environ if environ is None else environ
    fmt = args.log_format or environ.get("ETL_LOG_FORMAT", "").strip().lower() or None
    level = args.log_level or environ.get("ETL_LOG_LEVEL", "").strip().upper() or "INFO"
    if fmt is None:
        try:
            fmt = _config(args).log_format
        except EtlError:
            fmt = "text"
    if fmt not in ("text", "json"):
        raise ConfigError(f"ETL_LOG_FORMAT={fmt!r}: use text or json")
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"ETL_LOG_LEVEL={level!r}: use DEBUG, INFO, WARNING or ERROR")
    return fmt, level


def profile_of(args, default: str = "local") -> str:
    """--profile, else $ETL_PROFILE, else ``default``: the one rule of every subcommand."""
    return getattr(args, "profile", None) or os.environ.get(PROFILE_ENV) or default


def _config(args):
    from etl.config import load_config

    return load_config(profile_of(args))


def run_dates_of(args) -> tuple[date, date]:
    """The first and last run date of ``etl run``: --date D, --from D1 --to D2, or yesterday in UTC."""
    if (args.from_date is None) != (args.to_date is None):
        raise ConfigError("a backfill needs both --from D1 and --to D2 (or use --date D for one date)")
    if args.from_date is not None:
        if args.from_date > args.to_date:
            raise ConfigError(f"--from {args.from_date} is after --to {args.to_date}")
        return args.from_date, args.to_date
    day = args.date or yesterday_utc()
    return day, day


def stages_of(args):
    """The stage objects of ``--stages`` (etl/run/stages.py), as given."""
    from etl.run.stages import named

    return named(s.strip() for s in args.stages.split(",") if s.strip())


def cmd_run(args) -> int:
    from etl.run.backfill import run_dates
    from etl.run.plan import plan
    from etl.run.run import Run
    from etl.spark import running_under_spark_submit

    first, last = run_dates_of(args)
    stages = stages_of(args)
    cfg = _config(args)
    trigger = args.trigger or ("spark-submit" if running_under_spark_submit() else "cli")
    if args.dry_run:
        day = first
        while day <= last:
            run = Run(cfg, day, rebuild_gold=args.rebuild)
            run.preflight(stages)       # a dry run also says when the real one would stop on a secret
            print("\n".join(plan(run, stages)))
            day += timedelta(days=1)
        return EXIT_OK
    if args.from_date is not None:
        def report(summary) -> None:
            print("\n".join(summary.lines()), flush=True)
        summaries = run_dates(cfg, first, last, stages, rebuild_gold=args.rebuild, report=report,
                              trigger=args.trigger or "backfill")
        print(f"backfill {first}..{last}: {len(summaries)} run(s) done")
        return EXIT_OK
    run = Run(cfg, first, rebuild_gold=args.rebuild, trigger=trigger)
    try:
        run.execute(stages)
    finally:
        print("\n".join(run.summary.lines()))   # what was done, also when a stage stopped the run
    return EXIT_OK


def cmd_export(args) -> int:
    from etl.log import current_run_id
    from etl.run.run import Run
    from etl.run.stages import EXPORTS

    cfg = _config(args)
    if args.target == "mysql" and not cfg.mysql.enabled:
        raise ConfigError(f"mysql.enabled is false in profile '{cfg.profile}': there is no MySQL to export to "
                          f"(use --profile dev, or set ETL__MYSQL__ENABLED=true)")
    run = Run(cfg, args.date or yesterday_utc())
    stage = EXPORTS[args.target]
    token = current_run_id.set(run.run_id)
    try:
        run.preflight((stage,))
        with run.locked((stage,)):   # it writes MySQL / the exports bucket: not during a run
            log.info("run %s for %s: export %s only, from the gold Delta tables", run.run_id, run.run_date,
                     args.target)
            run.run_stage(stage)
    finally:
        current_run_id.reset(token)
        print("\n".join(run.summary.lines()))
    return EXIT_OK


def _run_records(cfg) -> list[dict]:
    """Every record of ops/runs, read with delta-rs (no Spark: a JVM costs 25-60 s for a small table),
    signed in as the reader of run records: the export identity, which reads the lake and writes
    nothing there (the run identity could also rewrite ops/runs and the lock; etl/access.py)."""
    from etl.run import records as runs
    from etl.secrets import open_secrets

    return runs.read_records(cfg, open_secrets(cfg).get)


def cmd_status(args) -> int:
    from etl.run import records as runs

    if not args.run and args.last < 1:
        raise ConfigError(f"--last {args.last}: give a positive number of runs")
    cfg = _config(args)
    records = _run_records(cfg)
    if args.run:
        print("\n".join(runs.detail_lines(runs.find_record(records, cfg, args.run))))
        return EXIT_OK
    last = runs.newest(records, args.last)
    print("\n".join(runs.status_lines(last)) if last else f"no run recorded yet in {runs.runs_uri(cfg)}")
    return EXIT_OK


def cmd_check_freshness(args) -> int:
    from etl.run import records as runs

    max_age = runs.parse_max_age(args.max_age)      # a bad value fails before anything is read
    cfg = _config(args)
    print(runs.check_freshness(runs.success_end(_run_records(cfg)), datetime.now(timezone.utc), max_age,
                               runs.runs_uri(cfg)))
    return EXIT_OK


def cmd_rollback(args) -> int:
    from etl.run.rollback import STEPS, RollbackRun

    run = RollbackRun(_config(args), args.run)
    try:
        run.execute(STEPS)
    finally:
        print("\n".join(run.lines()))
    return EXIT_OK


def devtool(name: str):
    """A development tool of ``devtools/`` (the sample-data generator, the local services manager). It
    lives beside the package in a clone of the repository (or under ETL_HOME, as in the compose stack's
    image) and is not installed with it: a production install runs the pipeline without them."""
    import importlib

    from etl.config import PROJECT_ROOT

    if not (PROJECT_ROOT / "devtools" / f"{name}.py").is_file():
        raise ConfigError(f"this is a development tool (devtools/{name}.py), found in a clone of the repository, "
                          f"not in an installed package: none under {PROJECT_ROOT}; run it from a clone, or set "
                          f"ETL_HOME to one")
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))       # after site-packages: it adds devtools, shadows nothing
    return importlib.import_module(f"devtools.{name}")


def cmd_generate(args) -> int:
    from etl.run.run import Run

    tool = devtool("generate")
    cfg = _config(args)
    landing = None
    if not args.no_upload:
        from etl.run.stages import INGEST
        from etl.storage import store_for

        # The ingest identity (landing is its area), not the default (root) pair: docs/security.md.
        landing = store_for(cfg, cfg.storage.landing, Run(cfg, yesterday_utc()).secret, INGEST.identity)
    start = args.start or yesterday_utc() - timedelta(days=args.days - 1)
    feeds = tool.ALL_FEEDS if args.feeds == "all" else tuple(f.strip() for f in args.feeds.split(",") if f.strip())
    opts = tool.GenerateOptions(start=start, days=args.days, sales_per_day=args.sales_per_day, seed=args.seed,
                                customers=args.customers, stores=args.stores, orders_per_day=args.orders_per_day,
                                events_orders_per_day=args.events_per_day, feeds=feeds,
                                defects=args.inject_defects, drop_days=tuple(args.drop_day))
    out = cfg.path(str(args.out))
    report = tool.generate(opts, out, landing)
    where = f" and uploaded to {cfg.storage.landing}" if landing else ""
    print(f"generated {len(report)} file(s) in {out}{where}")
    for feed, files in report.files.items():
        if files:
            print(f"  {feed:<13} {len(files)} file(s), {sum(files.values())} record(s)")
    return EXIT_OK


def cmd_upload(args) -> int:
    from tqdm import tqdm

    from etl.bronze.feeds import FEED_NAMES
    from etl.bronze.keys import key_problem, shown
    from etl.run.run import Run
    from etl.run.stages import INGEST
    from etl.storage import store_for

    if args.feed not in FEED_NAMES:
        raise ConfigError(f"unknown feed '{args.feed}': choose from {', '.join(FEED_NAMES)}")
    source = args.path.expanduser()
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        names = [p.relative_to(source).as_posix() for p in files]
    elif source.is_file():
        files, names = [source], [source.name]
    else:
        raise ConfigError(f"{source} is neither a file nor a folder")
    if not files:
        raise ConfigError(f"{source} holds no file to upload")
    base = "/".join(p.strip("/") for p in (args.feed, args.folder) if p.strip("/"))
    keys = [f"{base}/{name}" for name in names]
    # The names a run would reject unread (etl/bronze/keys.py): refused here, before anything is uploaded.
    unsafe = [(key, problem) for key in keys if (problem := key_problem(key))]
    if unsafe:
        key, problem = unsafe[0]
        raise ConfigError(f"refusing to upload '{shown(key)}': {problem}; rename the file or choose another --folder "
                          f"({len(unsafe)} such name(s), nothing was uploaded)")
    cfg = _config(args)
    # The ingest identity (landing is its area), not the default (root) pair: docs/security.md.
    landing = store_for(cfg, cfg.storage.landing, Run(cfg, date.today()).secret, INGEST.identity)
    waiting = [k for k in keys if landing.exists(k)]
    if waiting:
        raise ConfigError(f"{waiting[0]} is already in landing, waiting for the next run: "
                          f"rename the file or use --folder ({len(waiting)} such file(s))")
    for path, key in tqdm(list(zip(files, keys)), desc="uploading", unit="file", disable=len(files) < 2,
                          leave=False):
        landing.upload(path, key)
    print(f"uploaded {len(files)} file(s) to {cfg.storage.landing.rstrip('/')}/{base}/; "
          f"the next run ingests them")
    return EXIT_OK


def dashboard_command(profile: str, address: str, port: int) -> tuple[list[str], dict[str, str]]:
    """``streamlit run`` of the app and its environment: the profile by ETL_PROFILE, no telemetry, no
    file watcher, no browser opened by the server."""
    from etl.config import PROJECT_ROOT

    app = PROJECT_ROOT / "etl" / "dashboard" / "app.py"
    argv = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", address,
            "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none",
            "--browser.gatherUsageStats", "false", "--client.toolbarMode", "viewer", "--global.showWarningOnDirectExecution", "false"]
    return argv, {**os.environ, PROFILE_ENV: profile, "PYTHONPATH": str(PROJECT_ROOT)}


def cmd_dashboard(args) -> int:
    import subprocess

    cfg = _config(args)
    if not cfg.mysql.enabled:
        raise ConfigError(f"mysql.enabled is false in profile '{cfg.profile}': the dashboard reads MySQL "
                          f"(use --profile dev)")
    argv, env = dashboard_command(cfg.profile, args.address, args.port)
    print(f"dashboard: http://{args.address}:{args.port}/ (profile {cfg.profile}; Ctrl-C stops it)", flush=True)
    try:
        return subprocess.call(argv, env=env)
    except KeyboardInterrupt:
        return 0


def cmd_services(args) -> int:
    return devtool("services").run_services(load_config_for_services(args), args.action)


def load_config_for_services(args):
    from etl.config import load_config

    return load_config(profile_of(args, SERVICES_DEFAULT_PROFILE))


def cmd_secrets(args) -> int:
    from etl.secrets import SecretStore, key_configured, load_master_key, open_secrets, write_new_key_file

    cfg = _config(args)
    if args.name and args.action != "set":
        raise ConfigError(f"etl secrets {args.action} takes no secret name")
    if cfg.secrets.source == "folder":
        # The platform (Docker secrets, docker/.env) owns these values: list and check them, never write.
        if args.action not in ("list", "check"):
            raise ConfigError(f"profile '{cfg.profile}' reads its secrets from the folder {cfg.secrets.folder} "
                              f"(secrets.source: folder): set them where that folder is filled (docker/.env "
                              f"for the compose stack); `etl secrets {args.action}` only works on a secrets file")
        store = open_secrets(cfg)
        if args.action == "list":
            print("\n".join(store.names()))
            return EXIT_OK
        return _secrets_check(cfg, store)
    store = SecretStore(cfg.secrets_file, profile=cfg.profile)
    if args.action == "init":
        if store.path.exists():
            raise ConfigError(f"{store.path} already exists; remove it first to start over")
        if key_configured():
            load_master_key()   # a configured key that cannot be read is reported, never replaced
        else:
            path, _ = write_new_key_file()
            print(f"created master key {path} (mode 0600); keep it out of the repository and keep a copy "
                  f"somewhere safe: nothing can recreate it")
        store.init()
        print(f"created empty secrets file {store.path}")
    elif args.action == "set":
        _secrets_set(store, args.name)
    elif args.action == "list":
        print("\n".join(store.names()))
    elif args.action == "rotate":
        return _secrets_rotate(cfg, store)
    elif args.action == "upgrade":
        count = store.upgrade()
        print(f"{store.path} is already bound to profile '{cfg.profile}' (format 2)" if count is None else
              f"rewrote {store.path}: {count} secret(s) now bound to profile '{cfg.profile}' and their names "
              f"(format 2); copies of the old file still open with the same key until `etl secrets rotate`")
    else:
        return _secrets_check(cfg, store)
    return EXIT_OK


def _read_secret_value(name: str) -> str:
    """The value from a no-echo prompt (asked twice) on a terminal, else the whole of standard input."""
    if sys.stdin.isatty():
        value = getpass.getpass(f"value for {name} (not shown): ")
        if value and getpass.getpass("again, to confirm: ") != value:
            raise ConfigError(f"the two entries for secret '{name}' differ; nothing was stored")
        return value
    value = sys.stdin.read()
    return value[:-1] if value.endswith("\n") else value


def _secrets_set(store, name: str | None) -> None:
    from etl.secrets import validate_name

    if not name:
        raise ConfigError("etl secrets set NAME: the secret's name is missing (the value is then read from "
                          "a prompt or standard input)")
    validate_name(name)
    store.verify([])       # the file and the key are usable before a value is asked for
    value = _read_secret_value(name).rstrip("\r")
    if not value:
        raise ConfigError(f"no value given for secret '{name}': type it at the prompt or pipe it on stdin")
    store.set(name, value)
    print(f"stored secret '{name}' in {store.path}")


def _secrets_rotate(cfg, store) -> int:
    """A new master key for this profile's file and every other profile's file under the same key.

    Crash-safe and resumable (etl/secrets.py, rotate_master_key): the new key is on disk before
    any file depends on it, each file is replaced atomically, the key file last; after a crash,
    running ``etl secrets rotate`` again finishes the job.
    """
    from etl.config import available_profiles, load_config
    from etl.secrets import rotate_master_key

    others = {}
    for profile in available_profiles():
        try:
            others.setdefault(load_config(profile).secrets_file, profile)
        except ConfigError:
            continue
    profiles = {**others, store.path: cfg.profile}
    done = rotate_master_key(store.path, [p for p in others if p != store.path], profiles)
    for path, count in done.rotated.items():
        print(f"re-encrypted {path} ({count} secret(s)) under the new master key")
    for path in done.already:
        print(f"{path} was already under the new master key (an interrupted rotation, now finished)")
    for path in done.other_key:
        print(f"left alone: {path} is encrypted under another key")
    if done.key_from_env:
        print(f"the new master key is in {done.key_path} (mode 0600). ETL_MASTER_KEY still holds the old key, "
              f"which no longer opens these files: put the new key into ETL_MASTER_KEY wherever jobs run "
              f"(docker/.env, the scheduler, the secrets manager), then delete {done.key_path}")
    else:
        print(f"new master key in {done.key_path} (mode 0600); the old key no longer opens these files. "
              f"Replace any copy of the old key (backups, docker/.env) with the new one")
    print("the credentials themselves are unchanged: to revoke a leaked one, change it at its server "
          "and store it with `etl secrets set NAME`")
    return EXIT_OK


def _secrets_check(cfg, store) -> int:
    from etl.secrets import OK, referenced_secrets

    refs = referenced_secrets(cfg)
    if not refs:
        print(f"profile '{cfg.profile}' refers to no secret")
        return EXIT_OK
    states = store.verify(refs)
    width, state_width = max(map(len, refs)), max(map(len, states.values()))
    for name in sorted(refs):
        print(f"{states[name]:<{state_width}}  {name:<{width}}  ({', '.join(refs[name])})")
    unused = sorted(set(store.names()) - set(refs))
    if unused:
        print(f"also in {store.path}, not referenced by profile '{cfg.profile}': {', '.join(unused)}")
    bad = [name for name in sorted(refs) if states[name] != OK]
    if bad:
        raise ConfigError(f"{len(bad)} of {len(refs)} secret(s) of profile '{cfg.profile}' not usable; first: "
                          f"{store.problem(bad[0], states[bad[0]])}")
    return EXIT_OK


def cmd_maintain(args) -> int:
    from etl.log import current_run_id
    from etl.ops.lock import lock_for
    from etl.access import RUN_IDENTITY
    from etl.ops.maintain import maintain_lake, maintenance_id
    from etl.secrets import open_secrets
    from etl.spark import build_session

    cfg = _config(args)
    store = open_secrets(cfg)
    only = tuple(t.strip().strip("/") for t in args.tables.split(",") if t.strip())
    token = current_run_id.set(maintenance_id())
    try:
        # OPTIMIZE and VACUUM commit to the tables a run writes: the run lock first (exit 5 while a run
        # holds it), before Spark starts, as the run identity (only it may write the lock); each table
        # under its owner's identity (docs/security.md): the lake only, and only its own tables.
        with lock_for(cfg, current_run_id.get(), store.get, RUN_IDENTITY).held() as lock:
            spark = build_session(cfg, store.get, identity="transform")
            sign_in = None
            if cfg.storage.s3 is not None:
                from etl.spark import use_stage_credentials

                sign_in = lambda identity: use_stage_credentials(spark, cfg, store.get, identity)  # noqa: E731
            report = maintain_lake(spark, cfg, only, lock, sign_in)
    finally:
        current_run_id.reset(token)
    print("\n".join(report.lines()))
    missing = sorted(set(only) - {t.name for t in report.tables})
    if missing:
        raise ConfigError(f"no Delta table {', '.join(missing)} under {report.lake}")
    return EXIT_FAILURE if report.failed else EXIT_OK


def cmd_jars(args) -> int:
    from etl.jars import jars_csv

    print(jars_csv())
    return EXIT_OK


COMMANDS = {"run": cmd_run, "export": cmd_export, "generate": cmd_generate, "upload": cmd_upload,
            "services": cmd_services, "secrets": cmd_secrets, "maintain": cmd_maintain,
            "jars": cmd_jars, "status": cmd_status, "check-freshness": cmd_check_freshness,
            "rollback": cmd_rollback, "dashboard": cmd_dashboard}


def main(argv: list[str] | None = None) -> int:
    from etl.log import setup_logging

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) == "secrets":
            # Not echoed, unlike argparse's own message: it is probably a secret value.
            print(f"etl: error: etl secrets {args.action} takes no value on the command line (it would stay "
                  f"in shell history and the process list); nothing was stored. Run `etl secrets set NAME` "
                  f"and type the value at the prompt, or pipe it on standard input", file=sys.stderr)
            return EXIT_CONFIG
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        setup_logging(*log_settings(args))
    except EtlError as exc:
        print(f"etl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        return COMMANDS[args.command](args)
    except EtlError as exc:
        print(f"etl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("etl: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:       # noqa: BLE001 - only a dead Spark JVM is turned into one line; the rest re-raises
        if not spark_jvm_stopped(exc):
            raise
        print(jvm_stopped_message(), file=sys.stderr)
        return EXIT_FAILURE


def jvm_stopped_message() -> str:
    """The one line for a dead Spark JVM. Under spark-submit the JVM was started before the profile was
    read, so its heap is spark-submit's --driver-memory, never spark.driver_memory."""
    from etl.spark import running_under_spark_submit

    how = ("spark-submit --driver-memory, e.g. --driver-memory 4g" if running_under_spark_submit() else
           "spark.driver_memory, e.g. ETL__SPARK__DRIVER_MEMORY=4g")
    return ("etl: error: the Spark JVM stopped in the middle of the run: a java.lang.OutOfMemoryError above "
            f"means the driver's heap ran out (raise {how}; docs/operations.md, \"Driver memory\"), else it "
            "was killed; the same command again is safe")


def spark_jvm_stopped(exc: BaseException) -> bool:
    """True when ``exc`` comes from py4j and this process's Spark JVM no longer answers (it died: out of
    heap, killed). Py4J then reports ``Answer from Java side is empty`` or an exception whose text cannot
    be read, which says nothing a user can act on."""
    from py4j.protocol import Py4JError

    chain, seen = exc, set()
    while chain is not None and not isinstance(chain, Py4JError) and id(chain) not in seen:
        seen.add(id(chain))
        chain = chain.__cause__ or chain.__context__
    if chain is None or not isinstance(chain, Py4JError):
        return False
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    if gateway is None:
        return False
    try:
        gateway.jvm.java.lang.System.currentTimeMillis()
    except Exception:      # noqa: BLE001 - any failure to reach the JVM means it is gone
        return True
    return False


if __name__ == "__main__":
    sys.exit(main())
