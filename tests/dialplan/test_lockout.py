"""Guessing protection (dialplan.lockout) on virtual time."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialplan import Lockout
from dialplan.lockout import KeyKind, LockoutState, lockout_keys

EXT = "ext:1001"
ADDR = "addr:192.0.2.7"
KEYS = (EXT, ADDR)


def test_locks_after_max_failures_within_window() -> None:
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    for t in (0.0, 10.0):
        lock.record_failure(KEYS, t)
        assert not lock.check(KEYS, t)
    lock.record_failure(KEYS, 20.0)  # third wrong code within a minute
    assert lock.check(KEYS, 20.0)
    assert lock.check([ADDR], 100.0)  # by address alone: another phone, same guesser
    assert lock.check(["ext:2002", ADDR], 100.0)
    assert lock.locked_count(100.0) == 2
    assert lock.retry_after(KEYS, 100.0) == pytest.approx(220.0)
    assert not lock.check(KEYS, 320.0)  # 300 s after the lock
    assert lock.locked_count(320.0) == 0
    assert lock.retry_after(KEYS, 320.0) == 0.0


def test_failures_outside_the_window_do_not_add_up() -> None:
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    for t in (0.0, 50.0, 100.0, 150.0, 200.0):  # one every 50 s: never 3 within 60 s
        lock.record_failure(KEYS, t)
        assert not lock.check(KEYS, t)


def test_success_forgives_nothing() -> None:
    # a guesser who knows one good code must not reset the count by mixing it in
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    lock.record_failure(KEYS, 0.0)
    lock.record_failure(KEYS, 1.0)
    lock.record_success(KEYS, 2.0)  # a good code between the guesses
    assert not lock.check(KEYS, 2.0)
    lock.record_failure(KEYS, 3.0)
    assert lock.check(KEYS, 3.0)
    lock.record_success(KEYS, 6.0)  # a good code does not lift a lock either
    assert lock.check(KEYS, 6.0)


def test_honest_typos_expire_with_the_window() -> None:
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    for t in (0.0, 1.0, 70.0, 71.0):  # two typos, a minute later two more
        lock.record_failure(KEYS, t)
    assert not lock.check(KEYS, 71.0)


def test_success_can_be_made_to_forgive_nothing() -> None:
    lock = Lockout(max_failures=2, window_s=60.0, lockout_s=300.0)
    lock.record_failure(KEYS, 0.0)
    lock.record_success(KEYS, 1.0)  # a guesser who knows one good code interleaves it
    lock.record_failure(KEYS, 2.0)
    assert lock.check(KEYS, 2.0)


def test_keys_are_independent() -> None:
    lock = Lockout(max_failures=2, window_s=60.0, lockout_s=300.0)
    lock.record_failure(["ext:1001", "addr:a"], 0.0)
    lock.record_failure(["ext:1002", "addr:a"], 1.0)  # two phones, one address
    assert lock.check(["addr:a"], 1.0)
    assert not lock.check(["ext:1001"], 1.0) and not lock.check(["ext:1002"], 1.0)


def test_memory_is_bounded_and_flooding_keeps_recent_locks() -> None:
    lock = Lockout(max_failures=1, window_s=60.0, lockout_s=600.0, max_keys=100)
    lock.record_failure([ADDR], 0.0)
    for i in range(1000):  # a flood of spoofed addresses
        lock.record_failure([f"addr:flood-{i}"], 1.0 + i / 1000)
        lock.check([ADDR], 1.0 + i / 1000)  # the guesser keeps trying: stays recent
        assert len(lock) <= 100
    assert lock.check([ADDR], 2.0)


def test_stale_entries_are_forgotten_first() -> None:
    lock = Lockout(max_failures=5, window_s=10.0, lockout_s=10.0, max_keys=3)
    lock.record_failure(["old"], 0.0)  # stale by t=100
    lock.record_failure(["live-1"], 99.0)
    lock.record_failure(["live-2"], 99.0)
    lock.record_failure(["new"], 100.0)
    assert len(lock) == 3
    for _ in range(4):
        lock.record_failure(["live-1"], 100.0)  # live-1's history survived: 5 failures now
    assert lock.check(["live-1"], 100.0)


@pytest.mark.parametrize(
    "kwargs", [{"max_failures": 0}, {"window_s": 0.0}, {"lockout_s": -1.0}, {"max_keys": 0}]
)
def test_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Lockout(**kwargs)  # type: ignore[arg-type]


events = st.lists(
    st.tuples(
        st.sampled_from(["fail", "ok", "check"]),
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), min_size=1, max_size=3),
        st.floats(0.0, 5.0),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(events, st.integers(1, 4), st.integers(1, 4))
def test_bounded_and_consistent(steps: list[tuple[str, list[str], float]], max_failures: int, max_keys: int) -> None:
    lock = Lockout(max_failures=max_failures, window_s=20.0, lockout_s=30.0, max_keys=max_keys)
    now = 0.0
    for kind, keys, dt in steps:
        now += dt
        if kind == "fail":
            lock.record_failure(keys, now)
        elif kind == "ok":
            lock.record_success(keys, now)
        else:
            assert lock.check(keys, now) == (lock.retry_after(keys, now) > 0)
        assert len(lock) <= max_keys
        assert 0 <= lock.locked_count(now) <= len(lock)
    saved = lock.snapshot(now)
    again = Lockout(max_failures=max_failures, window_s=20.0, lockout_s=30.0, max_keys=max_keys)
    again.restore(saved, now + 1000.0)  # another process, another clock
    for key in "abcdef":
        assert again.retry_after([key], now + 1000.0) == pytest.approx(lock.retry_after([key], now))
    restored = again.snapshot(now + 1000.0)
    assert [k.key for k in restored.keys] == [k.key for k in saved.keys]
    for a, b in zip(restored.keys, saved.keys, strict=True):
        assert a.failure_ages == pytest.approx(b.failure_ages) and a.locked_for == pytest.approx(b.locked_for)
    assert lock.locked_count(now + 30.0) == 0  # every lock ends


# --- extensions and addresses -------------------------------------------------------------

OFFICE_NAT = "198.51.100.1"


def test_an_authenticated_phone_is_locked_by_extension_not_by_address() -> None:
    keys = lockout_keys(extension="1001", address=OFFICE_NAT, authenticated=True)
    assert keys == ((KeyKind.EXTENSION, "1001"),)
    assert keys == (("ext", "1001"),)  # the runtime's own spelling of the same key
    other = lockout_keys(extension="1002", address=OFFICE_NAT, authenticated=True)
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    for t in (0.0, 1.0, 2.0):
        lock.record_failure(keys, t)
    assert lock.check(keys, 3.0)
    assert not lock.check(other, 3.0)  # the rest of the office behind the same NAT still calls


def test_trunk_and_unauthenticated_sources_are_locked_by_address() -> None:
    assert lockout_keys(extension=None, address=OFFICE_NAT, authenticated=False) == ((KeyKind.ADDRESS, OFFICE_NAT),)
    # a claimed extension is not proof: locking it would let anyone lock out a colleague
    assert lockout_keys(extension="1001", address=OFFICE_NAT, authenticated=False) == (
        (KeyKind.ADDRESS, OFFICE_NAT),)


def test_an_address_takes_far_more_failures_than_an_extension() -> None:
    lock = Lockout(max_failures=3, window_s=600.0, lockout_s=300.0)
    assert lock.address_max_failures == 30  # ten times max_failures unless configured
    for i in range(29):  # many phones behind one address, each with a typo or two
        lock.record_failure([("ext", f"10{i:02}"), ("ip", OFFICE_NAT)], float(i))
        assert not lock.check([("ip", OFFICE_NAT)], float(i))
    lock.record_failure([("ip", OFFICE_NAT)], 29.0)
    assert lock.check([("ip", OFFICE_NAT)], 29.0)
    assert Lockout(3, 60.0, 300.0, address_max_failures=7).address_max_failures == 7
    with pytest.raises(ValueError):
        Lockout(3, 60.0, 300.0, address_max_failures=2)  # never easier to lock than one phone


# --- across a restart ----------------------------------------------------------------------


def test_state_survives_a_restart() -> None:
    lock = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    for t in (0.0, 1.0, 2.0):
        lock.record_failure([EXT], 1000.0 + t)  # locked until 1302
    lock.record_failure([ADDR], 1050.0)
    lock.record_failure([ADDR], 1090.0)  # two failures, one short of a lock
    state = lock.snapshot(1100.0)
    saved = msgspec.json.encode(state)
    # the new process has its own monotonic clock
    again = Lockout(max_failures=3, window_s=60.0, lockout_s=300.0)
    again.restore(msgspec.json.decode(saved, type=LockoutState), 5.0)
    assert again.check([EXT], 5.0)
    assert again.retry_after([EXT], 5.0) == pytest.approx(202.0)
    assert not again.check([ADDR], 5.0)
    again.record_failure([ADDR], 20.0)  # the guesser's third try, 65 s after its first
    assert not again.check([ADDR], 20.0)  # the first is outside the window now
    again.record_failure([ADDR], 21.0)
    assert again.check([ADDR], 21.0)
    assert lock.snapshot(1100.0) == state  # snapshot changes nothing


def test_restore_counts_the_time_the_server_was_down() -> None:
    lock = Lockout(max_failures=1, window_s=60.0, lockout_s=300.0)
    lock.record_failure([EXT], 0.0)
    again = Lockout(max_failures=1, window_s=60.0, lockout_s=300.0)
    again.restore(lock.snapshot(100.0), 0.0, elapsed_s=150.0)  # 50 s of lock left
    assert again.retry_after([EXT], 0.0) == pytest.approx(50.0)
    again.restore(lock.snapshot(100.0), 0.0, elapsed_s=250.0)
    assert not again.check([EXT], 0.0) and len(again) == 0


def test_restore_keeps_the_bounds() -> None:
    lock = Lockout(max_failures=2, window_s=60.0, lockout_s=300.0, max_keys=10)
    for i in range(10):
        lock.record_failure([f"k{i}"], float(i))
        lock.record_failure([f"k{i}"], float(i))
    smaller = Lockout(max_failures=2, window_s=60.0, lockout_s=100.0, max_keys=4)
    smaller.restore(lock.snapshot(10.0), 0.0)
    assert len(smaller) == 4  # the most recently seen keys
    assert smaller.check(["k9"], 0.0) and not smaller.check(["k0"], 0.0)
    assert smaller.retry_after(["k9"], 0.0) == pytest.approx(100.0)  # never longer than configured


def test_repeated_locks_grow_up_to_a_cap_and_survive_a_restart() -> None:
    lock = Lockout(max_failures=2, window_s=60.0, lockout_s=100.0, growth=2.0, max_lockout_s=300.0)
    locked_for = []
    t = 0.0
    for _ in range(4):
        lock.record_failure([EXT], t)
        lock.record_failure([EXT], t + 1.0)
        locked_for.append(lock.retry_after([EXT], t + 1.0))
        t += 1.0 + locked_for[-1] + 1.0  # just after the lock ends
        assert not lock.check([EXT], t)
    assert locked_for == [100.0, 200.0, 300.0, 300.0]
    again = Lockout(max_failures=2, window_s=60.0, lockout_s=100.0, growth=2.0, max_lockout_s=300.0)
    again.restore(msgspec.json.decode(msgspec.json.encode(lock.snapshot(t)), type=LockoutState), 0.0)
    again.record_failure([EXT], 1.0)
    again.record_failure([EXT], 2.0)
    assert again.retry_after([EXT], 2.0) == 300.0  # the repeats were kept
    # a quiet period as long as the cap forgets the repeats
    fresh_start = 2.0 + 300.0 + 300.0
    again.record_failure([EXT], fresh_start)
    again.record_failure([EXT], fresh_start + 1.0)
    assert again.retry_after([EXT], fresh_start + 1.0) == 100.0
