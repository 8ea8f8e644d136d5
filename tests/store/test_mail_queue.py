"""The mail queue contract, run against SqliteStore and RedisStore alike (see test_contract).

Several instances on one backend stand for several senders (processes or
replicas): a job is claimed by one of them at a time, and a claim whose lease has
lapsed (a crashed sender) is claimed again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.core.records import MailJob, Registrant
from gateway.store import Store
from gateway.store.sqlite import SCHEMA_VERSION, SqliteStore
from tests.store.conftest import MakeStore

pytestmark = pytest.mark.anyio

T0 = dt.datetime(2021, 11, 18, 8, 0, 0, 123456, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)
LEASE = dt.timedelta(minutes=5)


def job(
    jid: str,
    registrant: str = "r1",
    *,
    version: int = 1,
    kind: str = "link",
    at: dt.datetime = T0,
    due: dt.datetime | None = None,
) -> MailJob:
    return MailJob(
        id=jid,
        registrant_id=registrant,
        kind=kind,
        link_version=version,
        lang="fi",
        created_at=at,
        next_attempt_at=at if due is None else due,
    )


async def ids(store: Store, **filters: str) -> list[str]:
    return [j.id for j in await store.mail_jobs(**filters)]


# Enqueue


async def test_enqueue_mail_stores_the_job_and_keeps_datetimes_exact_in_utc(store: Store) -> None:
    helsinki = T0.astimezone(ZoneInfo("Europe/Helsinki"))
    queued, added = await store.enqueue_mail(job("m1", at=helsinki, due=helsinki + MINUTE))

    assert added and queued == job("m1", due=T0 + MINUTE)
    assert queued.created_at.tzinfo == dt.UTC and queued.next_attempt_at.tzinfo == dt.UTC
    [listed] = await store.mail_jobs()
    assert listed == queued
    assert listed.created_at.tzinfo == dt.UTC and listed.next_attempt_at.tzinfo == dt.UTC
    assert listed.state == "pending" and listed.attempts == 0
    assert listed.claimed_until is None and listed.sent_at is None


async def test_enqueue_mail_dedupes_an_open_job_of_same_registrant_kind_and_version(
    store: Store,
) -> None:
    first, _ = await store.enqueue_mail(job("m1"))

    assert await store.enqueue_mail(job("m2", at=T0 + MINUTE)) == (first, False)
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)  # sending blocks too
    again, added = await store.enqueue_mail(job("m3", at=T0 + MINUTE))
    assert not added and again.id == "m1" and again.state == "sending"
    assert await ids(store) == ["m1"]


async def test_enqueue_mail_other_version_kind_or_registrant_is_a_new_job(store: Store) -> None:
    await store.enqueue_mail(job("m1"))

    assert (await store.enqueue_mail(job("m2", version=2)))[1]
    assert (await store.enqueue_mail(job("m3", kind="other")))[1]
    assert (await store.enqueue_mail(job("m4", "r2")))[1]
    assert await ids(store) == ["m1", "m2", "m3", "m4"]


@pytest.mark.parametrize("outcome", ["sent", "failed"])
async def test_enqueue_mail_after_the_job_is_finished_is_a_new_job(
    store: Store, outcome: str
) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)
    await store.finish_mail("m1", state=outcome, now=T0)

    resend, added = await store.enqueue_mail(job("m2", at=T0 + MINUTE))

    assert added and resend.id == "m2"
    assert await store.enqueue_mail(job("m3", at=T0 + 2 * MINUTE)) == (resend, False)
    assert await ids(store) == ["m1", "m2"]


async def test_enqueue_mail_refuses_an_id_already_in_use(store: Store) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)
    await store.finish_mail("m1", state="sent", now=T0)

    with pytest.raises(ValueError, match="already in use"):
        await store.enqueue_mail(job("m1"))


async def test_enqueue_mail_refuses_naive_datetimes(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        await store.enqueue_mail(job("m1", at=dt.datetime(2021, 11, 18, 10)))
    assert await store.mail_jobs() == []


# Claim


async def test_claim_mail_takes_the_oldest_due_job_and_marks_it_sending(store: Store) -> None:
    await store.enqueue_mail(job("m2", "r2", at=T0 + MINUTE))
    await store.enqueue_mail(job("m1", "r1", at=T0))  # enqueued later, created earlier

    claimed = await store.claim_mail(now=T0 + MINUTE, worker="w1", lease=LEASE)

    assert claimed is not None and claimed.id == "m1"
    assert claimed.state == "sending" and claimed.claimed_by == "w1" and claimed.attempts == 1
    assert claimed.claimed_until == T0 + MINUTE + LEASE
    assert claimed.claimed_until.tzinfo == dt.UTC
    assert (await store.mail_jobs(registrant_id="r1")) == [claimed]
    second = await store.claim_mail(now=T0 + MINUTE, worker="w1", lease=LEASE)
    assert second is not None and second.id == "m2"
    assert await store.claim_mail(now=T0 + MINUTE, worker="w1", lease=LEASE) is None


async def test_claim_mail_orders_equal_created_at_by_insertion(store: Store) -> None:
    for n in (3, 1, 2):
        await store.enqueue_mail(job(f"m{n}", f"r{n}"))

    claimed = [await store.claim_mail(now=T0, worker="w", lease=LEASE) for _ in range(3)]

    assert [c.id for c in claimed if c] == ["m3", "m1", "m2"]
    assert await ids(store) == ["m3", "m1", "m2"]


async def test_claim_mail_prefers_the_oldest_created_over_the_earliest_due(store: Store) -> None:
    await store.enqueue_mail(job("old", "r1", at=T0, due=T0 + 10 * MINUTE))
    await store.enqueue_mail(job("new", "r2", at=T0 + MINUTE, due=T0 + MINUTE))

    claimed = await store.claim_mail(now=T0 + 10 * MINUTE, worker="w", lease=LEASE)

    assert claimed is not None and claimed.id == "old"


async def test_claim_mail_with_many_not_yet_due_older_jobs_finds_the_oldest_due(
    store: Store,
) -> None:
    for n in range(60):  # older, in back-off
        await store.enqueue_mail(job(f"wait{n}", f"r{n}", at=T0, due=T0 + 60 * MINUTE))
    for n in range(40):
        at = T0 + (40 - n) * MINUTE  # enqueued newest first
        await store.enqueue_mail(job(f"due{n}", f"q{n}", at=at))

    claimed = await store.claim_mail(now=T0 + 50 * MINUTE, worker="w", lease=LEASE)

    assert claimed is not None and claimed.id == "due39"


async def test_claim_mail_leaves_jobs_not_yet_due(store: Store) -> None:
    await store.enqueue_mail(job("m1", due=T0 + MINUTE))

    assert await store.claim_mail(now=T0, worker="w1", lease=LEASE) is None
    assert await store.claim_mail(now=T0 + MINUTE - dt.timedelta(microseconds=1),
                                  worker="w1", lease=LEASE) is None  # fmt: skip
    claimed = await store.claim_mail(now=T0 + MINUTE, worker="w1", lease=LEASE)  # due: <= now
    assert claimed is not None and claimed.id == "m1"
    assert await store.claim_mail(now=T0, worker="w1", lease=LEASE) is None
    assert await store.claim_mail(now=T0 + MINUTE, worker="w1", lease=LEASE) is None


async def test_claim_mail_on_an_empty_queue_is_none(store: Store) -> None:
    assert await store.claim_mail(now=T0, worker="w1", lease=LEASE) is None
    assert await store.claim_mail(now=T0, worker="w1", lease=LEASE, job_id="nope") is None


async def test_a_lapsed_claim_is_claimed_again_by_another_worker(make_store: MakeStore) -> None:
    crashed, other = make_store(), make_store()
    await crashed.enqueue_mail(job("m1"))
    first = await crashed.claim_mail(now=T0, worker="crashed", lease=LEASE)
    assert first is not None and first.attempts == 1

    assert await other.claim_mail(now=T0 + LEASE / 2, worker="other", lease=LEASE) is None
    assert await other.claim_mail(
        now=T0 + LEASE / 2, worker="other", lease=LEASE, job_id="m1"
    ) is None  # fmt: skip
    again = await other.claim_mail(now=T0 + LEASE, worker="other", lease=LEASE)

    assert again is not None and again.id == "m1"
    assert again.claimed_by == "other" and again.attempts == 2
    assert again.claimed_until == T0 + 2 * LEASE
    assert await crashed.mail_jobs() == [again]


async def test_claim_mail_by_id_takes_only_that_job_and_only_when_due(store: Store) -> None:
    await store.enqueue_mail(job("m1", "r1"))
    await store.enqueue_mail(job("m2", "r2", due=T0 + MINUTE))
    await store.enqueue_mail(job("m3", "r3"))

    claimed = await store.claim_mail(now=T0, worker="w", lease=LEASE, job_id="m3")
    assert claimed is not None and claimed.id == "m3" and claimed.claimed_by == "w"
    assert await store.claim_mail(now=T0, worker="w", lease=LEASE, job_id="m3") is None
    assert await store.claim_mail(now=T0, worker="w", lease=LEASE, job_id="m2") is None
    assert await store.claim_mail(now=T0, worker="w", lease=LEASE, job_id="unknown") is None
    later = await store.claim_mail(now=T0 + MINUTE, worker="w", lease=LEASE, job_id="m2")
    assert later is not None and later.id == "m2"
    assert await ids(store, state="pending") == ["m1"]
    assert await ids(store, state="sending") == ["m2", "m3"]


# Finish


async def test_finish_mail_sent_records_sent_at_and_clears_the_claim(store: Store) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)

    done = await store.finish_mail("m1", state="sent", now=T0 + MINUTE)

    assert done.state == "sent" and done.sent_at == T0 + MINUTE and done.attempts == 1
    assert done.claimed_by == "" and done.claimed_until is None and done.last_error == ""
    assert await store.mail_jobs() == [done]
    assert await store.claim_mail(now=T0 + 2 * LEASE, worker="w2", lease=LEASE) is None


async def test_finish_mail_failed_records_the_error(store: Store) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)

    done = await store.finish_mail("m1", state="failed", now=T0, error="550 no such user")

    assert done.state == "failed" and done.last_error == "550 no such user"
    assert done.sent_at is None and done.claimed_by == "" and done.claimed_until is None
    assert await store.mail_jobs(state="failed") == [done]
    assert await store.claim_mail(now=T0 + 2 * LEASE, worker="w2", lease=LEASE) is None


async def test_finish_mail_pending_retries_at_retry_at(store: Store) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)

    retry = T0.astimezone(ZoneInfo("Europe/Stockholm")) + 10 * MINUTE
    done = await store.finish_mail("m1", state="pending", now=T0, error="451 later", retry_at=retry)

    assert done.state == "pending" and done.last_error == "451 later"
    assert done.next_attempt_at == retry and done.next_attempt_at.tzinfo == dt.UTC
    assert done.claimed_by == "" and done.claimed_until is None and done.attempts == 1
    assert await store.enqueue_mail(job("m2")) == (done, False)  # still open
    assert await store.claim_mail(now=T0 + 9 * MINUTE, worker="w2", lease=LEASE) is None
    again = await store.claim_mail(now=T0 + 10 * MINUTE, worker="w2", lease=LEASE)
    assert again is not None and again.id == "m1" and again.attempts == 2
    assert again.last_error == "451 later"


async def test_finish_mail_unknown_job_is_a_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.finish_mail("nope", state="sent", now=T0)


async def test_finish_mail_refuses_other_states_and_pending_without_retry_at(
    store: Store,
) -> None:
    await store.enqueue_mail(job("m1"))
    await store.claim_mail(now=T0, worker="w1", lease=LEASE)

    for state in ("sending", "done", ""):
        with pytest.raises(ValueError):
            await store.finish_mail("m1", state=state, now=T0)
    with pytest.raises(ValueError, match="retry_at"):
        await store.finish_mail("m1", state="pending", now=T0)
    [unchanged] = await store.mail_jobs()
    assert unchanged.state == "sending" and unchanged.claimed_by == "w1"


# Listing


async def test_mail_jobs_lists_in_creation_order_filtered(store: Store) -> None:
    await store.enqueue_mail(job("a", "r1", at=T0 + 2 * MINUTE))
    await store.enqueue_mail(job("b", "r2", at=T0))
    await store.enqueue_mail(job("c", "r1", version=2, at=T0 + MINUTE))
    await store.claim_mail(now=T0, worker="w", lease=LEASE, job_id="b")
    await store.finish_mail("b", state="sent", now=T0)

    assert await ids(store) == ["b", "c", "a"]
    assert await ids(store, registrant_id="r1") == ["c", "a"]
    assert await ids(store, state="sent") == ["b"]
    assert await ids(store, registrant_id="r1", state="pending") == ["c", "a"]
    assert await ids(store, registrant_id="r2", state="pending") == []
    assert await ids(store, registrant_id="r9") == []


# Several senders


async def test_concurrent_claims_from_three_instances_take_every_job_exactly_once(
    make_store: MakeStore,
) -> None:
    stores = [make_store() for _ in range(3)]
    for n in range(20):
        await stores[0].enqueue_mail(job(f"m{n:02}", f"r{n}", at=T0 + n * dt.timedelta(seconds=1)))

    async def worker(i: int) -> list[MailJob]:
        claimed = []
        while got := await stores[i].claim_mail(now=T0 + MINUTE, worker=f"w{i}", lease=LEASE):
            claimed.append(got)
            await asyncio.sleep(0)
        return claimed

    results = await asyncio.gather(*(worker(i) for i in range(3)))

    claims = [(c.id, f"w{i}") for i, claimed in enumerate(results) for c in claimed]
    assert sorted(c[0] for c in claims) == [f"m{n:02}" for n in range(20)]  # each exactly once
    jobs = {j.id: j for j in await stores[1].mail_jobs()}
    assert all(jobs[jid].claimed_by == worker and jobs[jid].attempts == 1 for jid, worker in claims)
    assert all(j.state == "sending" for j in jobs.values())


async def test_registrants_and_mail_are_independent(store: Store) -> None:
    registrant = Registrant("r1", "a@example.org", "A", "Org", T0)
    await store.add_registrant(registrant)
    await store.enqueue_mail(job("m1"))

    assert await store.registrants() == [registrant]
    assert await ids(store, registrant_id="r1") == ["m1"]


# SQLite: an existing version-1 file is upgraded in place


async def test_sqlite_version_1_file_gains_the_mail_queue_and_keeps_its_data(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "gateway.db")
    registrant = Registrant("r1", "a@example.org", "A", "Org", T0)
    old = SqliteStore(path)
    await old.add_registrant(registrant)
    await old.close()
    conn = sqlite3.connect(path)  # back to what a version-1 gateway left behind
    conn.execute("DROP TABLE mail")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()

    store = SqliteStore(path)
    try:
        assert await store.registrants() == [registrant]
        assert (await store.enqueue_mail(job("m1")))[1]
        claimed = await store.claim_mail(now=T0, worker="w", lease=LEASE)
        assert claimed is not None and claimed.id == "m1"
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    finally:
        conn.close()
