"""The one SparkSession builder every entry point uses.

Delta extensions and catalog, the project's jars (from ``.jars/``, never
downloaded), S3A settings for an S3-compatible endpoint, and redaction of
every secret-bearing key. Credentials go only into the live Hadoop
configuration after the session exists, so they are never part of SparkConf
(and so never in the Spark UI's environment tab nor in event logs).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession

from etl import class_archive
from etl.config import Config
from etl.jars import jars_csv
from etl.log import console_progress_wanted

log = logging.getLogger(__name__)

# spark.redaction.regex: a Spark or Hadoop property (or environment variable) whose key OR value
# matches is shown as *********(redacted) in the UI, the event log and `SET` output. It covers
# every secret-bearing key the project sets or might set: fs.s3a.access.key / secret.key (also per
# bucket: fs.s3a.bucket.<b>.access.key), fs.s3a.session.token, fs.s3a.encryption.key, AWS_* and
# ETL_MASTER_KEY environment variables, JDBC passwords and any value holding a JDBC URL.
REDACTION_REGEX = (
    r"(?i)secret|password|passwd|token|credential|access[._-]?key|session[._-]?key"
    r"|fs\.s3a\..*\.key|[._-]key$|jdbc:.*|master[._-]?key|encryption|signature"
)
# spark.sql.redaction.options.regex: data source options shown in query plans (SQL tab, event log,
# explain). The MySQL export passes `user` and `password` as JDBC options: the user name is a
# secret too (mysql.user_secret). Spark applies REDACTION_REGEX to options as well.
OPTIONS_REDACTION_REGEX = r"(?i)url|^user(name)?$|password|secret|token|credential|[._-]key$"
# spark.sql.redaction.string.regex: the part of a plan or SQL text that matches is masked
# (credentials written into a URL or a query string: password=..., user=..., X-Amz-Signature=...).
STRING_REDACTION_REGEX = (
    r"(?i)(password|passwd|pwd|secret|token|user(name)?|access[._-]?key(id)?|secret[._-]?key"
    r"|x-amz-[a-z-]*|signature|credential)=[^&;\s'\"]*"
)
# The Hadoop properties build_session sets from the secret store, in memory only.
HADOOP_SECRET_KEYS = ("fs.s3a.access.key", "fs.s3a.secret.key")

S3A_CREDENTIALS_PROVIDER = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
# HTTP client loggers that print request headers and bytes: at DEBUG they write the Authorization
# header, which names the access key id (a secret here). Held at WARN in the driver whatever level a
# log4j2 configuration asks for (tests/integration/test_no_leaks.py runs with them asked at DEBUG).
HEADER_LOGGERS = tuple(f"{prefix}org.apache.http.{name}" for prefix in ("", "software.amazon.awssdk.thirdparty.")
                       for name in ("wire", "headers")) + (
    # Spark's JDBC data source: at DEBUG it printed the MySQL password (found by the leak test).
    "org.apache.spark.sql.execution.datasources.jdbc",
)
# Delta looks for a table's _delta_log in every parent folder up to the bucket root when a table does not
# exist yet. With a policy scoped to a prefix (s3a://lake/<prefix>, as least privilege asks), the object
# store answers 403 for the parents and this logger printed a 60-line stack trace per table (42 in a first
# run): the lookup still ends right. Delta's MERGE materialises its source with a local checkpoint, and
# Spark warns "RDD ... was locally checkpointed, its lineage has been truncated" each time it is released
# (every MERGE). Gold's ranks over a whole table (customer value, top customers and products, region
# shares, the daily KPI calendar: METRICS.md) are windows without a partition, and Spark warns "No
# Partition Defined for Window operation" for each (64 lines a run); their input is one row per customer,
# product, region or day, never the sales lines. All three held at ERROR: noise in every run's output,
# nothing to act on.
QUIET_LOGGERS = ("org.apache.spark.sql.delta.DeltaTableUtils", "org.apache.spark.rdd.MapPartitionsRDD",
                 "org.apache.spark.sql.execution.window.WindowExec")
# Spark's Tungsten memory page (the unit sorts, hash aggregations and joins take memory in). Spark's own
# size is the execution memory / cores / 16, rounded up to a power of two: 32 MiB for the 2 GiB local
# driver. Every sort or hash operator of a running task holds at least one page however few rows it
# has, and a day's silver MERGE plans have many: a seven-date backfill of ~100 rows a day held 500 MiB
# of pages at once and ran out of driver heap (docs/operations.md, "Driver memory"). 4 MiB less 64 bytes
# keeps a tiny day's pages small and wastes no heap: with its 16-byte array header a page fills whole G1
# regions of 1, 2 or 4 MiB exactly (a power-of-two page takes one region more), and is no humongous
# object at all with 8 MiB regions or larger. A big sort only takes more pages (8192 per task).
TUNGSTEN_PAGE_BYTES = 4 * 1024 * 1024 - 64
# How the pipeline caches a frame it reads more than once (silver's checked rows, the rows to upsert): on
# local disk, outside the heap, where the operating system's page cache keeps it in memory as far as the
# machine has memory. In the heap (MEMORY_AND_DISK) Spark builds each cached batch before it can tell
# whether the block fits; with the 2 GiB local driver the 10M-row benchmark's checked sales ran the heap
# out that way (OutOfMemoryError in ColumnBuilder.ensureFreeSpace under MemoryStore.putIteratorAsBytes,
# docs/benchmarks.md). A disk-only block is streamed to its file batch by batch.
CACHE_LEVEL = StorageLevel.DISK_ONLY


# The driver JVM's own time zone, whatever the host's. Spark's dates and times already follow the session
# time zone (UTC, spark_conf), but Delta also looks at the JVM's: when the JVM default or the
# ``user.timezone`` property is not UTC, every commit re-reads the table's whole state to verify the file
# list it keeps in the checksum file (Snapshot.allFilesInCrcVerificationForceEnabled, Delta 4.4). On a
# host set to Europe/Berlin a small append then costs 4 Spark SQL executions and 3 jobs instead of 2 and 1
# (docs/benchmarks.md, "A host not in UTC"). Set at run time rather than with -Duser.timezone, so that it
# holds for a session from Python and under spark-submit alike (whose driver JVM is already running).
JVM_TIME_ZONE = "UTC"


def pin_jvm_time_zone(spark: SparkSession) -> None:
    """Make the driver JVM's default time zone and ``user.timezone`` UTC (see JVM_TIME_ZONE)."""
    jvm = spark.sparkContext._jvm
    jvm.java.util.TimeZone.setDefault(jvm.java.util.TimeZone.getTimeZone(JVM_TIME_ZONE))
    jvm.java.lang.System.setProperty("user.timezone", JVM_TIME_ZONE)


