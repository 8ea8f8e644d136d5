"""A local file that holds audit events while the store is unreachable.

Events are appended as JSON lines under an exclusive file lock (several
processes of one node may share the file), and handed back in order, read
line by line. After each event is stored, a small cursor file beside the spool
says how many lines of it are done (with the spool's inode, so a cursor never
applies to another spool file); once all are, the spool is replaced by an
empty file. So a crash mid-flush neither loses an event nor stores one twice
(at worst the event being stored at the crash instant), and a flush costs the
same per event however long the outage was (rewriting the rest after each
event made it quadratic).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from gateway.core.chain import Draft
from gateway.core.errors import StoreUnavailable


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / (self.path.name + ".lock")).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add(self, draft: Draft) -> None:
        """Keep `draft` on disk (fsync'd). StoreUnavailable if even that fails."""
        try:
            with self._locked(), self.path.open("a", encoding="utf-8") as file:
                file.write(json.dumps(asdict(draft), ensure_ascii=False) + "\n")
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise StoreUnavailable(f"audit spool not writable: {exc}") from None

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > 0
        except FileNotFoundError:
            return False

    def drain(self) -> Iterator[Draft]:
        """Yield spooled drafts oldest first; each counts as done once the consumer
        asks for the next (so a failure while storing one keeps it)."""
        with self._locked():
            try:
                file = self.path.open(encoding="utf-8")
            except FileNotFoundError:
                return
            with file:
                inode = os.fstat(file.fileno()).st_ino
                done = self._done(inode)
                for number, line in enumerate(file, start=1):
                    if number <= done:
                        continue
                    if line.strip():
                        yield Draft(**json.loads(line))
                    self._mark(inode, number)
            self._start_over()

    @property
    def _cursor(self) -> Path:
        return self.path.with_name(self.path.name + ".done")

    def _done(self, inode: int) -> int:
        """How many lines of the spool file `inode` are stored (0 for another file's cursor)."""
        try:
            cursor_inode, count = self._cursor.read_text(encoding="ascii").split()
            return int(count) if int(cursor_inode) == inode else 0
        except (FileNotFoundError, ValueError):
            return 0

    def _mark(self, inode: int, count: int) -> None:
        temp = self._cursor.with_name(self._cursor.name + ".tmp")
        temp.write_text(f"{inode} {count}\n", encoding="ascii")
        os.replace(temp, self._cursor)

    def _start_over(self) -> None:
        """All stored: an empty spool (a new file, so the old cursor no longer applies)."""
        temp = self.path.with_suffix(".tmp")
        temp.write_text("", encoding="utf-8")
        os.replace(temp, self.path)
        self._cursor.unlink(missing_ok=True)
