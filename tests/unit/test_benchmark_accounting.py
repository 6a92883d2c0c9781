"""The pipeline benchmark's split of a server's CPU by thread role (pure bookkeeping over
two ``/proc/<pid>/task`` readings; no server needed)."""

from benchmarks.pipeline import cpu_by_role


def test_threads_that_ended_are_counted_apart_and_no_role_goes_negative():
    # thread 7, a Bolt worker, ran 30 s and ended with its connection (ArcadeDB does so);
    # thread 9 was born in between and ran 4 s; the compiler ran 2 s more
    before = {1: ("jit", 10.0), 7: ("query", 30.0)}
    after = {1: ("jit", 12.0), 9: ("query", 4.0)}
    total = 2.0 + 4.0 + 5.0  # the process's own counter also holds thread 7's last 5 s
    split = cpu_by_role(before, after, total)
    assert split == {"query": 4.0, "jit": 2.0, "gc": 0.0, "other": 0.0, "ended": 5.0}


def test_without_ended_threads_the_roles_sum_to_the_total():
    before = {1: ("query", 1.0), 2: ("gc", 0.5), 3: ("other", 2.0)}
    after = {1: ("query", 7.5), 2: ("gc", 0.75), 3: ("other", 2.25)}
    split = cpu_by_role(before, after, 7.0)
    assert split["ended"] == 0.0
    assert abs(sum(split.values()) - 7.0) < 1e-9