def materialize(frame: DataFrame) -> DataFrame:
    """``frame`` computed once, with its lineage cut (a local checkpoint, on disk).

    For a frame several writes or reads use: each of them would otherwise plan the whole lineage
    again and scan its Delta sources again (for a Delta source that is also a Spark job of Delta's
    own to pick the files), which on a small day costs far more than the rows. The blocks live as
    long as the frame is referenced (Spark's context cleaner drops them after)."""
    return frame.localCheckpoint(eager=True, storageLevel=CACHE_LEVEL)


def spark_conf(cfg: Config, under_spark_submit: bool = False, console_progress: bool = False) -> dict[str, str]:
    """Non-secret Spark settings for a profile (pure, so it can be tested and printed).
    ``console_progress``: Spark's progress bar on standard error (etl.log.console_progress_wanted)."""
    conf = {
        "spark.app.name": cfg.spark.app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.ui.enabled": str(cfg.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": str(console_progress).lower(),
        "spark.redaction.regex": REDACTION_REGEX,
        "spark.sql.redaction.options.regex": OPTIONS_REDACTION_REGEX,
        "spark.sql.redaction.string.regex": STRING_REDACTION_REGEX,
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.buffer.pageSize": f"{TUNGSTEN_PAGE_BYTES}b",
        # The same interpreter on driver and executors (standalone workers on this host).
        "spark.pyspark.python": os.environ.get("PYSPARK_PYTHON", sys.executable),
    }
    if not under_spark_submit:
        # spark-submit gets --jars, --master and --driver-memory on its command line instead (its JVM runs
        # already: a driver memory set from Python would only be shown, never used).
        conf["spark.jars"] = jars_csv()
        conf["spark.driver.memory"] = cfg.spark.driver_memory
        if cfg.spark.master:
            conf["spark.master"] = cfg.spark.master
    s3 = cfg.storage.s3
    if s3 is not None:
        conf.update({
            "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
            "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": s3.region,
            "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style_access).lower(),
            "spark.hadoop.fs.s3a.connection.ssl.enabled": str(s3.ssl_enabled).lower(),
            "spark.hadoop.fs.s3a.aws.credentials.provider": S3A_CREDENTIALS_PROVIDER,
            "spark.hadoop.fs.s3a.attempts.maximum": "5",
            "spark.hadoop.fs.s3a.retry.limit": "5",
            "spark.hadoop.fs.s3a.connection.timeout": "30s",
            "spark.hadoop.fs.s3a.connection.establish.timeout": "15s",
            "spark.hadoop.fs.s3a.fast.upload": "true",
            "spark.hadoop.fs.s3a.committer.magic.enabled": "true",
            "spark.hadoop.fs.s3a.bucket.all.committer.magic.enabled": "true",
        })
    conf.update(cfg.spark.conf)
    return conf


