"""Event and member ids: UUIDv7 made offline, unique and in the order they were made."""

from __future__ import annotations

import os
import time
import uuid

from loyalty import ids
from loyalty.ids import new_event_id, new_member_id


def test_ids_are_rfc_uuid7_with_the_current_millisecond(monkeypatch):
    monkeypatch.setattr(ids, "_last_ms", 0)
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_event_id())
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert str(made) == made.urn.removeprefix("urn:uuid:")  # canonical lower-case text
    assert before <= made.int >> 80 <= after


def test_ids_of_one_process_are_unique_and_ordered_even_within_a_millisecond(monkeypatch):
    monkeypatch.setattr(ids.time, "time_ns", lambda: 1_700_000_000_000 * 1_000_000)
    monkeypatch.setattr(ids, "_last_ms", 0)
    made = [new_event_id() if i % 2 else new_member_id() for i in range(2000)]
    assert made == sorted(made) and len(set(made)) == len(made)
    # The clock stood still: each id took the next millisecond, as uuid6.uuid7() did.
    assert [uuid.UUID(m).int >> 80 for m in made[:3]] == [
        1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_002]


def test_the_random_bits_differ():
    tails = {new_event_id()[15:] for _ in range(1000)}  # after the time and version
    assert len(tails) == 1000


def test_a_forked_child_never_draws_the_parents_random_bits():
    # Parent and child share the clock: only the random bits keep their ids of the same
    # millisecond apart, so neither may hand out bits the other one drew.
    new_event_id()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids' random tails, then leave at once
        os.close(read)
        os.write(write, "\n".join(new_event_id()[15:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    parent = {new_event_id()[15:] for _ in range(50)}
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split("\n"))
    os.waitpid(pid, 0)
    assert len(child) == 50 and not parent & child

