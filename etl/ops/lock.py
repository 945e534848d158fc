"""The run lock: one writing run at a time, so every Delta table has a single writer.

Delta on S3 is safe only with one writer per table (S3 has no atomic rename, and this
project configures no external commit coordinator), so a scheduled run and a manual one
must never overlap. The lock is one small JSON object, ``<lake>/ops/_lock.json``, holding
the owner (run id, host, pid), ``acquired_at`` and ``expires_at``:

- acquired with an S3 conditional write (``PutObject`` with ``If-None-Match: *``): the
  store itself decides which of two simultaneous writers wins; the loser gets 412
  (or 409 when both requests overlap), never a silent overwrite;
- refreshed by a heartbeat thread (every quarter of the expiry) with ``If-Match: <our
  ETag>``, so a long run never expires, and a run that lost its lock finds out;
- a lock whose ``expires_at`` has passed (its owner crashed or was killed) is taken over
  with ``If-Match: <its ETag>``: of two takers only one can replace that version, and the
  old owner is named in a WARNING;
- released at the end, also on failure, only if it is still ours.

The ``local`` profile (lake on the file system) uses an ``flock`` on
``<lake>/ops/_lock.json`` instead: the kernel drops it when the process ends, so a
local lock never goes stale and has no expiry.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from etl.errors import ConfigError, LockError

log = logging.getLogger(__name__)

LOCK_KEY = "ops/_lock.json"
# 412: the condition failed (the key exists, or its ETag changed); 409: a conflicting
# conditional write to the same key was in flight (S3 says: retry). Both mean "not yours".
_LOST_RACE = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_MISSING = {"NoSuchKey", "404", "NotFound"}
# Not transient: the bucket or the credentials are wrong (exit 3, like any configuration error).
_SETUP = {"NoSuchBucket", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class LockOwner:
    run_id: str
    host: str
    pid: int

    @classmethod
    def this_process(cls, run_id: str) -> "LockOwner":
        return cls(run_id, socket.gethostname(), os.getpid())

    def describe(self) -> str:
        return f"run {self.run_id} on host {self.host} (pid {self.pid})"


@dataclass(frozen=True)
class LockState:
    """What the lock object says, and its version (ETag) for a conditional replace."""

    owner: LockOwner
    acquired_at: datetime
    expires_at: datetime | None
    etag: str | None = None

    @classmethod
    def from_json(cls, text: str, etag: str | None = None) -> "LockState":
        data = json.loads(text)
        owner = data.get("owner", {})
        return cls(LockOwner(str(owner.get("run_id", "?")), str(owner.get("host", "?")), int(owner.get("pid", 0))),
                   _parse(data["acquired_at"]),
                   _parse(data["expires_at"]) if data.get("expires_at") else None, etag)

    def to_json(self) -> str:
        return json.dumps({"owner": {"run_id": self.owner.run_id, "host": self.owner.host, "pid": self.owner.pid},
                           "acquired_at": _stamp(self.acquired_at),
                           "expires_at": _stamp(self.expires_at) if self.expires_at else None})

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def owner_gone(self) -> bool:
        """The holder ran on this host and its process no longer exists (killed, crashed): its lock is
        stale at once, without waiting for the expiry. A holder on another host is judged by expiry only."""
        if self.owner.host != socket.gethostname() or self.owner.pid <= 0:
            return False
        try:
            os.kill(self.owner.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:       # alive, someone else's
            return False
        return False

    def stale(self, now: datetime) -> bool:
        return self.expired(now) or self.owner_gone()

    def held_message(self, where: str) -> str:
        until = f", expires {_stamp(self.expires_at)}" if self.expires_at else ""
        return (f"another run holds the lock {where}: {self.owner.describe()}, since {_stamp(self.acquired_at)}"
                f"{until}; wait for it to finish (nothing was run)")


class RunLock:
    """Acquire, refresh and release; ``with lock.held():`` does all three around a block."""

    where: str

    def acquire(self) -> None:
        raise NotImplementedError

    def refresh(self, run_id: str | None = None) -> None:
        """Push the expiry forward (and, in a backfill, name the date's run now writing)."""

    def release(self) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise LockError when the heartbeat found the lock taken from us (between stages)."""

    def read(self) -> LockState | None:
        """Who holds the lock now (None: nobody), without taking it."""
        raise NotImplementedError

    def held(self):
        return _Held(self)


class _Held:
    def __init__(self, lock: RunLock):
        self.lock = lock

    def __enter__(self) -> RunLock:
        self.lock.acquire()
        return self.lock

    def __exit__(self, *exc) -> None:
        self.lock.release()


class S3RunLock(RunLock):
    """The lock object in a bucket; every write is conditional, so the store arbitrates."""

    def __init__(self, client, bucket: str, key: str, owner: LockOwner, ttl: timedelta,
                 clock: Callable[[], datetime] = _now, heartbeat: bool = True):
        self.client, self.bucket, self.key = client, bucket, key
        self.owner, self.ttl, self.clock = owner, ttl, clock
        self.where = f"s3a://{bucket}/{key}"
        self.state: LockState | None = None
        self._heartbeat_enabled = heartbeat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()
        self.lost: str | None = None
        self.signed_in_as = "the storage.s3 credentials"     # lock_for names the stage identity

    # -- S3 calls ------------------------------------------------------------
    @staticmethod
    def _code(exc) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    def _put(self, state: LockState, **condition) -> LockState:
        from botocore.exceptions import ClientError

        try:
            response = self.client.put_object(Bucket=self.bucket, Key=self.key, Body=state.to_json().encode(),
                                              ContentType="application/json", **condition)
        except ClientError as exc:
            if self._code(exc) in _SETUP:
                raise ConfigError(f"cannot write the run lock {self.where}: {self._code(exc)} (check that the "
                                  f"lake bucket exists and that {self.signed_in_as} may write it)") from None
            raise
        return LockState(state.owner, state.acquired_at, state.expires_at, response["ETag"])

    def read(self) -> LockState | None:
        """The current lock object, or None when there is none."""
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            if self._code(exc) in _MISSING:
                return None
            raise
        text = response["Body"].read().decode()
        try:
            return LockState.from_json(text, response["ETag"])
        except (ValueError, KeyError, TypeError):
            # Unreadable (written by hand?): treat as expired so it can be taken over, owner unknown.
            return LockState(LockOwner("unknown", "unknown", 0), datetime.min.replace(tzinfo=timezone.utc),
                             datetime.min.replace(tzinfo=timezone.utc), response["ETag"])

    def _new_state(self) -> LockState:
        now = self.clock()
        return LockState(self.owner, now, now + self.ttl)

    # -- protocol --------------------------------------------------------------
    def acquire(self) -> None:
        from botocore.exceptions import ClientError

        for _ in range(3):      # the holder may release between our failed put and our read
            try:
                self.state = self._put(self._new_state(), IfNoneMatch="*")
                log.info("run lock %s acquired by %s, expires %s", self.where, self.owner.describe(),
                         _stamp(self.state.expires_at))
                self._start_heartbeat()
                return
            except ClientError as exc:
                if self._code(exc) not in _LOST_RACE:
                    raise
            current = self.read()
            if current is None:
                continue
            if not current.stale(self.clock()):
                raise LockError(current.held_message(self.where))
            self._take_over(current)
            return
        raise LockError(f"could not acquire the lock {self.where}: it changed hands repeatedly; try again")

    def _take_over(self, stale: LockState) -> None:
        from botocore.exceptions import ClientError

        try:
            self.state = self._put(self._new_state(), IfMatch=stale.etag)
        except ClientError as exc:
            if self._code(exc) not in _LOST_RACE and self._code(exc) not in _MISSING:
                raise
            now_held = self.read()
            if now_held is None:
                raise LockError(f"the stale lock {self.where} changed while it was being taken over; "
                                f"try again") from None
            raise LockError(now_held.held_message(self.where)) from None
        log.warning("run lock %s: took over a stale lock of %s, acquired %s, %s (that run "
                    "did not finish; its tables are at their last committed Delta version)", self.where,
                    stale.owner.describe(), _stamp(stale.acquired_at),
                    "its process is gone" if stale.owner_gone() and not stale.expired(self.clock())
                    else f"expired {_stamp(stale.expires_at) if stale.expires_at else '?'}")
        self._start_heartbeat()

    def refresh(self, run_id: str | None = None) -> None:
        """A conditional replace of our own version; LockError when it is no longer ours."""
        from botocore.exceptions import ClientError

        with self._mutex:
            if self.state is None:
                return
            if self.lost:
                raise LockError(self.lost)
            if run_id:
                self.owner = LockOwner(run_id, self.owner.host, self.owner.pid)
            fresh = LockState(self.owner, self.state.acquired_at, self.clock() + self.ttl)
            try:
                self.state = self._put(fresh, IfMatch=self.state.etag)
            except ClientError as exc:
                if self._code(exc) not in _LOST_RACE and self._code(exc) not in _MISSING:
                    raise
                holder = self.read()
                who = holder.owner.describe() if holder else "nobody (the lock object is gone)"
                self.lost = (f"this run lost the lock {self.where} (now held by {who}): it ran past its "
                             f"expiry without a refresh; stopping before writing more")
                raise LockError(self.lost) from None

    def check(self) -> None:
        if self.lost:
            raise LockError(self.lost)

    def release(self) -> None:
        """Delete the object if it is still our version; someone else's lock is left alone."""
        from botocore.exceptions import ClientError

        self._stop_heartbeat()
        with self._mutex:
            if self.state is None:
                return
            current = self.read()
            if current is not None and current.etag == self.state.etag:
                try:
                    self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=self.state.etag)
                except ClientError as exc:
                    if self._code(exc) not in _LOST_RACE and self._code(exc) not in _MISSING:
                        raise
                log.info("run lock %s released by %s", self.where, self.owner.describe())
            else:
                log.warning("run lock %s was no longer held by %s at release; left as it is", self.where,
                            self.owner.describe())
            self.state = None

    # -- heartbeat ---------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        if not self._heartbeat_enabled:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._beat,),
                                        name="run-lock-heartbeat", daemon=True)     # logs with the run id
        self._thread.start()

    def _beat(self) -> None:
        interval = max(self.ttl.total_seconds() / 4, 1.0)
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except LockError as exc:
                log.error("%s", exc)
                return
            except Exception as exc:     # a network blip: the next beat tries again, well before expiry
                log.warning("run lock %s: refresh failed (%s); retrying in %.0f s", self.where,
                            type(exc).__name__, interval)

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None


