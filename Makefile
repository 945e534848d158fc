# The two commands a new user needs:
#   make demo   set up everything, start MinIO + MariaDB on loopback, generate a few days of
#               sales, run the daily job end to end, print where the outputs are
#   make test   set up everything and run the whole test suite (what .ci/run calls)
# Everything is installed into the project folder (.venv, .jars, .local) except
# Debian's MariaDB packages and the master key (~/.config/etl/master.key, mode 0600).

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
DEMO_DATE ?= 2026-11-22
PROFILE  ?= dev
CONSTRAINTS := resources/constraints.txt

.PHONY: demo demo-next-steps test test-quick setup lock unit-pythons check-airflow-dag jars class-archive services services-stop unit clean report-png report-sample report-image bench bench-deps bench-tiny bench-warm bench-100m bench-all bench-order-analytics

demo: setup services
	$(BIN)/etl generate --profile $(PROFILE) --start 2026-11-20 --days 3
	$(BIN)/etl run --profile $(PROFILE) --date $(DEMO_DATE)
	@$(MAKE) --no-print-directory -s demo-next-steps

# What to type next, as printed at the end of `make demo`: the profile set once for the shell (every etl
# command reads ETL_PROFILE; --profile overrides it), then the README's commands work as written.
demo-next-steps:
	@echo
	@echo "Next steps (the $(PROFILE) profile for every etl command of this shell, as in the README):"
	@echo "  export ETL_PROFILE=$(PROFILE)"
	@echo "  $(BIN)/etl status                               # the run just made, from ops/runs"
	@echo "  $(BIN)/etl status --run RUN_ID                  # one run in detail"
	@echo "  $(BIN)/etl check-freshness --max-age 26h        # exit 6 when no run succeeded in 26 h"
	@echo "  $(BIN)/etl run --date $(DEMO_DATE) --stages gold,export   # part of the pipeline again"
	@echo "  $(BIN)/etl --help                               # every command; make services-stop stops the servers"
	@echo "Open the dashboard on the gold tables MySQL now serves (http://127.0.0.1:8501/, Ctrl-C stops it):"
	@echo "  $(BIN)/etl dashboard"

# Two pytest workers (pytest-xdist), one test file per worker at a time (module fixtures run once); each
# worker has its own Spark session and, for integration tests, its own MinIO and MariaDB. tests/conftest.py
# sends the files that read the observed slice run (local_slice_run) to one worker as one unit, so that run
# happens once, and starts the heaviest units first. Most jobs run in the worker's warm JVM
# (etl_in_process); a job runs as its own process where that is what is tested.
test: setup
	-scripts/install-compose-cli.sh
	-scripts/install-browser.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile --durations=30

# The same without the tests of several whole etl runs each (marked slow): a quicker loop while developing.
test-quick: setup
	-scripts/install-browser.sh
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"

unit: setup
	$(BIN)/python -m pytest -m "not integration and not cluster"

setup: $(VENV)/.installed jars class-archive

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	@scripts/check-prerequisites.sh $(PYTHON)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,dashboard]'
	touch $@

# The whole dependency tree, pinned: a fresh environment with the newest versions pyproject.toml allows,
# frozen into resources/constraints.txt (review the diff, run the tests, commit).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e '.[test,bench,dashboard]'
	{ sed -n '1,3p' $(CONSTRAINTS); .venv-lock/bin/python -m pip freeze --exclude-editable; } > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS) && rm -rf .venv-lock

# The unit tests on every supported Python (3.11 to 3.13), each in its own .venv-<version> with the same
# pins: make unit-pythons PYTHONS="python3.11 $$(pyenv prefix 3.12.1)/bin/python3.12 ..."
PYTHONS ?= python3.11 python3.12 python3.13
unit-pythons: jars
	@set -e; for py in $(PYTHONS); do \
	  version=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  venv=.venv-$$version; echo "== unit tests on Python $$version ($$py) in $$venv"; \
	  test -x $$venv/bin/python || $$py -m venv $$venv; \
	  $$venv/bin/python -m pip install --quiet --upgrade pip; \
	  $$venv/bin/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,dashboard]'; \
	  $$venv/bin/python -m pytest -n 2 --dist loadfile -q -m "not integration and not cluster"; \
	done

# Jars declared once in resources/jars/pom.xml, copied (no transitive deps) into .jars/.
jars: .jars/.fetched

.jars/.fetched: resources/jars/pom.xml
	mvn -q -B -f resources/jars/pom.xml dependency:copy-dependencies \
	    -DexcludeTransitive=true -DoutputDirectory=$(CURDIR)/.jars
	touch $@

# The driver's class-data archive (etl/class_archive.py): Spark's, Delta's and Hadoop's classes parsed
# once here and mapped by every driver a run starts from Python; built again when the jars or packages change.
class-archive: .jars/driver-classes.jsa

.jars/driver-classes.jsa: .jars/.fetched $(VENV)/.installed etl/class_archive.py
	$(BIN)/python -m etl.class_archive

services: setup
	$(BIN)/etl services start --profile $(PROFILE)

services-stop:
	$(BIN)/etl services stop --profile $(PROFILE)

