"""The run lock against the real MinIO (S3 conditional writes), and two ``etl run`` processes at once.

Every test uses its own lake prefix, so its lock object is its own.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from datetime import date, datetime, timedelta, timezone

import pytest

from devtools.generate import GenerateOptions, generate
from etl.config import PROJECT_ROOT
from etl.errors import ConfigError, LockError
from etl.ops.lock import LOCK_KEY, LockOwner, S3RunLock, lock_for
from etl.storage import s3_client
from tests.integration.conftest import BIN, isolated_env, landing_store

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


@pytest.fixture(scope="module")
def client(stack):
    return s3_client(stack.cfg, stack.secret)


@pytest.fixture
def make_lock(client, lake_prefix):
    """A lock on this test's own key; ``clock`` lets a test pretend to be in the past."""
    made = []

    def make(run_id: str, ttl: timedelta = HOUR, clock=None, heartbeat: bool = False) -> S3RunLock:
        lock = S3RunLock(client, "lake", f"{lake_prefix}/{LOCK_KEY}", LockOwner(run_id, "host-" + run_id, 100),
                         ttl, heartbeat=heartbeat, **({"clock": clock} if clock else {}))
        made.append(lock)
        return lock

    yield make
    for lock in made:
        lock._stop_heartbeat()


def test_acquire_refuses_a_second_run_naming_the_holder_and_release_frees_it(make_lock, client, lake_prefix):
    first, second = make_lock("run-a"), make_lock("run-b")
    first.acquire()
    stored = first.read()
    assert stored.owner == LockOwner("run-a", "host-run-a", 100)
    assert stored.expires_at - stored.acquired_at == HOUR
    with pytest.raises(LockError) as refused:
        second.acquire()
    message = str(refused.value)
    assert refused.value.exit_code == 5
    assert message.startswith(f"another run holds the lock s3a://lake/{lake_prefix}/ops/_lock.json: "
                              f"run run-a on host host-run-a (pid 100), since {stored.acquired_at:%Y-%m-%dT%H:%M:%S}Z")
    assert "\n" not in message
    first.release()
    assert first.read() is None
    second.acquire()
    assert second.read().owner.run_id == "run-b"
    second.release()


def test_a_stale_lock_is_taken_over_with_a_warning_and_its_old_owner_cannot_release_it(make_lock, caplog):
    crashed = make_lock("run-crashed", clock=lambda: datetime.now(timezone.utc) - 3 * HOUR)
    crashed.acquire()                                   # expired two hours ago
    taker = make_lock("run-taker")
    with caplog.at_level(logging.WARNING, logger="etl.ops.lock"):
        taker.acquire()
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "took over a stale lock of run run-crashed on host host-run-crashed" in warning[0]
    assert taker.read().owner.run_id == "run-taker"
    with pytest.raises(LockError, match=r"this run lost the lock .* \(now held by run run-taker"):
        crashed.refresh()
    crashed.release()                                    # not ours any more: left alone
    assert taker.read().owner.run_id == "run-taker"
    taker.release()
    assert taker.read() is None


def test_of_many_simultaneous_takers_exactly_one_wins(make_lock):
    def race(locks) -> tuple[list, list]:
        barrier, won, refused = threading.Barrier(len(locks)), [], []

        def take(lock):
            barrier.wait()
            try:
                lock.acquire()
                won.append(lock.owner.run_id)
            except LockError as exc:
                refused.append(str(exc))

        threads = [threading.Thread(target=take, args=(lock,)) for lock in locks]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return won, refused

    won, refused = race([make_lock(f"fresh-{n}") for n in range(6)])          # no lock object yet
    assert len(won) == 1 and len(refused) == 5
    assert all(f"run {won[0]} on host" in message for message in refused)
    # Now over a stale lock: the fresh winner's object replaced by one that expired hours ago.
    stale = make_lock("stale", clock=lambda: datetime.now(timezone.utc) - 3 * HOUR)
    stale.client.delete_object(Bucket=stale.bucket, Key=stale.key)
    stale.acquire()
    won, refused = race([make_lock(f"taker-{n}") for n in range(4)])
    assert len(won) == 1 and len(refused) == 3
    assert all(f"run {won[0]} on host" in message for message in refused)


