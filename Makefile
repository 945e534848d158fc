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

.PHONY: demo test setup jars services services-stop unit clean

demo: setup services
	$(BIN)/etl generate --profile $(PROFILE) --start 2026-11-20 --days 3
	$(BIN)/etl run --profile $(PROFILE) --date $(DEMO_DATE)

test: setup
	-scripts/install-compose-cli.sh
	$(BIN)/python -m pytest

unit: setup
	$(BIN)/python -m pytest -m "not integration and not cluster"

setup: $(VENV)/.installed jars

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Jars declared once in resources/jars/pom.xml, copied (no transitive deps) into .jars/.
jars: .jars/.fetched

.jars/.fetched: resources/jars/pom.xml
	mvn -q -B -f resources/jars/pom.xml dependency:copy-dependencies \
	    -DexcludeTransitive=true -DoutputDirectory=$(CURDIR)/.jars
	touch $@

services: setup
	$(BIN)/etl services start --profile $(PROFILE)

services-stop:
	$(BIN)/etl services stop --profile $(PROFILE)

clean:
	rm -rf .local/lake .local/landing .local/exports .local/generated
