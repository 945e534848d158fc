#!/usr/bin/env bash
# What `make setup` needs from the machine, checked up front with one message naming everything
# missing (instead of a failure deep inside pip, Maven or the first Spark session):
#   Python 3.11 to 3.13 (the interpreter given as $1, make's PYTHON), a Java 17 or 21 runtime (Spark 4),
#   Maven (the jars), Go unless MinIO is already built into .local/bin, and for MariaDB either its
#   Debian packages or apt-get with root or sudo (etl services start installs them).
# A shell script because it must run before the project's virtual environment exists.
set -uo pipefail
python=${1:-python3}
missing=()

if ! version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); then
  missing+=("Python 3.11, 3.12 or 3.13 ('$python' does not run; set PYTHON=/path/to/python3.12)")
elif ! "$python" -c 'import sys; sys.exit(not ((3, 11) <= sys.version_info[:2] <= (3, 13)))'; then
  missing+=("Python 3.11, 3.12 or 3.13 ('$python' is $version; set PYTHON=/path/to/python3.12)")
elif ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  missing+=("Python's venv module for $python (Debian: apt-get install python$version-venv)")
fi

if ! command -v java >/dev/null; then
  missing+=("a Java 17 or 21 runtime for Spark 4 (Debian: apt-get install openjdk-17-jre-headless)")
else
  java_major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  case "$java_major" in
    17|21) ;;
    *) missing+=("a Java 17 or 21 runtime for Spark 4 (java is version ${java_major:-unknown})") ;;
  esac
fi

command -v mvn >/dev/null || missing+=("Maven, which fetches the jars (Debian: apt-get install maven)")

if [ ! -x .local/bin/minio ] && ! command -v minio >/dev/null && ! command -v go >/dev/null; then
  missing+=("Go, to build the MinIO server once (https://go.dev/dl/), or a minio binary on PATH")
fi

if ! command -v mariadbd >/dev/null && [ ! -x /usr/sbin/mariadbd ] && [ ! -x /usr/sbin/mysqld ]; then
  if ! command -v apt-get >/dev/null; then
    missing+=("MariaDB server and client (mariadb-server, mariadb-client) from the system's packages")
  elif [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
    missing+=("MariaDB: run 'sudo apt-get install -y mariadb-server mariadb-client' as a user with sudo")
  fi   # else: etl services start installs it with apt-get (through sudo for a user who is not root)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "make setup: this machine lacks what the project needs:" >&2
  for item in "${missing[@]}"; do echo "  - $item" >&2; done
  exit 1
fi
