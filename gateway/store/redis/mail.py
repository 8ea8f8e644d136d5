"""The mail queue in Redis.

`mail:<id>` (hash), `mail-seq` (insertion order), and zsets whose members are a job's
order key (`_order_key`: created_at and insertion order as fixed-width digits, then the
id), so that equal scores sort in creation order and the least member of any set is its
oldest job: `mail-jobs` (all, by created_at), `reg-mail:<registrant>` (one
registrant's, by created_at), `mail-open` (pending or sending, by created_at),
`mail-pending` (by next_attempt_at) and `mail-sending` (by claimed_until);
`mail-dedupe` (hash: [registrant, kind, link_version] as JSON -> id of the open job).
A claim counts the due jobs (two ZCOUNTs), then walks `mail-open` in creation order for
at most that many members; if none of those is due, the oldest due job is the least
member among the due ones. Either way it reads O(min(due jobs, not-due jobs older than
the oldest due one)) members.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import replace

import redis.exceptions as rex

from gateway.core.records import MailJob
from gateway.store import check_enqueue, check_finish
from gateway.store.codec import decode_time, encode_time, stored_time
from gateway.store.redis.connection import RedisBase, micros, pairs

YEAR_ONE = dt.datetime.min.replace(tzinfo=dt.UTC)
ORDER_PREFIX_LEN = 18 + 12  # created_at in microseconds since year 1, then mail-seq
# The keys every mail script gets first (KEYS[1..6]).
_MAIL_KEYS = ("mail-dedupe", "mail-seq", "mail-jobs", "mail-open", "mail-pending", "mail-sending")


def _order_key(created_at: dt.datetime) -> str:
    """The start of a job's zset member: created_at as fixed-width digits (microseconds
    since year 1, never negative), so text order is time order; mail-seq follows."""
    return f"{(stored_time(created_at) - YEAR_ONE) // dt.timedelta(microseconds=1):018d}"


def _optional(moment: dt.datetime | None) -> str:
    return "" if moment is None else encode_time(moment)


def _mail_job(fields: Mapping[str, str]) -> MailJob:
    return MailJob(
        id=fields["id"],
        registrant_id=fields["registrant_id"],
        kind=fields["kind"],
        link_version=int(fields["link_version"]),
        lang=fields["lang"],
        created_at=decode_time(fields["created_at"]),
        next_attempt_at=decode_time(fields["next_attempt_at"]),
        state=fields["state"],
        attempts=int(fields["attempts"]),
        last_error=fields["last_error"],
        claimed_by=fields["claimed_by"],
        claimed_until=decode_time(fields["claimed_until"]) if fields["claimed_until"] else None,
        sent_at=decode_time(fields["sent_at"]) if fields["sent_at"] else None,
    )


def _fields(job: MailJob, dedupe: str) -> dict[str, str]:
    """The hash of a job (already as stored)."""
    return {
        "id": job.id,
        "registrant_id": job.registrant_id,
        "kind": job.kind,
        "link_version": str(job.link_version),
        "lang": job.lang,
        "created_at": encode_time(job.created_at),
        "created_us": str(micros(job.created_at)),
        "next_attempt_at": encode_time(job.next_attempt_at),
        "state": job.state,
        "attempts": str(job.attempts),
        "last_error": job.last_error,
        "claimed_by": job.claimed_by,
        "claimed_until": _optional(job.claimed_until),
        "sent_at": _optional(job.sent_at),
        "dedupe": dedupe,
    }


class MailMixin(RedisBase):
    async def enqueue_mail(self, job: MailJob) -> tuple[MailJob, bool]:
        check_enqueue(job)
        stored = replace(
            job,
            created_at=stored_time(job.created_at),
            next_attempt_at=stored_time(job.next_attempt_at),
            claimed_until=None if job.claimed_until is None else stored_time(job.claimed_until),
            sent_at=None if job.sent_at is None else stored_time(job.sent_at),
        )
        dedupe = json.dumps([job.registrant_id, job.kind, job.link_version])
        keys = [
            *(self._key(name) for name in _MAIL_KEYS),
            self._key("mail", stored.id),
            self._key("reg-mail", stored.registrant_id),
        ]
        args: list[str | int] = [
            self._key("mail", ""), dedupe, stored.id, _order_key(stored.created_at),
            micros(stored.created_at), stored.state, micros(stored.next_attempt_at),
            0 if stored.claimed_until is None else micros(stored.claimed_until),
            *(x for kv in _fields(stored, dedupe).items() for x in kv),
        ]  # fmt: skip
        async with self._reachable():
            try:
                added, existing = await self._scripts["enqueue_mail"](keys=keys, args=args)
            except rex.ResponseError as exc:
                if "mail job id in use" in str(exc):
                    raise ValueError(f"mail job id {stored.id!r} is already in use") from None
                raise
        return (stored, True) if added else (_mail_job(pairs(existing)), False)

    async def claim_mail(
        self, *, now: dt.datetime, worker: str, lease: dt.timedelta, job_id: str | None = None
    ) -> MailJob | None:
        until = now + lease
        keys = [self._key(name) for name in _MAIL_KEYS]
        args: list[str | int] = [
            self._key("mail", ""), ORDER_PREFIX_LEN, micros(now), worker, encode_time(until),
            micros(until), job_id or "",
        ]  # fmt: skip
        async with self._reachable():
            flat = await self._scripts["claim_mail"](keys=keys, args=args)
        return _mail_job(pairs(flat)) if flat else None

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
        sent_at = encode_time(now)
        retry_iso, retry_us = (
            ("", 0) if retry_at is None else (encode_time(retry_at), micros(retry_at))
        )
        keys = [*(self._key(name) for name in _MAIL_KEYS), self._key("mail", job_id)]
        async with self._reachable():
            flat = await self._scripts["finish_mail"](
                keys=keys, args=[state, error, sent_at, retry_iso, retry_us]
            )
        if not flat:
            raise KeyError(job_id)
        return _mail_job(pairs(flat))

    async def mail_jobs(
        self, *, registrant_id: str | None = None, state: str | None = None
    ) -> list[MailJob]:
        index = (
            self._key("mail-jobs")
            if registrant_id is None
            else self._key("reg-mail", registrant_id)
        )
        args: list[str | int] = [self._key("mail", ""), ORDER_PREFIX_LEN, state or ""]
        async with self._reachable():
            rows = await self._scripts["mail_jobs"](keys=[index], args=args)
        return [_mail_job(pairs(flat)) for flat in rows if flat]
