"""Sending personal links: a queue in the store, claimed before any mail is sent.

A registration stores the registrant first, then a mail job; a worker (in
`serve`) or `gateway mail send-links` claims a job, sends it, and only then
marks it sent — after the server accepted it. Two senders never send one job:
the claim is atomic in the store, and a crashed sender's claim lapses after
`LEASE`. A temporary failure (4xx, server unreachable) is retried with backoff;
a permanent one (5xx) is marked failed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass

from gateway.audit.log import AuditLog
from gateway.core.clock import Clock
from gateway.core.errors import StoreUnavailable
from gateway.core.records import MailJob, Registrant
from gateway.core.schedule import Schedule
from gateway.mail.compose import PermanentMailError, TemporaryMailError, Transport, compose
from gateway.mail.registrants import Registry
from gateway.store import Store

log = logging.getLogger(__name__)
LEASE = dt.timedelta(seconds=30)  # > the SMTP timeout (10 s): a live claim never lapses
MAX_ATTEMPTS = 10
Day = Callable[[], Awaitable[tuple[Schedule, int]]]  # the schedule in force, its change count


def backoff(attempts: int) -> dt.timedelta:
    """Wait before retrying a mail the server deferred: 30 s doubling to 30 min, ±20 %."""
    base = min(30 * 2 ** max(0, attempts - 1), 1800)
    return dt.timedelta(seconds=base * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class Outcome:
    job: MailJob
    sent: bool
    unreachable: bool = False  # the server could not be reached at all


class Mailer:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        registry: Registry,
        transport: Transport,
        clock: Clock,
        *,
        worker: str | None = None,
        day: Day | None = None,
    ) -> None:
        self.store = store
        self.audit = audit
        self.registry = registry
        self.transport = transport
        self.clock = clock
        self.worker = worker or f"worker-{secrets.token_hex(4)}"
        self.day = day  # the schedule in force and its change count; the config's if None
        self.wake = asyncio.Event()

    async def enqueue(self, registrant: Registrant, lang: str) -> bool:
        """Queue the personal link mail (not for a revoked registrant). True if queued now."""
        if registrant.revoked:
            return False
        _, added = await self.store.enqueue_mail(self.link_job(registrant, lang))
        self.wake.set()
        return added

    def link_job(self, registrant: Registrant, lang: str, kind: str = "link") -> MailJob:
        """A new queue entry for the registrant's current personal link, due now: the link
        mail, or (`kind`) a reminder or the recording notice carrying it."""
        now = self.clock()
        return MailJob(
            secrets.token_urlsafe(12),
            registrant.id,
            kind,
            registrant.link_version,
            lang,
            now,
            now,
        )

    async def send_next(self, job_id: str | None = None) -> Outcome | None:
        """Claim one due job (or `job_id`), send it, record the outcome. None if none is due."""
        now = self.clock()
        job = await self.store.claim_mail(now=now, worker=self.worker, lease=LEASE, job_id=job_id)
        if job is None:
            return None
        registrant = await self.store.registrant(job.registrant_id)
        if registrant is None or registrant.revoked:
            done = await self.store.finish_mail(
                job.id, state="failed", now=now, error="revoked or unknown registrant"
            )
            return Outcome(done, sent=False)
        try:
            link = self.registry.link(registrant)
            schedule, sequence = await self.day() if self.day else (None, 0)
            message = compose(
                self.registry.settings,
                registrant,
                link,
                job.lang,
                now=now,
                kind=job.kind,
                schedule=schedule,
                sequence=sequence,
            )
            await asyncio.to_thread(self.transport.send, message)
        except TemporaryMailError as exc:
            # An unreachable or closing server (421) is not the mail's fault: the job
            # stays due at once (the worker paces its retries); a deferral backs off.
            unreachable = exc.code in (None, 421)
            wait = dt.timedelta(0) if unreachable else backoff(job.attempts)
            if job.attempts >= MAX_ATTEMPTS and not unreachable:
                return await self._failed(job, exc.reason, exc.code)
            done = await self.store.finish_mail(
                job.id,
                state="pending",
                now=self.clock(),
                error=exc.reason,
                retry_at=self.clock() + wait,
            )
            return Outcome(done, sent=False, unreachable=unreachable)
        except PermanentMailError as exc:
            return await self._failed(job, exc.reason, exc.code)
        done = await self.store.finish_mail(job.id, state="sent", now=self.clock())
        await self.audit.record(
            "link.sent",
            registrant=registrant.id,
            job=job.id,
            version=job.link_version,
            attempt=job.attempts,
            **({"kind": job.kind} if job.kind != "link" else {}),
        )
        return Outcome(done, sent=True)

    async def _failed(self, job: MailJob, reason: str, code: int | None) -> Outcome:
        done = await self.store.finish_mail(job.id, state="failed", now=self.clock(), error=reason)
        # The server's words may quote the address: the audit keeps only the code.
        await self.audit.record(
            "mail.failed",
            registrant=job.registrant_id,
            job=job.id,
            code=code,
            attempts=job.attempts,
        )
        return Outcome(done, sent=False)

    async def run(self, idle: float = 5.0) -> None:
        """The worker: send due jobs until cancelled; sleep `idle` s or until woken."""
        while True:
            try:
                outcome = await self.send_next()
            except StoreUnavailable:
                outcome = None
            except Exception:  # a worker that dies silently loses mail: log and go on
                log.exception("mail worker")
                outcome = None
            if outcome is not None and not outcome.unreachable:
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(idle):  # not wait_for: store.redis.connection
                    await self.wake.wait()


@dataclass
class BulkReport:
    sent: int = 0
    skipped: int = 0  # already sent (--unsent-only), or revoked
    failed: int = 0
    left: int = 0  # still queued: deferred by the server, or the server went away
    unreachable: bool = False


async def send_links(
    mailer: Mailer,
    *,
    unsent_only: bool,
    lang: str = "en",
    progress: Callable[[int, int], None] | None = None,
    only: Collection[str] | None = None,
) -> BulkReport:
    """Queue and send the personal link to every registrant not revoked, once each
    (to those whose ids are in `only`, when given: what an import just added).

    With `unsent_only`, those whose current link was already sent (the server
    said 250) are skipped, unless a mail of it still waits in the queue (what an
    interrupted run mailing everyone again left: this finishes it). Resumable: a job
    queued by an interrupted run is the same job here (the queue de-duplicates), and
    a job someone else is sending is left to them. Stops early when the server
    cannot be reached.
    """
    store = mailer.store
    report = BulkReport()
    todo: list[str] = []
    jobs = await store.mail_jobs()
    waiting = {(j.registrant_id, j.link_version) for j in jobs if _waits(j)}
    for registrant, latest in (await current_link_mail(store, jobs)).items():
        if only is not None and registrant.id not in only:
            continue  # not this run's: neither sent nor counted
        sent = latest is not None and latest.state == "sent"
        if registrant.revoked or (
            unsent_only and sent and (registrant.id, registrant.link_version) not in waiting
        ):
            report.skipped += 1
            continue
        queued, _ = await store.enqueue_mail(mailer.link_job(registrant, lang))
        todo.append(queued.id)
    for index, job_id in enumerate(todo):
        if report.unreachable:
            report.left += 1
            continue
        outcome = await mailer.send_next(job_id)
        if outcome is None:
            report.left += 1  # another sender holds it, or it waits for a retry
        elif outcome.sent:
            report.sent += 1
        elif outcome.job.state == "failed":
            report.failed += 1
        else:
            report.left += 1
            report.unreachable = outcome.unreachable
        if progress:
            progress(index + 1, len(todo))
    return report


def _waits(job: MailJob) -> bool:
    """Whether a link mail is still to be sent (queued, or claimed by a sender)."""
    return job.kind == "link" and job.state in ("pending", "sending")


async def current_link_mail(
    store: Store, jobs: list[MailJob] | None = None
) -> dict[Registrant, MailJob | None]:
    """Every registrant (in registration order) with the mail of their current link: the
    newest job that was sent, else the newest job, else None (never queued). Two reads,
    whatever the number of people (one when the caller read `jobs` already)."""
    newest: dict[tuple[str, int], MailJob] = {}
    for job in await store.mail_jobs() if jobs is None else jobs:  # the last one wins...
        key = (job.registrant_id, job.link_version)
        if job.kind == "link" and (key not in newest or newest[key].state != "sent"):
            newest[key] = job  # ...unless one was sent already
    return {r: newest.get((r.id, r.link_version)) for r in await store.registrants()}


def languages(jobs: list[MailJob]) -> dict[str, str]:
    """The language of each registrant's last mail, by registrant id (jobs in creation
    order): what a mail they did not ask for is written in."""
    return {job.registrant_id: job.lang for job in jobs}


async def queue_unsent(mailer: Mailer, default_lang: str = "en") -> int:
    """Queue the current link of everyone not revoked whose current link was not sent
    (never queued, or failed), each in the language of their last mail; the worker sends
    them. Returns how many were queued now (a job already waiting is not doubled)."""
    store = mailer.store
    jobs = await store.mail_jobs()
    last_lang = languages(jobs)
    queued = 0
    for registrant, latest in (await current_link_mail(store, jobs)).items():
        if registrant.revoked or (latest is not None and latest.state != "failed"):
            continue
        job = mailer.link_job(registrant, last_lang.get(registrant.id, default_lang))
        queued += (await store.enqueue_mail(job))[1]
    mailer.wake.set()
    return queued


@dataclass(frozen=True)
class MailProgress:
    """Where the mail of the current links stands, over the registrants not revoked."""

    registrants: int
    sent: int
    queued: int  # pending or being sent
    failed: int
    not_queued: int
    failures: tuple[tuple[Registrant, str], ...]  # the first few, with the reason

    @property
    def unsent(self) -> int:
        return self.failed + self.not_queued


async def mail_progress(store: Store, *, failures_shown: int = 20) -> MailProgress:
    counts = {"sent": 0, "queued": 0, "failed": 0, "not_queued": 0}
    failures: list[tuple[Registrant, str]] = []
    active = 0
    for registrant, latest in (await current_link_mail(store)).items():
        if registrant.revoked:
            continue
        active += 1
        state = "not_queued" if latest is None else latest.state
        state = "queued" if state in ("pending", "sending") else state
        counts[state] += 1
        if state == "failed" and latest is not None and len(failures) < failures_shown:
            failures.append((registrant, latest.last_error or "no reason given"))
    return MailProgress(active, failures=tuple(failures), **counts)
