"""Airflow example: the daily ETL as four spark-submit tasks, ingest >> silver >> gold >> export.

An example, not a dependency of the project: copy it to the DAGs folder of Airflow 2 (2.4 or later)
or 3 with ``apache-airflow-providers-apache-spark`` installed, create a Spark connection
``spark_default`` pointing at the cluster (host ``spark://spark-master``, port 7077), and set
``ETL_HOME`` / ``PROFILE`` below (``conf/production.yaml``, made from conf/production.yaml.example).
`make check-airflow-dag` loads it with Airflow's own DagBag on Airflow 2 and 3.

The run date is the day before the run, on both: the DAG uses a data-interval timetable
(``CronDataIntervalTimetable``) and passes ``{{ data_interval_start | ds }}``. With a plain cron
string, Airflow 3 schedules with ``CronTriggerTimetable``, whose ``{{ ds }}`` is the day the run
starts, not yesterday as on Airflow 2. A backfill or a cleared task reruns the same date, which
the job makes safe (files already ingested are skipped, silver MERGEs, gold and MySQL are
rewritten whole).

Exit codes of the job (docs/operations-maintenance.md) and what the tasks do with them:
  0  success
  1  unexpected failure, maybe transient: retried (``retries`` below)
  3  configuration or credential error: failed at once, no retry (a person must fix it)
  4  data-quality threshold exceeded: failed at once, no retry (gold untouched; see quarantine)
  5  another run holds the lock: retried later, the other run will release it
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.timetables.interval import CronDataIntervalTimetable

try:                                   # Airflow 3: the task SDK's DAG and exceptions
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:                    # Airflow 2
    from airflow import DAG
    from airflow.exceptions import AirflowException, AirflowFailException

ETL_HOME = "/opt/etl"
PROFILE = "production"
RUN_DATE = "{{ data_interval_start | ds }}"     # yesterday for the 02:30 UTC run, on Airflow 2 and 3
STAGES = ["ingest", "silver", "gold", "export"]
NO_RETRY_EXIT_CODES = {3, 4}
# `etl jars` prints this list; it must match resources/jars/pom.xml.
JARS = ",".join(f"{ETL_HOME}/.jars/{jar}" for jar in (
    "delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar", "hadoop-aws-3.5.0.jar", "s3-2.35.4.jar",
    "sts-2.35.4.jar", "s3-transfer-manager-2.35.4.jar", "annotations-2.35.4.jar", "apache-client-2.35.4.jar",
    "arns-2.35.4.jar", "auth-2.35.4.jar", "aws-core-2.35.4.jar", "aws-query-protocol-2.35.4.jar",
    "aws-xml-protocol-2.35.4.jar", "checksums-2.35.4.jar", "checksums-spi-2.35.4.jar", "crt-core-2.35.4.jar",
    "endpoints-spi-2.35.4.jar", "http-auth-2.35.4.jar", "http-auth-aws-2.35.4.jar",
    "http-auth-aws-eventstream-2.35.4.jar", "http-auth-spi-2.35.4.jar", "http-client-spi-2.35.4.jar",
    "identity-spi-2.35.4.jar", "json-utils-2.35.4.jar", "metrics-spi-2.35.4.jar",
    "netty-nio-client-2.35.4.jar", "profiles-2.35.4.jar", "protocol-core-2.35.4.jar", "regions-2.35.4.jar",
    "retries-2.35.4.jar", "retries-spi-2.35.4.jar", "sdk-core-2.35.4.jar",
    "third-party-jackson-core-2.35.4.jar", "utils-2.35.4.jar", "utils-lite-2.35.4.jar",
    "reactive-streams-1.0.4.jar", "eventstream-1.0.1.jar", "analyticsaccelerator-s3-1.3.1.jar",
    "mysql-connector-j-9.5.0.jar"))


class EtlStageOperator(SparkSubmitOperator):
    """spark-submit of one stage; exit codes 3 and 4 fail the task without using up its retries."""

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException as exc:
            # The Spark hook reports "... Error code is: N." for a non-zero spark-submit exit.
            found = re.search(r"Error code is: (\d+)", str(exc))
            if found and int(found.group(1)) in NO_RETRY_EXIT_CODES:
                raise AirflowFailException(f"ETL stage exited {found.group(1)}: not retried ({exc})") from exc
            raise


with DAG(
    dag_id="retail_lakehouse_daily",
    description="landing -> bronze -> silver -> gold -> MySQL and Excel, for the previous day",
    # 02:30 UTC; the run's data interval is the previous day (02:30 to 02:30), so RUN_DATE is yesterday.
    schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC"),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,                     # the run lock guards anyway; this avoids queued lock waits
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=15),
        "retry_exponential_backoff": True,
        "execution_timeout": timedelta(hours=3),
    },
    tags=["etl", "lakehouse"],
) as dag:
    tasks = [
        EtlStageOperator(
            task_id=stage,
            conn_id="spark_default",
            application=f"{ETL_HOME}/jobs/daily_etl.py",
            application_args=["--date", RUN_DATE, "--stages", stage, "--profile", PROFILE],
            jars=JARS,
            name=f"etl-{stage}",
            # The project's interpreter on the driver and the executors (its packages: pandas, openpyxl).
            env_vars={"ETL_HOME": ETL_HOME, "ETL_PROFILE": PROFILE,
                      "ETL_MASTER_KEY_FILE": "/etc/etl/master.key",
                      "PYSPARK_PYTHON": f"{ETL_HOME}/.venv/bin/python",
                      "PYSPARK_DRIVER_PYTHON": f"{ETL_HOME}/.venv/bin/python"},
        )
        for stage in STAGES
    ]
    ingest, silver, gold, export = tasks
    ingest >> silver >> gold >> export
