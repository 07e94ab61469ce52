"""The LMTP listener hands its stored messages on in groups (`Gathered`): none is lost, none is
handed on twice, a group never exceeds its size, and what is gathered is handed on at close."""

from __future__ import annotations

import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.actions.gathered import Gathered


class Recorder:
    def __init__(self, fail_first: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()

    def __call__(self, ids: list[int]) -> None:
        with self.lock:
            if self.fail_first:
                self.fail_first = False
                raise RuntimeError("broker down")
            self.groups.append(list(ids))

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while sum(len(g) for g in self.groups) < count and time.monotonic() < end:
            time.sleep(0.005)


def test_deliveries_close_together_go_on_as_one_group() -> None:
    recorder = Recorder()
    gathered = Gathered(recorder, size=50, wait=0.2)
    for i in range(1, 4):
        gathered([i])
    recorder.wait_for(3)
    gathered.close()
    assert recorder.groups == [[1, 2, 3]]


def test_a_lone_delivery_goes_on_after_the_wait_not_at_close() -> None:
    recorder = Recorder()
    gathered = Gathered(recorder, size=50, wait=0.05)
    gathered([7])
    recorder.wait_for(1)
    assert recorder.groups == [[7]]
    gathered.close()
    assert recorder.groups == [[7]]


def test_a_full_group_goes_on_at_once_and_close_hands_on_the_rest() -> None:
    recorder = Recorder()
    gathered = Gathered(recorder, size=50, wait=60)  # only size and close can hand on
    gathered(list(range(120)))
    recorder.wait_for(100)
    gathered.close()
    assert [len(g) for g in recorder.groups] == [50, 50, 20]
    assert [i for g in recorder.groups for i in g] == list(range(120))


def test_a_failed_hand_on_is_logged_and_the_next_group_still_goes() -> None:
    recorder = Recorder(fail_first=True)
    gathered = Gathered(recorder, size=2, wait=0.01)
    gathered([1, 2])  # refused: stored all the same, the sweep enqueues them later
    time.sleep(0.1)
    gathered([3])
    recorder.wait_for(1)
    gathered.close()
    assert recorder.groups == [[3]]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.lists(st.integers(0, 10**6), min_size=1, max_size=7), max_size=30),
       st.integers(1, 9))  # fmt: skip
def test_from_many_threads_every_id_goes_on_once_in_groups_of_at_most_size(
    calls: list[list[int]], size: int
) -> None:
    recorder = Recorder()
    gathered = Gathered(recorder, size=size, wait=0.001)
    threads = [threading.Thread(target=gathered, args=(ids,)) for ids in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gathered.close()
    assert sorted(i for g in recorder.groups for i in g) == sorted(i for c in calls for i in c)
    assert all(0 < len(g) <= size for g in recorder.groups)
