"""No new secret in the repository: detect-secrets over every tracked (and not ignored untracked) file.

The plugins, filters and exclusions are those recorded in ``.secrets.baseline``; every finding
there was audited and marked ``"is_secret": false`` (docs/security.md says which and why).
Files excluded in the baseline: ``conf/secrets/*.json``, ciphertext that is high-entropy base64
by design. Lines excluded: ``<key>_secret: <name>`` in YAML, which name a secret, not hold one.

Findings are compared by file, type and hashed value, not by line number, so moving a
baselined line does not fail the test; a new one does, with the file, line and detector.
In-process, one file at a time: no worker pool, a few seconds of one core.

To accept an audited finding: ``detect-secrets scan --baseline .secrets.baseline``, then
``detect-secrets audit .secrets.baseline``, and commit the baseline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from detect_secrets import SecretsCollection   # the test extra: pip install -e '.[test]'
from detect_secrets.settings import transient_settings

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / ".secrets.baseline"


def repository_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the scanner needs `git ls-files`")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.decode()
    return sorted({p for p in listed.split("\0") if p and p != BASELINE.name and (ROOT / p).is_file()})


def test_the_baseline_is_audited_and_excludes_only_ciphertext_and_secret_names():
    baseline = json.loads(BASELINE.read_text())
    patterns = {f["path"].rsplit(".", 1)[-1]: f.get("pattern") for f in baseline["filters_used"]}
    assert patterns["should_exclude_file"] == [r"(^|/)conf/secrets/[^/]*\.json$"]
    assert patterns["should_exclude_line"] == [r'^\s*[a-z_]+_secret:\s*"?[a-z][a-z0-9_]*"?\s*(#.*)?$']
    for findings in baseline["results"].values():
        for finding in findings:
            assert finding.get("is_secret") is False, f"not audited as a false positive: {finding}"


def test_no_secret_outside_the_baseline(monkeypatch):
    files = repository_files()
    assert "etl/secrets.py" in files and "conf/dev.yaml" in files
    baseline = json.loads(BASELINE.read_text())
    monkeypatch.chdir(ROOT)       # findings carry paths relative to the root, as in the baseline
    with transient_settings(baseline):
        known = SecretsCollection.load_from_baseline(baseline)
        found = SecretsCollection()
        for path in files:
            found.scan_file(path)
    new = [(filename, secret) for filename, secret in (found - known)]
    assert not new, "detect-secrets findings not in .secrets.baseline (audit them, never commit a real one):\n" + \
        "\n".join(f"  {filename}:{secret.line_number}: {secret.type}" for filename, secret in new)
