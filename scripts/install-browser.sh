#!/usr/bin/env bash
# Debian's Chromium and its WebDriver (packages chromium, chromium-driver) for the dashboard's browser
# test (tests/integration/test_dashboard_browser.py, Selenium headless), installed with apt-get as root or
# through sudo, like etl services start installs MariaDB. Nothing is downloaded outside the system's
# packages. Without apt-get or sudo it says what to install; the browser test then fails naming them.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
if ! command -v apt-get >/dev/null; then
  echo "install-browser: no apt-get: install Chromium and its chromedriver with the system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
  echo "install-browser: run 'sudo apt-get install -y chromium chromium-driver' as a user with sudo" >&2
  exit 1
fi
echo "install-browser: installing chromium and chromium-driver with apt-get (about a minute)"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
