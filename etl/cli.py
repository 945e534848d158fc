"""The ``etl`` command: run the pipeline, generate sample data, manage services and secrets.

Every user error is one line on stderr and a documented exit code
(see ``etl/errors.py``); a traceback means a bug.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from etl.errors import EXIT_FAILURE, EXIT_OK, ConfigError, EtlError

log = logging.getLogger("etl")


def parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date in YYYY-MM-DD form") from None


def yesterday_utc() -> date:
    return datetime.now(timezone.utc).date() - timedelta(days=1)


def _with_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", help="config profile in conf/ (default: $ETL_PROFILE or local)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl", description=__doc__.splitlines()[0])
    parser.add_argument("--log-format", choices=["text", "json"], help="log line format (default from config)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the pipeline for one run date")
    _with_profile(run)
    run.add_argument("--date", type=parse_date, help="run date YYYY-MM-DD (default: yesterday in UTC)")
    run.add_argument("--stages", default="ingest,silver,gold,export",
                     help="comma-separated subset of ingest,silver,gold,export")
    run.add_argument("--rebuild", action="store_true",
                     help="recompute the gold facts from all of silver instead of only the changed months "
                          "(after a rule or formula change); the tables come out the same")

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
    gen.add_argument("--days", type=int, default=3)
    gen.add_argument("--sales-per-day", type=int, default=40)
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--customers", type=int, default=50)
    gen.add_argument("--stores", type=int, default=3)
    gen.add_argument("--orders-per-day", type=int, default=20)
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
    _with_profile(services)
    services.add_argument("action", choices=["start", "stop", "status"])

    sec = commands.add_parser("secrets", help="the encrypted secrets file of a profile")
    _with_profile(sec)
    sec.add_argument("action", choices=["init", "set", "list"])
    sec.add_argument("name", nargs="?", help="secret name (for set); the value is read from stdin or a prompt")

    commands.add_parser("jars", help="print the jar list for spark-submit --jars")
    return parser


def _config(args):
    from etl.config import load_config

    return load_config(getattr(args, "profile", None))


def cmd_run(args) -> int:
    from etl.pipeline import STAGES, Run

    cfg = _config(args)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(f"unknown stage(s) {', '.join(unknown)}: choose from {', '.join(STAGES)}")
    run = Run(cfg, args.date or yesterday_utc(), rebuild_gold=args.rebuild)
    try:
        run.execute(stages)
    finally:
        print("\n".join(run.summary.lines()))   # what was done, also when a stage stopped the run
    return EXIT_OK


def cmd_export(args) -> int:
    from etl.log import current_run_id
    from etl.pipeline import Run

    cfg = _config(args)
    if args.target == "mysql" and not cfg.mysql.enabled:
        raise ConfigError(f"mysql.enabled is false in profile '{cfg.profile}': there is no MySQL to export to "
                          f"(use --profile dev, or set ETL__MYSQL__ENABLED=true)")
    run = Run(cfg, args.date or yesterday_utc())
    token = current_run_id.set(run.run_id)
    try:
        log.info("run %s for %s: export %s only, from the gold Delta tables", run.run_id, run.run_date, args.target)
        getattr(run, f"export_{args.target}")()
    finally:
        current_run_id.reset(token)
        print("\n".join(run.summary.lines()))
    return EXIT_OK


def cmd_generate(args) -> int:
    from etl.generate import ALL_FEEDS, GenerateOptions, generate
    from etl.pipeline import Run

    cfg = _config(args)
    landing = None
    if not args.no_upload:
        from etl.storage import store_for

        landing = store_for(cfg, cfg.storage.landing, Run(cfg, yesterday_utc()).secret)
    start = args.start or yesterday_utc() - timedelta(days=args.days - 1)
    feeds = ALL_FEEDS if args.feeds == "all" else tuple(f.strip() for f in args.feeds.split(",") if f.strip())
    opts = GenerateOptions(start=start, days=args.days, sales_per_day=args.sales_per_day, seed=args.seed,
                           customers=args.customers, stores=args.stores, orders_per_day=args.orders_per_day,
                           events_orders_per_day=args.events_per_day, feeds=feeds,
                           defects=args.inject_defects, drop_days=tuple(args.drop_day))
    out = cfg.path(str(args.out))
    report = generate(opts, out, landing)
    where = f" and uploaded to {cfg.storage.landing}" if landing else ""
    print(f"generated {len(report)} file(s) in {out}{where}")
    for feed, files in report.files.items():
        if files:
            print(f"  {feed:<13} {len(files)} file(s), {sum(files.values())} record(s)")
    return EXIT_OK


def cmd_upload(args) -> int:
    from tqdm import tqdm

    from etl.bronze.feeds import FEED_NAMES
    from etl.pipeline import Run
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
    cfg = _config(args)
    landing = store_for(cfg, cfg.storage.landing, Run(cfg, date.today()).secret)
    base = "/".join(p.strip("/") for p in (args.feed, args.folder) if p.strip("/"))
    keys = [f"{base}/{name}" for name in names]
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


def cmd_services(args) -> int:
    from etl.services import run_services

    return run_services(load_config_for_services(args), args.action)


def load_config_for_services(args):
    from etl.config import load_config

    return load_config(args.profile or "dev")


def cmd_secrets(args) -> int:
    from etl.secrets import SecretStore, load_master_key, write_new_key_file

    cfg = _config(args)
    store = SecretStore(cfg.secrets_file)
    if args.action == "init":
        try:
            load_master_key()
        except ConfigError:
            path, _ = write_new_key_file()
            print(f"created master key {path} (mode 0600); keep it out of the repository")
        if store.path.exists():
            raise ConfigError(f"{store.path} already exists; remove it first to start over")
        store.init()
        print(f"created empty secrets file {store.path}")
    elif args.action == "set":
        if not args.name:
            raise ConfigError("etl secrets set NAME: the secret's name is missing")
        value = getpass.getpass(f"value for {args.name}: ") if sys.stdin.isatty() else sys.stdin.read().rstrip("\n")
        if not value:
            raise ConfigError(f"no value given for secret '{args.name}'")
        store.set(args.name, value)
        print(f"stored secret '{args.name}' in {store.path}")
    else:
        print("\n".join(store.names()))
    return EXIT_OK


def cmd_jars(args) -> int:
    from etl.jars import jars_csv

    print(jars_csv())
    return EXIT_OK


COMMANDS = {"run": cmd_run, "export": cmd_export, "generate": cmd_generate, "upload": cmd_upload,
            "services": cmd_services, "secrets": cmd_secrets, "jars": cmd_jars}


def main(argv: list[str] | None = None) -> int:
    from etl.log import setup_logging

    args = build_parser().parse_args(argv)
    setup_logging(args.log_format or "text", args.log_level)
    try:
        return COMMANDS[args.command](args)
    except EtlError as exc:
        print(f"etl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("etl: interrupted", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