# The order of precedence (docs/operations.md, "Spark settings"): the profile's Spark settings are
# defaults. A key given to spark-submit (--conf, --driver-memory, --properties-file) or in
# spark-defaults.conf, or in PYSPARK_SUBMIT_ARGS for a session started from Python, keeps its value, as
# for any Spark application; the profile sets only the keys nobody else gave. Except these, which the
# pipeline needs as they are (Delta's catalog, UTC dates, the secret redaction, the schema contract, the
# credentials it hands to S3A): a different value given elsewhere is replaced, with a warning.
REQUIRED_KEYS = frozenset({
    "spark.sql.catalog.spark_catalog", "spark.sql.session.timeZone", "spark.redaction.regex",
    "spark.sql.redaction.options.regex", "spark.sql.redaction.string.regex",
    "spark.databricks.delta.schema.autoMerge.enabled", "spark.sql.sources.partitionOverwriteMode",
    "spark.hadoop.fs.s3a.aws.credentials.provider",
})
# Comma-separated lists: the pipeline's entries first, then the ones given elsewhere.
LIST_KEYS = frozenset({"spark.sql.extensions", "spark.jars"})
# spark-submit's own options that stand for a Spark setting (SparkSubmitArguments).
_SUBMIT_FLAGS = {"--master": "spark.master", "--name": "spark.app.name", "--driver-memory": "spark.driver.memory",
                 "--executor-memory": "spark.executor.memory", "--jars": "spark.jars",
                 "--driver-java-options": "spark.driver.extraJavaOptions"}


def read_properties(path: Path) -> dict[str, str]:
    """The ``spark.*`` keys of a Java properties file as spark-submit reads spark-defaults.conf
    (``key value``, ``key=value`` or ``key: value``; ``#`` and ``!`` start a comment)."""
    found = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^\s=:]+)\s*[=:\s]\s*(.*)", line)
        if match and match.group(1).startswith("spark."):
            found[match.group(1)] = match.group(2).strip()
    return found


