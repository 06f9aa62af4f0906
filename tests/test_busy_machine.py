"""The busy-machine backoff of default-thread calls (src/fl_threads.h).

A default-thread parallel call that was held up by a thread that lost its core makes the
next default-thread calls run on one thread for a while.  These tests drive the state
machine through the hooks the kernels module exposes (no timing: whether a real call is
late depends on the machine) and check what each kind of call does to it, and that a solo
turn changes no result.
"""
import numpy as np
import pytest

import fastloss as fl

from fastloss import _kernels as K  # noqa: E402  (the compiled module: CI always has it)

FIRST, MAX_LEVEL, FORGET = 64, 8, 64


@pytest.fixture(autouse=True)
def calm():
    K._reset_thread_backoff()
    yield
    K._reset_thread_backoff()


def big_inputs(dtype=np.float32):
    rng = np.random.default_rng(0)
    n = 4 * K.PARALLEL_MIN_ELEMENTS
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def test_late_calls_start_streaks_that_double_up_to_a_cap():
    K._note_parallel_call(True)
    assert K.thread_backoff() == (1, FIRST)
    K._note_parallel_call(True)
    assert K.thread_backoff() == (2, 2 * FIRST)
    for _ in range(20):
        K._note_parallel_call(True)
    assert K.thread_backoff() == (MAX_LEVEL, FIRST << (MAX_LEVEL - 1))


def test_the_level_falls_only_after_a_run_of_on_time_calls():
    K._note_parallel_call(True)
    K._note_parallel_call(True)
    for _ in range(FORGET - 1):
        K._note_parallel_call(False)
    assert K.thread_backoff()[0] == 2
    K._note_parallel_call(False)
    assert K.thread_backoff()[0] == 1
    K._note_parallel_call(True)                   # a late call restarts the count
    for _ in range(FORGET - 1):
        K._note_parallel_call(False)
    assert K.thread_backoff()[0] == 2


@pytest.mark.skipif(K.default_threads() < 2, reason="needs two CPUs")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_only_large_default_thread_calls_take_solo_turns_and_results_do_not_change(dtype):
    y, p = big_inputs(dtype)
    v1, g1 = fl.mse.value_and_grad(y, p, n_threads=1)
    v2, g2 = fl.mse.value_and_grad(y, p, n_threads=2)
    K._note_parallel_call(True)
    _, left = K.thread_backoff()
    # explicit thread counts and small calls never take a turn
    fl.mse.value_and_grad(y, p, n_threads=2)
    fl.mse.value_and_grad(y[:1000], p[:1000])
    assert K.thread_backoff()[1] == left
    # a large default-thread call does, and gives bitwise the same answer
    v, g = fl.mse.value_and_grad(y, p)
    assert K.thread_backoff()[1] == left - 1
    assert v == v1 == v2
    assert np.array_equal(g, g1) and np.array_equal(g, g2)
    # row losses go through the same plan
    labels = np.arange(y.size // 8) % 8
    logits = p.reshape(-1, 8)
    ref = fl.sparse_categorical_cross_entropy.value_and_grad(labels, logits, from_logits=True,
                                                             n_threads=1)
    out = fl.sparse_categorical_cross_entropy.value_and_grad(labels, logits, from_logits=True)
    assert K.thread_backoff()[1] == left - 2
    assert out[0] == ref[0] and np.array_equal(out[1], ref[1])


@pytest.mark.skipif(K.default_threads() < 2, reason="needs two CPUs")
def test_a_streak_ends_and_threads_come_back():
    y, p = big_inputs()
    K._note_parallel_call(True)
    _, left = K.thread_backoff()
    for _ in range(left):
        fl.mse(y, p)
    assert K.thread_backoff()[1] == 0
    fl.mse(y, p)                                  # a parallel call again: no turn to take
    assert K.thread_backoff()[1] in (0, FIRST << 0, FIRST << 1)   # unless it was late
