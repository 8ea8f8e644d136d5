"""A local file that holds audit events while the store is unreachable.

Events are appended as JSON lines under an exclusive file lock (several
processes of one node may share the file), and handed back in order. After
each event is stored, the rest of the file is rewritten atomically, so a crash
mid-flush neither loses an event nor stores one twice (at worst the event
being stored at the crash instant).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from gateway.chain import Draft
from gateway.errors import StoreUnavailable


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
        """Yield spooled drafts oldest first; each is dropped from the file once the
        consumer asks for the next (so a failure while storing one keeps it)."""
        with self._locked():
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return
            for index, line in enumerate(lines):
                if line.strip():
                    yield Draft(**json.loads(line))
                self._rewrite(lines[index + 1 :])

    def _rewrite(self, lines: list[str]) -> None:
        temp = self.path.with_suffix(".tmp")
        temp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(temp, self.path)
