"""What the organizer sends: an invoke submission's cases in batches."""

from __future__ import annotations

import math

import pytest

from harness.rounds.cluster import (
    batch_cases,
)


def test_invoke_cases_go_in_one_batch_per_slot_of_at_most_ceil_n_over_slots_cases():
    # Worked by hand: 4 cases on 2 slots are 2 batches of 2; 5 on 2 are 3 + 2; 5 on 4 are
    # 2 + 2 + 1 (a 4th batch would not end sooner: some slot runs 2 cases either way).
    assert batch_cases(list("abcd"), 2) == [["a", "b"], ["c", "d"]]
    assert batch_cases(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    assert batch_cases(list("abcde"), 4) == [["a", "b"], ["c", "d"], ["e"]]
    assert batch_cases(list("abc"), 1) == [["a", "b", "c"]]
    assert batch_cases(list("ab"), 5) == [["a"], ["b"]]
    assert batch_cases([], 3) == []
    for n in range(0, 13):
        cases = list(range(n))
        for slots in range(1, 7):
            batches = batch_cases(cases, slots)
            # Every case once, in order; no more batches than slots; none empty; the longest
            # as short as any split over `slots` batches can make it.
            assert [c for b in batches for c in b] == cases
            assert len(batches) <= slots and all(batches)
            assert max(map(len, batches), default=0) == math.ceil(n / slots)
    with pytest.raises(ValueError, match="at least 1"):
        batch_cases(list("ab"), 0)
