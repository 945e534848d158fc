"""Static checks of the compose stack in docker/ (no Docker engine needed).

The compose file must define the whole stack, run the job on the standalone
cluster with the project's own jars, install the same pyspark as pyproject.toml,
publish ports on loopback only and hold no credentials. When the compose CLI
(`docker compose`) is installed, its own `config` validation runs as well.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
DOCKERFILE = DOCKER / "Dockerfile"
DOCKERIGNORE = DOCKER / "Dockerfile.dockerignore"
ENV_EXAMPLE = DOCKER / ".env.example"
SCHEDULER = DOCKER / "etl-scheduler.sh"
POM = ROOT / "resources" / "jars" / "pom.xml"
PYPROJECT = ROOT / "pyproject.toml"
DEFAULT_PYSPARK_PIN = "4.2.0"
JAR_DIR_IN_IMAGE = "/opt/etl/.jars"

EXPECTED_SERVICES = {
    "spark-master", "spark-worker-1", "spark-worker-2",
    "minio", "minio-init", "mysql", "etl-job", "etl-scheduler", "dashboard",
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|KEY|(^|_)USER$|TOKEN", re.I)
REQUIRED_VAR = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]*\}")


# -- helpers -----------------------------------------------------------------
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict:
    return compose()["services"]


def command_text(command) -> str:
    """A service command (list or string) as one whitespace-normalised string."""
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    return " ".join(str(command).split())


def dockerfile_text() -> str:
    """The Dockerfile with line continuations joined (as Docker reads it)."""
    return re.sub(r"\\\n", " ", DOCKERFILE.read_text())


def dockerfile_env(name: str) -> str:
    """The value the last `ENV NAME=value` (one of several pairs per ENV allowed) gives NAME."""
    values = {}
    for line in re.findall(r"^ENV\s+(.+)$", dockerfile_text(), re.M):
        for pair in shlex.split(line):
            key, _, value = pair.partition("=")
            values[key] = value
    assert name in values, f"docker/Dockerfile sets no ENV {name}"
    return values[name]


def pom_jar_names() -> list[str]:
    """File names `dependency:copy-dependencies` gives the jars declared in the pom."""
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(POM).getroot()
    props = {el.tag.split("}")[1]: el.text for el in root.find("m:properties", ns)}

    def resolve(text: str) -> str:
        return re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], text)

    return [
        f"{dep.findtext('m:artifactId', namespaces=ns)}-{resolve(dep.findtext('m:version', namespaces=ns))}.jar"
        for dep in root.find("m:dependencies", ns)
    ]


def pyspark_pin() -> str:
    """The exact pyspark version pinned in pyproject.toml (or the project's known pin before it exists)."""
    if not PYPROJECT.exists():
        return DEFAULT_PYSPARK_PIN
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    for dep in deps:
        match = re.fullmatch(r"\s*pyspark\s*==\s*([\w.]+)\s*(;.*)?", dep)
        if match:
            return match.group(1)
    pytest.fail(f"pyproject.toml has no exact pyspark==X pin in [project].dependencies: {deps}")


def published_port_problems(service: dict) -> list[str]:
    """Why each published port of a compose service is not bound to 127.0.0.1 only."""
    problems = []
    if service.get("network_mode") == "host":
        problems.append("network_mode: host publishes every port on all interfaces")
    for port in service.get("ports", []) or []:
        if isinstance(port, dict):
            if str(port.get("host_ip", "")) != "127.0.0.1" and port.get("published") not in (None, ""):
                problems.append(f"{port} is not bound to host_ip 127.0.0.1")
        else:
            spec = str(port)
            # HOST_IP:HOST_PORT:CONTAINER_PORT is the only short form bound to one address
            if not spec.startswith("127.0.0.1:") or spec.count(":") < 2:
                problems.append(f"'{spec}' is not of the form 127.0.0.1:HOST:CONTAINER")
    return problems


def env_items(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def compose_cli_available() -> str | None:
    """None when `docker compose` works, else why not."""
    if shutil.which("docker") is None:
        return "docker CLI not installed"
    try:
        result = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed to run: {exc}"
    if result.returncode != 0:
        return f"compose CLI plugin unavailable: {(result.stderr or result.stdout).strip()[:200]}"
    return None


def dummy_env() -> dict[str, str]:
    """The process environment plus a dummy value for every variable docker/.env must define."""
    env = dict(os.environ)
    names = set(REQUIRED_VAR.findall(COMPOSE_FILE.read_text()))
    names |= {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text().splitlines()
              if re.match(r"^[A-Z0-9_]+=", line)}
    for name in names:
        env[name] = f"dummy-{name.lower()}"
    return env


# -- the compose file ----------------------------------------------------------
def test_compose_file_parses_and_defines_the_stack():
    doc = compose()
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict)
    missing = EXPECTED_SERVICES - set(doc["services"])
    assert not missing, f"services missing from docker/docker-compose.yml: {sorted(missing)}"


def test_one_named_network_for_every_service():
    doc = compose()
    networks = doc.get("networks") or {}
    assert len(networks) == 1, "expected exactly one network"
    (key, spec), = networks.items()
    assert spec and spec.get("name"), "the network must have an explicit name"
    for name, service in doc["services"].items():
        assert service.get("networks") in ([key], {key: None}) or key in (service.get("networks") or {}), (
            f"service {name} is not on network {key}"
        )


def test_spark_cluster_runs_from_the_project_image():
    svc = services()
    master = svc["spark-master"]
    assert "org.apache.spark.deploy.master.Master" in command_text(master["command"])
    assert master["command"][0] == "spark-class"
    assert master.get("build", {}).get("dockerfile") == "docker/Dockerfile"
    for worker in ("spark-worker-1", "spark-worker-2"):
        cmd = command_text(svc[worker]["command"])
        assert cmd.startswith("spark-class org.apache.spark.deploy.worker.Worker"), cmd
        assert "spark://spark-master:7077" in cmd
        assert svc[worker]["depends_on"]["spark-master"]["condition"] == "service_healthy"
    # driver and cluster share one image, so they run the same Spark
    images = {svc[name]["image"] for name in ("spark-master", "spark-worker-1", "spark-worker-2", "etl-job", "etl-scheduler")}
    assert len(images) == 1, f"master, workers and job must use one image, got {images}"


def test_etl_job_submits_the_daily_job_to_the_cluster():
    job = services()["etl-job"]
    cmd = command_text(job["command"])
    assert "spark-submit --master spark://spark-master:7077" in cmd, cmd
    assert "jobs/daily_etl.py" in cmd and "--profile docker" in cmd and "--date" in cmd, cmd
    assert re.search(r"--jars\s+\S", cmd), "etl-job must pass the project's jars with --jars"
    assert "RUN_DATE" in cmd and "RUN_DATE" in env_items(job)
    assert job.get("restart") in ("no", None), "etl-job is one-shot"
    assert job.get("working_dir") == "/opt/etl", "jobs/daily_etl.py is relative to /opt/etl"
    conditions = {name: spec["condition"] for name, spec in job["depends_on"].items()}
    assert conditions == {
        "spark-master": "service_healthy",
        "spark-worker-1": "service_healthy",
        "spark-worker-2": "service_healthy",
        "minio-init": "service_completed_successfully",
        "mysql": "service_healthy",
    }


def test_scheduler_is_opt_in_and_runs_the_same_submit():
    sched = services()["etl-scheduler"]
    assert sched.get("profiles") == ["scheduled"]
    assert sched["depends_on"] == services()["etl-job"]["depends_on"]
    assert command_text(sched["command"]) == "/opt/etl/docker/etl-scheduler.sh"
    script = SCHEDULER.read_text()
    assert 'spark-submit --master "$MASTER" --jars "$ETL_SPARK_JARS"' in script
    assert "jobs/daily_etl.py --profile docker" in script
    assert env_items(sched)["ETL_SPARK_MASTER"] == "spark://spark-master:7077"
    assert SCHEDULER.stat().st_mode & stat.S_IXUSR, "docker/etl-scheduler.sh must be executable"


def test_dashboard_serves_on_loopback_with_a_health_check():
    dash = services()["dashboard"]
    assert dash["command"][:3] == ["etl", "dashboard", "--profile"] and "docker" in dash["command"]
    assert dash["ports"] == ["127.0.0.1:${DASHBOARD_PORT:-8501}:8501"]
    assert "/_stcore/health" in " ".join(dash["healthcheck"]["test"])
    assert dash["depends_on"] == {"mysql": {"condition": "service_healthy"}}
    assert re.search(r"pip install /src\[dashboard\]", dockerfile_text()), "the image needs streamlit and PyMySQL"


def test_credentials_reach_the_containers_as_docker_secrets_from_docker_env():
    """Issue 23: the stack reads its credentials from Docker secrets (values of docker/.env), not from an
    encrypted copy that needs the host's virtual environment: every secret the docker profile names is a
    compose secret from a variable that the services creating the accounts (minio-init, mysql) use too,
    each driver gets exactly the secrets of its stages, the dashboard only the consumer's two."""
    from etl.config import load_config
    from etl.secrets import referenced_secrets

    cfg = load_config("docker", environ={})
    assert cfg.secrets.source == "folder" and cfg.secrets.folder == "/run/secrets"
    refs = referenced_secrets(cfg)
    declared = compose()["secrets"]
    assert set(declared) == set(refs), "every secret of the docker profile, and nothing else, is a compose secret"
    account_vars = set(env_items(services()["minio-init"])) | set(env_items(services()["mysql"]))
    for name, source in declared.items():
        assert set(source) == {"environment"} and source["environment"] in account_vars, name
    consumer = {n for n, keys in refs.items() if all(k.startswith("mysql.reader_") for k in keys)}
    assert consumer == {"mysql_reader_user", "mysql_reader_password"}
    svc = services()
    for name in ("etl-job", "etl-scheduler"):
        assert set(svc[name]["secrets"]) == set(refs) - consumer, name
        assert not any("conf/secrets" in str(v) for v in svc[name].get("volumes", [])), name
    assert set(svc["dashboard"]["secrets"]) == consumer
    assert all("secrets" not in s for n, s in svc.items() if n not in ("etl-job", "etl-scheduler", "dashboard"))


def test_minio_init_creates_the_buckets_and_one_user_per_identity():
    """minio-init runs etl/access.py's provisioning in the ETL image: the buckets of the docker profile,
    and a user for every stage policy, each from its own variables of docker/.env."""
    from etl.access import POLICY_PREFIX, stage_policies
    from etl.config import load_config

    svc = services()
    init = svc["minio-init"]
    assert init["image"] == svc["spark-master"]["image"]
    assert init["depends_on"]["minio"]["condition"] == "service_healthy"
    assert command_text(init["command"]).startswith("python -m etl.access --profile docker --provision")
    env = env_items(init)
    for policy in stage_policies(load_config("docker", environ={})):
        group = policy.removeprefix(POLICY_PREFIX).upper()
        assert {f"ETL_{group}_ACCESS_KEY", f"ETL_{group}_SECRET_KEY"} <= set(env), policy
    assert "healthcheck" in svc["minio"] and "minio-data:/data" in svc["minio"]["volumes"]


def _commands(service: dict) -> list[str]:
    """Everything a service runs as a command line: command, entrypoint and health check."""
    out = [command_text(service[key]) for key in ("command", "entrypoint") if service.get(key)]
    test = (service.get("healthcheck") or {}).get("test")
    if test:
        out.append(command_text(test[1:] if isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") else test))
    return out


def test_no_secret_on_any_command_line():
    """A command's arguments are readable by every user of the host (ps, /proc/<pid>/cmdline): credentials
    reach the containers as environment variables only (what mc alias/user add and the old MySQL health
    check did not)."""
    secret_names = {n for n in REQUIRED_VAR.findall(COMPOSE_FILE.read_text()) if SECRET_NAME.search(n)}
    secret_names |= {"MYSQL_PWD"}
    assert {"MINIO_ROOT_PASSWORD", "MYSQL_PASSWORD", "SPARK_AUTH_SECRET"} <= secret_names
    values = {v for k, v in dummy_env().items() if k in secret_names}
    for name, service in services().items():
        for line in _commands(service):
            used = set(re.findall(r"\$\$?\{?([A-Z0-9_]+)", line))
            assert not used & secret_names, f"{name} puts {sorted(used & secret_names)} on a command line: {line}"
            assert not any(v in line for v in values), name
            assert not re.search(r"spark\.authenticate\.secret|--password|(^| )-p\S", line), f"{name}: {line}"


def test_the_spark_cluster_authenticates_and_encrypts_its_connections():
    svc = services()
    profile = yaml.safe_load((ROOT / "conf" / "docker.yaml").read_text())
    assert profile["spark"]["conf"]["spark.authenticate"] == "true"           # the driver
    assert profile["spark"]["conf"]["spark.network.crypto.enabled"] == "true"
    for name in ("spark-master", "spark-worker-1", "spark-worker-2", "etl-job", "etl-scheduler"):
        env = env_items(svc[name])
        assert env["_SPARK_AUTH_SECRET"].startswith("${SPARK_AUTH_SECRET:?"), name   # generated, in docker/.env
    for name, variable in (("spark-master", "SPARK_MASTER_OPTS"), ("spark-worker-1", "SPARK_WORKER_OPTS")):
        options = env_items(svc[name])[variable].split()
        assert {"-Dspark.authenticate=true", "-Dspark.network.crypto.enabled=true"} <= set(options), name
    everything = COMPOSE_FILE.read_text() + SCHEDULER.read_text() + (ROOT / "conf" / "docker.yaml").read_text()
    assert "spark.authenticate.secret" not in everything          # never a setting (command line, SparkConf)


def test_mysql_init_grants_what_the_loader_and_the_consumer_get_in_dev():
    """docker/mysql/init/10-least-privilege.sh (bash, in the mysql image) and etl/export/mysql.py
    account_grants (dev) grant the same: the script reads docker/mysql/account-grants.sql, which must be
    what the migrations give today (a migration added without regenerating it fails here)."""
    from etl.export.mysql import GRANTS_TEMPLATE, SCHEMA_MIGRATIONS_DDL, grants_template

    assert GRANTS_TEMPLATE.read_text() == grants_template(), \
        "run: python -m etl.export.mysql --grants-template docker/mysql/account-grants.sql"
    script = (DOCKER / "mysql" / "init" / "10-least-privilege.sh").read_text()
    assert re.search(r'^SCHEMA_MIGRATIONS_DDL="([^"]*)"', script, re.M).group(1) == SCHEMA_MIGRATIONS_DDL
    assert "INSERT INTO schema_migrations" in script   # applied as root and recorded: the loader applies none
    assert "ON ${db}.* TO" not in script and ".* TO" not in GRANTS_TEMPLATE.read_text()   # nothing schema-wide
    mysql = services()["mysql"]
    assert {"MYSQL_READER_USER", "MYSQL_READER_PASSWORD"} <= set(env_items(mysql))
    assert any(v.endswith(":/etl-sql:ro") for v in mysql["volumes"])
    assert "./mysql/account-grants.sql:/etl-grants.sql:ro" in mysql["volumes"]


def test_mysql_matches_the_docker_profile():
    mysql = services()["mysql"]
    assert mysql["image"] == "mysql:8.4"
    env = env_items(mysql)
    profile = yaml.safe_load((ROOT / "conf" / "docker.yaml").read_text())
    assert env["MYSQL_DATABASE"] == profile["mysql"]["database"] == "retail_gold"
    assert "--character-set-server=utf8mb4" in command_text(mysql["command"])
    assert "healthcheck" in mysql and any(v.endswith(":/var/lib/mysql") for v in mysql["volumes"])
    assert profile["spark"]["master"] == "spark://spark-master:7077"
    assert profile["storage"]["s3"]["endpoint"] == "http://minio:9000"


# -- ports and credentials -------------------------------------------------------
@pytest.mark.parametrize("port, ok", [
    ("127.0.0.1:8080:8080", True),
    ("127.0.0.1:${X:-9000}:9000", True),
    ({"target": 80, "published": 8080, "host_ip": "127.0.0.1"}, True),
    ("8080:8080", False),
    ("0.0.0.0:3306:3306", False),
    ("3306", False),
    ({"target": 80, "published": 8080}, False),
])
def test_port_check_rejects_ports_open_to_all_interfaces(port, ok):
    assert (published_port_problems({"ports": [port]}) == []) is ok


def test_no_port_is_published_beyond_loopback():
    problems = {name: published_port_problems(svc) for name, svc in services().items()}
    assert not {k: v for k, v in problems.items() if v}, problems
    assert "0.0.0.0" not in COMPOSE_FILE.read_text()


def test_no_plaintext_credentials_in_compose_or_env_example():
    for name, service in services().items():
        for key, value in env_items(service).items():
            if SECRET_NAME.search(key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", value), (
                    f"{name}.environment.{key} must reference a variable from docker/.env, not a literal"
                )
    example = ENV_EXAMPLE.read_text()
    assignments = dict(line.split("=", 1) for line in example.splitlines() if re.match(r"^[A-Z0-9_]+=", line))
    assert {k: v for k, v in assignments.items() if v.strip()} == {}, "docker/.env.example must hold no values"
    required = set(REQUIRED_VAR.findall(COMPOSE_FILE.read_text()))
    assert required <= set(assignments), f"undocumented in .env.example: {sorted(required - set(assignments))}"
    assert "ETL_MASTER_KEY" not in COMPOSE_FILE.read_text(), "the stack's credentials are Docker secrets, no master key"
    assert (DOCKER / ".gitignore").read_text().split().count(".env") == 1


# -- the image -------------------------------------------------------------------
def test_dockerfile_installs_the_pyspark_pin_of_pyproject():
    text = dockerfile_text()
    match = re.search(r"^ARG\s+PYSPARK_VERSION=(\S+)", text, re.M)
    assert match, "docker/Dockerfile must pin pyspark with ARG PYSPARK_VERSION=X"
    assert match.group(1) == pyspark_pin(), (
        f"docker/Dockerfile pins pyspark {match.group(1)}, pyproject.toml pins {pyspark_pin()}"
    )
    assert 'pip install "pyspark==${PYSPARK_VERSION}"' in text
    assert re.search(r"pip install /src\b", text), "the image must pip install the project itself"


def test_dockerfile_layout():
    text = dockerfile_text()
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", text, re.M)
    assert len(stages) >= 3, "multi-stage build expected (jars, python deps, runtime)"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim-bookworm$", text, re.M)
    assert "openjdk-17-jre-headless" in text
    spark_home = dockerfile_env("SPARK_HOME")
    assert spark_home == "/opt/venv/lib/python3.11/site-packages/pyspark", spark_home
    assert dockerfile_env("ETL_HOME") == "/opt/etl"
    # Maven runs only in the build stage, on the same pom, copying no transitive jars.
    assert "COPY resources/jars/pom.xml resources/jars/pom.xml" in text
    assert re.search(r"mvn .*-f resources/jars/pom.xml dependency:copy-dependencies .*-DexcludeTransitive=true", text)
    assert re.search(rf"COPY --from=jars /build/\.jars/ {JAR_DIR_IN_IMAGE}/", text)
    runtime = text[text.rindex("\nFROM "):]
    assert "mvn" not in runtime and "maven" not in runtime.lower(), "no Maven in the runtime image"


def test_jar_list_matches_the_pom():
    declared = pom_jar_names()
    assert len(declared) == len(set(declared)) and declared
    jars = dockerfile_env("ETL_SPARK_JARS").split(",")
    assert all(j.startswith(JAR_DIR_IN_IMAGE + "/") for j in jars), jars
    names = [j.rsplit("/", 1)[1] for j in jars]
    assert sorted(names) == sorted(declared), (
        f"ETL_SPARK_JARS in docker/Dockerfile {sorted(names)} != resources/jars/pom.xml {sorted(declared)}"
    )
    # every spark-submit in the stack uses that list, and no other jar is named
    assert '--jars "$$ETL_SPARK_JARS"' in COMPOSE_FILE.read_text()
    stray = set(re.findall(r"[\w.-]+\.jar\b", COMPOSE_FILE.read_text())) - set(declared)
    assert not stray, f"jars named in docker-compose.yml but not in the pom: {stray}"


def test_build_context_allows_what_the_dockerfile_copies():
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "Dockerfile.dockerignore must be an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = re.findall(r"^COPY\s+(?!--from)(\S+)\s+\S+", dockerfile_text(), re.M)
    assert sources
    for src in sources:
        if src == ".":
            continue
        assert any(src.rstrip("/") == a or src.startswith(a + "/") for a in allowed), f"COPY {src} is excluded"
    for secret in (".env", "docker/.env", ".venv", ".jars", ".git"):
        assert secret not in allowed
    assert "conf/secrets/*" in patterns, "secrets files must stay out of the image"
    readme = tomllib.loads(PYPROJECT.read_text())["project"].get("readme") if PYPROJECT.exists() else None
    if isinstance(readme, str):
        assert readme in allowed, f"pyproject's readme {readme} must be in the build context"


# -- the scheduler script ------------------------------------------------------------
@pytest.fixture
def scheduler(tmp_path):
    """``sh docker/scheduler ARGS`` with a stand-in spark-submit on PATH that prints its arguments and
    exits with ``exit_code`` (the script's logic is tested; the real job is covered by the cluster test)."""
    if shutil.which("sh") is None or subprocess.run(["date", "-u", "-d", "yesterday"], capture_output=True).returncode:
        pytest.skip("needs a POSIX sh and GNU date (as in the image)")
    fake = tmp_path / "spark-submit"

    def run(*args: str, exit_code: int = 0, **env: str) -> subprocess.CompletedProcess:
        fake.write_text(f'#!/bin/sh\necho "ARGS $*"\nexit {exit_code}\n')
        fake.chmod(0o755)
        return subprocess.run(["sh", str(SCHEDULER), *args], capture_output=True, text=True, timeout=30,
                              env={"PATH": f"{tmp_path}:{os.environ['PATH']}",
                                   "ETL_SPARK_JARS": "/opt/etl/.jars/a.jar", **env})
    return run


def test_scheduler_script_runs_the_job_for_a_day(scheduler):
    subprocess.run(["sh", "-n", str(SCHEDULER)], check=True)
    out = scheduler("--once", "2026-01-31")
    assert out.returncode == 0, out.stderr
    assert ("ARGS --master spark://spark-master:7077 --jars /opt/etl/.jars/a.jar "
            "jobs/daily_etl.py --profile docker --date 2026-01-31") in out.stdout
    failed = scheduler("--once", "2026-01-31", exit_code=7)
    assert failed.returncode == 7 and "FAILED" in failed.stderr
    bad = scheduler(ETL_SCHEDULE_AT="25:00")
    assert bad.returncode == 2 and "HH:MM" in bad.stderr


def test_scheduler_script_explains_exit_codes_and_runs_maintenance(scheduler):
    dq = scheduler("--once", "2026-01-31", exit_code=4)
    assert dq.returncode == 4 and "FAILED (exit 4: data-quality threshold exceeded" in dq.stderr
    done = scheduler("--maintain")
    assert done.returncode == 0, done.stderr
    assert "ARGS --master spark://spark-master:7077 --jars /opt/etl/.jars/a.jar jobs/maintain.py --profile docker" \
        in done.stdout
    assert (ROOT / "jobs" / "maintain.py").exists()
    bad = scheduler(ETL_MAINTAIN_WEEKDAY="8")
    assert bad.returncode == 2 and "ETL_MAINTAIN_WEEKDAY" in bad.stderr
    assert env_items(services()["etl-scheduler"])["ETL_MAINTAIN_WEEKDAY"] == "${ETL_MAINTAIN_WEEKDAY-7}"


# -- docker compose's own validation -------------------------------------------------
def test_docker_compose_config_validates():
    reason = compose_cli_available()
    if reason:
        pytest.skip(f"docker compose CLI not available ({reason}); structural checks above still ran")
    base = ["docker", "compose", "-f", str(COMPOSE_FILE)]
    env = dummy_env()
    for extra in ([], ["--profile", "scheduled"]):
        result = subprocess.run([*base, *extra, "config", "-q"], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
    # compose's normalised view: every published port bound to loopback
    result = subprocess.run([*base, "--profile", "scheduled", "config", "--format", "yaml"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    normalised = yaml.safe_load(result.stdout)["services"]
    assert set(normalised) == EXPECTED_SERVICES
    # the scheduler's weekly maintenance defaults to Sunday when docker/.env does not set it
    assert env_items(normalised["etl-scheduler"]).get("ETL_MAINTAIN_WEEKDAY") == "7"
    for name, service in normalised.items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
    # and it refuses to run without the credentials docker/.env must provide
    env.pop("MYSQL_READER_PASSWORD")
    missing = subprocess.run([*base, "config", "-q"], env=env, capture_output=True, text=True, timeout=120,
                             cwd=ROOT)
    if not (DOCKER / ".env").exists():
        assert missing.returncode != 0 and "MYSQL_READER_PASSWORD" in missing.stderr