class FileRunLock(RunLock):
    """The local profile: an exclusive ``flock`` on a file in the lake folder.

    The kernel releases it when the process ends however it ends, so there are no stale
    locks and no expiry; the file's text names the holder for the message.
    """

    def __init__(self, path: Path, owner: LockOwner, clock: Callable[[], datetime] = _now):
        self.path, self.owner, self.clock = Path(path), owner, clock
        self.where = str(self.path)
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                holder = LockState.from_json(self.path.read_text())
            except (OSError, ValueError, KeyError, TypeError):
                raise LockError(f"another run holds the lock {self.where} (holder not yet recorded); "
                                f"wait for it to finish (nothing was run)") from None
            raise LockError(holder.held_message(self.where)) from None
        self._fd = fd
        self._write(LockState(self.owner, self.clock(), None))
        log.info("run lock %s acquired by %s", self.where, self.owner.describe())

    def read(self) -> LockState | None:
        import fcntl

        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)     # succeeds only when nobody holds it
                fcntl.flock(fd, fcntl.LOCK_UN)
                return None
            except BlockingIOError:
                pass
        finally:
            os.close(fd)
        try:
            return LockState.from_json(self.path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return LockState(LockOwner("unknown", "unknown", 0), self.clock(), None)

    def _write(self, state: LockState) -> None:
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, state.to_json().encode(), 0)

    def refresh(self, run_id: str | None = None) -> None:
        if self._fd is not None and run_id:
            self.owner = LockOwner(run_id, self.owner.host, self.owner.pid)
            self._write(LockState(self.owner, self.clock(), None))

    def release(self) -> None:
        if self._fd is None:
            return
        import fcntl

        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
        log.info("run lock %s released by %s", self.where, self.owner.describe())


def lock_for(cfg, run_id: str, get_secret: Callable[[str], str], identity: str | None = None) -> RunLock:
    """The run lock of this profile's lake: S3 conditional writes, or a file lock locally.

    On S3 it signs in as the credential group ``identity``: the run identity, the only one that may
    write the lock (etl/access.py), so one identity serves the whole run.
    """
    from etl.storage import S3Store, store_for

    owner = LockOwner.this_process(run_id)
    lake = store_for(cfg, cfg.storage.lake, get_secret, identity)
    if isinstance(lake, S3Store):
        ttl = timedelta(minutes=cfg.ops.lock_ttl_minutes)
        lock = S3RunLock(lake.client, lake.bucket, lake._key(LOCK_KEY), owner, ttl)
        keys = cfg.storage.s3.identity(identity)
        lock.signed_in_as = (f"the {identity or 'default'} identity (secrets "
                             f"'{keys.access_key_secret}', '{keys.secret_key_secret}')")
        return lock
    return FileRunLock(Path(lake.uri_for(LOCK_KEY)), owner)
