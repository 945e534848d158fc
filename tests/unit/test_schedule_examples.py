"""The scheduling examples in resources/schedule/ stay valid: the Airflow DAG compiles and runs the four
stages in order with the run date, the systemd units have the keys that make them work, the crontab
line runs the daily job at 02:30 UTC. No Airflow or systemd needed: ast and configparser only."""

from __future__ import annotations

import ast
import configparser
import re

from etl.config import PROJECT_ROOT
from etl.errors import EXIT_CONFIG, EXIT_DATA_QUALITY, EXIT_LOCKED
from etl.run.stages import STAGES

SCHEDULE = PROJECT_ROOT / "resources" / "schedule"
PROFILE = "production"


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str            # systemd keys are case-sensitive
    parser.read_string((SCHEDULE / name).read_text())
    return parser


def test_the_airflow_dag_compiles_and_chains_the_four_stages_in_order():
    source = (SCHEDULE / "airflow_dag.py").read_text()
    tree = ast.parse(source)
    compile(tree, "airflow_dag.py", "exec")
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    assert ast.literal_eval(assigned["STAGES"]) == list(STAGES) == ["ingest", "silver", "gold", "export"]
    assert ast.literal_eval(assigned["NO_RETRY_EXIT_CODES"]) == {EXIT_CONFIG, EXIT_DATA_QUALITY}
    chains = [node for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.BinOp)]
    assert len(chains) == 1
    names, expr = [], chains[0].value
    while isinstance(expr, ast.BinOp):
        assert isinstance(expr.op, ast.RShift)
        names.insert(0, expr.right.id)
        expr = expr.left
    assert [expr.id, *names] == list(STAGES)
    assert "SparkSubmitOperator" in source
    # Yesterday on Airflow 2 and 3: a data-interval timetable and its start, never a plain cron string
    # (Airflow 3 would make {{ ds }} the day of the run).
    assert ast.literal_eval(assigned["RUN_DATE"]) == "{{ data_interval_start | ds }}"
    assert '"--date", RUN_DATE, "--stages", stage' in source
    assert 'schedule=CronDataIntervalTimetable("30 2 * * *", timezone="UTC")' in source
    assert "{{ ds }}" not in source.split('"""', 2)[2]
    assert 'application=f"{ETL_HOME}/jobs/daily_etl.py"' in source
    assert ast.literal_eval(assigned["PROFILE"]) == PROFILE
    assert '"PYSPARK_PYTHON": f"{ETL_HOME}/.venv/bin/python"' in source


def _environment(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split())


def test_every_example_names_the_production_profile_whose_template_loads(tmp_path, monkeypatch):
    """The profile the examples name exists as conf/production.yaml.example and is a valid profile."""
    import shutil

    from etl import config

    crontab = (SCHEDULE / "crontab").read_text()
    assert f"\nETL_PROFILE={PROFILE}\n" in crontab
    assert _environment(_unit("etl-daily.service")["Service"]["Environment"])["ETL_PROFILE"] == PROFILE
    template = PROJECT_ROOT / "conf" / f"{PROFILE}.yaml.example"
    shutil.copy(PROJECT_ROOT / "conf" / "base.yaml", tmp_path / "base.yaml")
    shutil.copy(template, tmp_path / f"{PROFILE}.yaml")
    monkeypatch.setattr(config, "CONF_DIR", tmp_path)
    cfg = config.load_config(PROFILE, environ={})
    assert cfg.storage.s3.endpoint.startswith("https://") and cfg.storage.s3.ssl_enabled


def test_cron_and_systemd_find_spark_submit_and_the_project_interpreter():
    """cron's PATH is /usr/bin:/bin and systemd's has no virtual environment: both name it."""
    crontab = {line.split("=", 1)[0]: line.split("=", 1)[1]
               for line in (SCHEDULE / "crontab").read_text().splitlines()
               if re.match(r"^[A-Z_]+=", line)}
    service = _environment(_unit("etl-daily.service")["Service"]["Environment"])
    for env in (crontab, service):
        assert env["PATH"].split(":")[0] == "/opt/etl/.venv/bin", env
        assert env["PYSPARK_PYTHON"] == env["PYSPARK_DRIVER_PYTHON"] == "/opt/etl/.venv/bin/python"


def test_the_systemd_timer_and_service_have_the_keys_that_make_them_work():
    timer = _unit("etl-daily.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 02:30:00 UTC"
    assert timer["Timer"]["Persistent"] == "true"
    assert re.fullmatch(r"\d+(min|s|h)", timer["Timer"]["RandomizedDelaySec"])
    assert timer["Timer"]["Unit"] == "etl-daily.service"
    assert timer["Install"]["WantedBy"] == "timers.target"

    service = _unit("etl-daily.service")
    svc = service["Service"]
    assert svc["Type"] == "oneshot"
    assert "jobs/daily_etl.py" in svc["ExecStart"] and "spark-submit" in svc["ExecStart"]
    assert svc["SuccessExitStatus"].split() == [str(EXIT_LOCKED)]
    assert svc["Restart"] == "on-failure"
    assert set(svc["RestartPreventExitStatus"].split()) == {str(EXIT_CONFIG), str(EXIT_DATA_QUALITY), str(EXIT_LOCKED)}
    assert int(service["Unit"]["StartLimitBurst"]) >= 1, "restarts are bounded"
    assert "ETL_MASTER_KEY=" not in (SCHEDULE / "etl-daily.service").read_text()


def test_the_crontab_runs_the_daily_job_at_0230_utc_with_a_log_file():
    lines = [line for line in (SCHEDULE / "crontab").read_text().splitlines() if line and not line.startswith("#")]
    assert "CRON_TZ=UTC" in lines
    daily = next(line for line in lines if "daily_etl.py" in line)
    assert daily.split()[:5] == ["30", "2", "*", "*", "*"]
    assert ">> /var/log/etl/daily.log 2>&1" in daily and "flock" not in daily
    text = (SCHEDULE / "crontab").read_text()
    for code in ("0", "1", "3", "4", "5"):
        assert re.search(rf"^#\s+{code}\s+\S", text, re.MULTILINE), f"exit code {code} explained"