def test_the_heartbeat_keeps_a_long_run_from_expiring(make_lock):
    holder = make_lock("long-run", ttl=timedelta(seconds=4), heartbeat=True)
    holder.acquire()
    first_expiry = holder.read().expires_at
    time.sleep(6)                                        # longer than the expiry: only refreshes keep it
    now = holder.read()
    assert now.expires_at > first_expiry and now.expires_at > datetime.now(timezone.utc)
    with pytest.raises(LockError, match="run long-run"):
        make_lock("other").acquire()
    holder.release()
    assert holder.read() is None


def test_lock_for_the_dev_profile_is_the_lake_bucket_object(stack, lake_prefix):
    cfg = stack.config(**isolated_env(lake_prefix), ETL__OPS__LOCK_TTL_MINUTES="5")
    lock = lock_for(cfg, "run-x", stack.secret)
    assert isinstance(lock, S3RunLock)
    assert lock.where == f"s3a://lake/{lake_prefix}/ops/_lock.json" and lock.ttl == timedelta(minutes=5)


def test_two_runs_started_at_once_one_runs_the_other_exits_5(stack, lake_prefix, tmp_path):
    env = isolated_env(lake_prefix)
    generate(GenerateOptions(start=date(2026, 11, 22), days=1, sales_per_day=5, feeds=("sales",)),
             tmp_path / "gen", landing_store(stack, lake_prefix))
    command = [str(BIN / "etl"), "run", "--date", "2026-11-22", "--stages", "ingest"]
    environment = {**os.environ, **stack.env, **env}
    procs = [subprocess.Popen(command, env=environment, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 5], [err[-2000:] for _, _, err in results]
    _, out, _ = next(r for r in results if r[0] == 0)
    _, _, err = next(r for r in results if r[0] == 5)
    winner_id = out.split()[1]                            # "run <id> for 2026-11-22 ..."
    refused = [line for line in err.splitlines() if line.startswith("etl: error:")]
    assert refused == [refused[0]] and (f"another run holds the lock s3a://lake/{lake_prefix}/ops/_lock.json: "
                                        f"run {winner_id} on host ") in refused[0]
    assert "bronze sales       files ingested 1" in out
    lock = lock_for(stack.config(**env), "reader", stack.secret)
    assert lock.read() is None                            # released at the end


def test_a_missing_lake_bucket_is_a_config_error_not_a_traceback(client, lake_prefix):
    lock = S3RunLock(client, f"no-such-bucket-{lake_prefix}", LOCK_KEY, LockOwner("r", "h", 1), HOUR, heartbeat=False)
    with pytest.raises(ConfigError, match=r"cannot write the run lock s3a://no-such-bucket-.*: NoSuchBucket"):
        lock.acquire()


def test_maintain_while_a_run_holds_the_lock_exits_5_and_leaves_the_lock_alone(stack, make_lock, lake_prefix):
    """`etl maintain` takes the same lock as a run (the real S3 object on MinIO, as the run identity):
    while a run holds it, it exits 5 naming the holder, before Spark starts, and the run keeps its lock."""
    holder = make_lock("nightly-run")
    holder.acquire()
    env = {**os.environ, **stack.env, **isolated_env(lake_prefix)}
    done = subprocess.run([str(BIN / "etl"), "maintain"], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 5, done.stderr[-2000:]
    assert done.stderr.splitlines()[-1].startswith(
        f"etl: error: another run holds the lock s3a://lake/{lake_prefix}/ops/_lock.json: run nightly-run on host "
        f"host-nightly-run (pid 100)")
    assert "maintenance of" not in done.stdout                      # no table was touched
    current = holder.read()
    assert current.owner.run_id == "nightly-run" and current.etag == holder.state.etag
    holder.release()