def launch_conf(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What the spark-submit that pyspark starts for a session from Python would read besides the
    builder's settings: spark-defaults.conf in $SPARK_CONF_DIR (else $SPARK_HOME/conf), or the
    --properties-file of PYSPARK_SUBMIT_ARGS instead, then that variable's --conf and flags."""
    environ = os.environ if environ is None else environ
    args = shlex.split(environ.get("PYSPARK_SUBMIT_ARGS", ""))
    given: dict[str, str] = {}
    properties_file, load_defaults = None, False
    i = 0
    while i < len(args):
        arg, value = args[i], args[i + 1] if i + 1 < len(args) else ""
        name, _, inline = arg.partition("=")
        if inline and name in ("--conf", "--properties-file", *_SUBMIT_FLAGS):
            value, i = inline, i - 1
        if name in ("--conf", "-c"):
            key, _, setting = value.partition("=")
            given[key] = setting
            i += 2
        elif name == "--properties-file":
            properties_file, i = value, i + 2
        elif name in _SUBMIT_FLAGS:
            given[_SUBMIT_FLAGS[name]], i = value, i + 2
        else:
            load_defaults |= arg == "--load-spark-defaults"
            i += 1
    conf_dir = environ.get("SPARK_CONF_DIR") or str(Path(environ.get("SPARK_HOME") or _spark_home()) / "conf")
    files = [Path(conf_dir) / "spark-defaults.conf"] if properties_file is None or load_defaults else []
    files += [Path(properties_file)] if properties_file else []
    from_files: dict[str, str] = {}
    for path in files:
        if path.is_file():
            from_files.update(read_properties(path))
    return {**from_files, **given}


def _spark_home() -> str:
    from pyspark.find_spark_home import _find_spark_home

    return _find_spark_home()


def submitted_conf(under_spark_submit: bool) -> dict[str, str]:
    """The Spark settings given outside the profile: under spark-submit, its running SparkConf (its
    --conf, flags and spark-defaults.conf); from Python, what its launch would read (launch_conf)."""
    if not under_spark_submit:
        return launch_conf()
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    given = dict(SparkConf().getAll())
    # Without --name spark-submit names the application after the script: a fallback, not a choice.
    if given.get("spark.app.name") == os.path.basename(sys.argv[0] if sys.argv else ""):
        del given["spark.app.name"]
    return given


def session_conf(profile: Mapping[str, str], given: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The settings the session builder gets (pure): the profile's as defaults under ``given`` (the
    precedence above), and the warnings for required keys given a different value elsewhere."""
    conf, warnings = {}, []
    for key, value in profile.items():
        if key not in given:
            conf[key] = value
        elif key in LIST_KEYS:
            entries = [e.strip() for e in f"{value},{given[key]}".split(",") if e.strip()]
            conf[key] = ",".join(dict.fromkeys(entries))
        elif key in REQUIRED_KEYS:
            conf[key] = value
            if given[key] != value:
                warnings.append(f"{key} given to spark-submit or in spark-defaults.conf is not used: the "
                                f"pipeline needs {key}={value if 'redaction' not in key else 'its own'}")
    return conf, warnings


def running_under_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (the JVM already exists)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ or os.environ.get("ETL_UNDER_SPARK_SUBMIT") == "1"


def build_session(cfg: Config, get_secret: Callable[[str], str] | None = None,
                  identity: str | None = None) -> SparkSession:
    """Create (or reuse) the session and hand the object-store credentials of ``identity`` (a stage's
    credential group) to Hadoop, in memory."""
    # Python workers (pandas functions, e.g. the fuzzy product match) must run this interpreter, with
    # this environment's packages; PySpark reads the variable, not spark.pyspark.python, in local mode.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    under_spark_submit = running_under_spark_submit()
    profile = spark_conf(cfg, under_spark_submit, console_progress=console_progress_wanted())
    given = submitted_conf(under_spark_submit)
    conf, warnings = session_conf(profile, given)
    if not under_spark_submit:      # this call starts the driver: it may map the class-data archive
        conf = class_archive.with_archive(conf, class_archive.use_options())
    for line in warnings:
        log.warning(line)
    kept = sorted(set(profile) & set(given) - REQUIRED_KEYS - LIST_KEYS)
    if kept:   # names only: a value given elsewhere may be a secret
        log.info("Spark settings from spark-submit or spark-defaults.conf, over the profile's: %s", ", ".join(kept))
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    pin_jvm_time_zone(spark)
    jvm = spark.sparkContext._jvm
    levels = jvm.org.apache.logging.log4j.Level
    for name in HEADER_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, levels.WARN)
    for name in QUIET_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, levels.ERROR)
    if cfg.storage.s3 is not None and get_secret is not None:
        use_stage_credentials(spark, cfg, get_secret, identity)
    return spark


def _s3_buckets(cfg: Config) -> list[str]:
    roots = (cfg.storage.landing, cfg.storage.lake, cfg.storage.exports)
    return sorted({root.split("://", 1)[1].split("/", 1)[0] for root in roots if root.startswith(("s3a://", "s3://"))})


def use_stage_credentials(spark: SparkSession, cfg: Config, get_secret: Callable[[str], str],
                          identity: str | None) -> bool:
    """Sign Spark's S3A in as the credential group ``identity`` (a stage's) from now on; True when
    the identity changed.

    The keys go into the live Hadoop configuration (never SparkConf). Hadoop caches one S3A
    FileSystem per bucket with the credentials it was created with, so on a change the
    cached instances of the project's buckets are closed: the next access signs in afresh.
    In local mode that covers every task. On a cluster, executors keep their own cache, so
    there a change of identity starts a new application instead (``restart_session``).
    """
    keys = cfg.storage.s3.identity(identity)
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    access_key, secret_key = HADOOP_SECRET_KEYS
    access, secret = get_secret(keys.access_key_secret), get_secret(keys.secret_key_secret)
    if hadoop.get(access_key) == access and hadoop.get(secret_key) == secret:
        return False
    first = hadoop.get(access_key) is None
    hadoop.set(access_key, access)
    hadoop.set(secret_key, secret)
    if not first:
        jvm = spark.sparkContext._jvm
        for bucket in _s3_buckets(cfg):
            jvm.org.apache.hadoop.fs.FileSystem.get(jvm.java.net.URI(f"s3a://{bucket}/"), hadoop).close()
    return True


def is_local(spark: SparkSession) -> bool:
    """Whether every task runs in this JVM (``local``, ``local[N]``), not on a cluster's executors."""
    return spark.sparkContext.master.startswith("local")


