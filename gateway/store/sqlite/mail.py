"""The mail queue in SQLite (table `mail`; `n` is insertion order, breaking created_at
ties). A claim takes the oldest due job in one `BEGIN IMMEDIATE` transaction, so no two
senders ever claim one job.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from gateway.core.records import MailJob
from gateway.store import check_enqueue, check_finish
from gateway.store.codec import decode_time, encode_time, stored_time
from gateway.store.sqlite.connection import SqliteBase

_OPEN_MAIL = (
    "SELECT id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at FROM mail"
    " WHERE registrant_id = ? AND kind = ? AND link_version = ?"
    " AND state IN ('pending', 'sending') ORDER BY created_at, n LIMIT 1"
)
_INSERT_MAIL = (
    "INSERT INTO mail (id, registrant_id, kind, link_version, lang, created_at, next_attempt_at,"
    " state, attempts, last_error, claimed_by, claimed_until, sent_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# Due: pending and next_attempt_at <= now, or sending with a lapsed claim. Oldest first.
_DUE_MAIL = (
    "SELECT n FROM mail WHERE ((state = 'pending' AND next_attempt_at <= :now)"
    " OR (state = 'sending' AND claimed_until <= :now)) ORDER BY created_at, n LIMIT 1"
)
_DUE_MAIL_BY_ID = (
    "SELECT n FROM mail WHERE id = :id AND ((state = 'pending' AND next_attempt_at <= :now)"
    " OR (state = 'sending' AND claimed_until <= :now))"
)
_CLAIM_MAIL = (
    "UPDATE mail SET state = 'sending', claimed_by = ?, claimed_until = ?,"
    " attempts = attempts + 1 WHERE n = ?"
    " RETURNING id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at"
)
_FINISH_MAIL = (
    "UPDATE mail SET state = :state, last_error = :error, claimed_by = '', claimed_until = NULL,"
    " sent_at = CASE WHEN :state = 'sent' THEN :now ELSE sent_at END,"
    " next_attempt_at = CASE WHEN :state = 'pending' THEN :retry ELSE next_attempt_at END"
    " WHERE id = :id"
    " RETURNING id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at"
)
_MAIL_JOBS = (
    "SELECT id, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,"
    " attempts, last_error, claimed_by, claimed_until, sent_at FROM mail"
    " WHERE (:registrant IS NULL OR registrant_id = :registrant)"
    " AND (:state IS NULL OR state = :state) ORDER BY created_at, n"
)


def _mail_job(row: Sequence[Any]) -> MailJob:
    (jid, registrant_id, kind, link_version, lang, created_at, next_attempt_at, state,
     attempts, last_error, claimed_by, claimed_until, sent_at) = row  # fmt: skip
    return MailJob(
        id=jid,
        registrant_id=registrant_id,
        kind=kind,
        link_version=link_version,
        lang=lang,
        created_at=decode_time(created_at),
        next_attempt_at=decode_time(next_attempt_at),
        state=state,
        attempts=attempts,
        last_error=last_error,
        claimed_by=claimed_by,
        claimed_until=None if claimed_until is None else decode_time(claimed_until),
        sent_at=None if sent_at is None else decode_time(sent_at),
    )


class MailMixin(SqliteBase):
    async def enqueue_mail(self, job: MailJob) -> tuple[MailJob, bool]:
        check_enqueue(job)
        times = (job.created_at, job.next_attempt_at, job.claimed_until, job.sent_at)
        created, next_attempt, until, sent = (None if t is None else encode_time(t) for t in times)
        stored = replace(
            job,
            created_at=stored_time(job.created_at),
            next_attempt_at=stored_time(job.next_attempt_at),
            claimed_until=None if until is None else decode_time(until),
            sent_at=None if sent is None else decode_time(sent),
        )
        values = (job.id, job.registrant_id, job.kind, job.link_version, job.lang, created,
                  next_attempt, job.state, job.attempts, job.last_error, job.claimed_by, until,
                  sent)  # fmt: skip

        def work(conn: sqlite3.Connection) -> tuple[MailJob, bool]:
            key = (job.registrant_id, job.kind, job.link_version)
            row = conn.execute(_OPEN_MAIL, key).fetchone()
            if row is not None:
                return _mail_job(row), False
            if conn.execute("SELECT 1 FROM mail WHERE id = ?", (job.id,)).fetchone():
                raise ValueError(f"mail job id {job.id!r} is already in use")
            conn.execute(_INSERT_MAIL, values)
            return stored, True

        return await self._transaction(work)

    async def claim_mail(
        self, *, now: dt.datetime, worker: str, lease: dt.timedelta, job_id: str | None = None
    ) -> MailJob | None:
        at, until = encode_time(now), encode_time(now + lease)
        sql = _DUE_MAIL if job_id is None else _DUE_MAIL_BY_ID
        params = {"now": at, "id": job_id}

        def work(conn: sqlite3.Connection) -> MailJob | None:
            due = conn.execute(sql, params).fetchone()
            if due is None:
                return None
            return _mail_job(conn.execute(_CLAIM_MAIL, (worker, until, due[0])).fetchone())

        return await self._transaction(work)

    async def finish_mail(
        self,
        job_id: str,
        *,
        state: str,
        now: dt.datetime,
        error: str = "",
        retry_at: dt.datetime | None = None,
    ) -> MailJob:
        check_finish(state, retry_at)
        params = {
            "id": job_id,
            "state": state,
            "error": error,
            "now": encode_time(now),
            "retry": None if retry_at is None else encode_time(retry_at),
        }

        def work(conn: sqlite3.Connection) -> MailJob:
            row = conn.execute(_FINISH_MAIL, params).fetchone()
            if row is None:
                raise KeyError(job_id)
            return _mail_job(row)

        return await self._transaction(work)

    async def mail_jobs(
        self, *, registrant_id: str | None = None, state: str | None = None
    ) -> list[MailJob]:
        params = {"registrant": registrant_id, "state": state}
        rows = await self._run(lambda conn: conn.execute(_MAIL_JOBS, params).fetchall())
        return [_mail_job(row) for row in rows]