# The Excel report's Summary sheet as a PNG (LibreOffice headless -> PDF -> pdftoppm; not needed by the tests):
#   make report-png                       the newest .local/exports/Daily_Report_*.xlsx
#   make report-png REPORT=path.xlsx PNG=out.png
# Needs: apt-get install -y --no-install-recommends libreoffice-calc-nogui poppler-utils
REPORT ?= $(lastword $(sort $(wildcard .local/exports/Daily_Report_*.xlsx)))
PNG    ?= $(REPORT:.xlsx=_summary.png)
SAMPLE_REPORT := .local/exports/sample/Daily_Report_$(subst -,,$(DEMO_DATE)).xlsx

report-png:
	@test -n "$(REPORT)" || { echo "no report in .local/exports: make report-png REPORT=path/to/Daily_Report_YYYYMMDD.xlsx"; exit 2; }
	scripts/render_report_png.sh "$(REPORT)" "$(PNG)"

# A report from seeded, made-up silver data (no services), and the picture in docs/ made from it.
report-sample: setup
	$(BIN)/python scripts/sample_report.py --date $(DEMO_DATE) --out .local/exports/sample

report-image: report-sample
	scripts/render_report_png.sh "$(SAMPLE_REPORT)" docs/images/daily_report_summary.png 120

# The benchmark of docs/benchmarks.md (issues 9 and 21): the tiny day (the demo's data and one `etl run`,
# its fixed cost per run), then the pipeline against DuckDB and pandas on the same files; results in
# benchmarks/results/, report section and chart regenerated. Defaults: the tiny day, 1M and 10M sales, on the
# dev profile (MinIO and MariaDB started first, as for the report's figures; `make services-stop` after).
#   make bench BENCH_ARGS="--sales 100000 1000000"
BENCH_ARGS ?=
BENCH      := $(BIN)/python benchmarks/run.py --services

bench-deps: setup
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,bench,dashboard]'

bench: bench-deps
	$(BENCH) --tiny --sales 1000000 10000000 $(BENCH_ARGS)

# The tiny day alone (about 3 minutes today; issue 21's target is 40 s): `make demo`'s data
# (etl generate --start 2026-11-20 --days 3, all 7 feeds) and one `etl run --date 2026-11-22` with every stage,
# counted in Spark SQL executions, jobs, Delta commits and MERGEs; benchmarks/results/tiny.json.
bench-tiny: bench-deps
	$(BENCH) --tiny $(BENCH_ARGS)

# The tiny day four times in one process: the first run is a cold JVM's, the later ones what a warm
# driver (a long-lived one, such as a Spark Connect server) would take. benchmarks/results/warm/tiny.json.
bench-warm: bench-deps
	$(BIN)/python benchmarks/warm_driver.py --runs 4

# The issue's 100M size, added to the same report: the pipeline and the DuckDB peer (pandas would hold
# every row in memory), without the serving run. About 95 minutes on 2 cores, and 80 GB of free disk at
# its peak (Spark's shuffle files and disk copies under /tmp reached 60 GB in the 2026-12-05 run; the lake; the CSVs).
bench-100m: bench-deps
	$(BENCH) --sales 100000000 --peers duckdb --no-serve $(BENCH_ARGS)

# What the order analytics (issue 24) cost at 1M and 10M in-store sales: all seven feeds (online and POS
# orders at a tenth of the in-store sales a day each), no peers; the full run, the incremental day and the
# export, with the seconds of each of the nine tables and their two facts tables, then every table's rows
# counted in gold, MySQL and the Excel report. benchmarks/results/order_analytics/; about an hour on 2 cores.
bench-order-analytics: bench-deps
	$(BENCH) --order-analytics --sales 1000000 10000000 $(BENCH_ARGS)

# Every figure of docs/benchmarks.md's generated section, in one command: about two hours.
bench-all: bench bench-100m

clean:
	rm -rf .local/lake .local/landing .local/exports .local/generated

# The Airflow example DAG loaded by Airflow's own DagBag on Airflow 2 and 3, each in a virtual
# environment of its own (created once, a few minutes each; Airflow is no dependency of the project).
# Airflow 2's pins that let pip resolve it without Airflow's constraint files (else it backtracks for long).
AIRFLOW2 := apache-airflow==2.11.0 apache-airflow-providers-apache-spark==5.3.2 'connexion[flask]==2.14.2' \
            'flask<2.3' flask-appbuilder==4.5.3
AIRFLOW3 := apache-airflow==3.3.2 apache-airflow-providers-apache-spark==6.3.4
check-airflow-dag:
	@set -e; for major in 2 3; do \
	  venv=.venv-airflow$$major; \
	  if [ ! -x $$venv/bin/airflow ]; then \
	    $(PYTHON) -m venv $$venv && $$venv/bin/python -m pip install --quiet --upgrade pip; \
	    if [ $$major = 2 ]; then $$venv/bin/python -m pip install --quiet $(AIRFLOW2); \
	    else $$venv/bin/python -m pip install --quiet $(AIRFLOW3); fi; \
	  fi; \
	  $$venv/bin/python scripts/check_airflow_dag.py; \
	done