def restart_session(spark: SparkSession, cfg: Config, get_secret: Callable[[str], str],
                    identity: str) -> SparkSession:
    """A new Spark application signed in as ``identity``, in place of ``spark``'s.

    Why: Hadoop caches one S3A file system per bucket in each JVM, with the keys it was created
    with, and Spark gives no way to reach a cluster's executors' cache between jobs (a job that
    closed it on every executor did not reach every executor, nor those a later job runs on). A
    new application gets new executors, which only ever hold ``identity``'s keys. The driver's
    own cache and Delta's table cache are emptied too. Costs a few seconds per change (executors
    starting), so only a cluster run pays it; local mode switches in place."""
    jvm = spark.sparkContext._jvm
    spark.stop()
    jvm.org.apache.hadoop.fs.FileSystem.closeAll()
    jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return build_session(cfg, get_secret, identity)


@contextmanager
def job_description(spark: SparkSession, text: str) -> Iterator[None]:
    """Name the Spark jobs run inside the block: the Spark UI, the event log and the benchmark's profile
    (benchmarks/eventlog.py) show ``text`` instead of a Python call site such as ``save at
    NativeMethodAccessorImpl.java:0``. Local to the calling thread; the outer name comes back after."""
    context = spark.sparkContext
    previous = context.getLocalProperty("spark.job.description")
    context.setJobDescription(text)
    try:
        yield
    finally:
        context.setJobDescription(previous)   # None removes it
