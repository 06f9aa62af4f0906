"""The busy-machine backoff of default-thread calls (src/fl_threads.h).

A default-thread parallel call that was held up by a thread that lost its core makes the
default-thread calls of the next 20 ms (doubling per further late call, up to 640 ms) run
on one thread.  These tests drive the state machine through the hooks the kernels module
exposes and check what each kind of call does to it, and that a solo call changes no
result.  Nothing here asserts a time: a streak's length is only checked against its bounds.
"""
import numpy as np
import pytest

import fastloss as fl
from fastloss import _kernels as K   # the compiled module: CI always has it

FIRST, MAX_LEVEL, FORGET = 0.020, 6, 64


@pytest.fixture(autouse=True)
def calm():
    K._reset_thread_backoff()
    yield
    K._reset_thread_backoff()


def big_inputs(dtype=np.float32):
    rng = np.random.default_rng(0)
    n = 4 * K.PARALLEL_MIN_ELEMENTS
    return rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)


def test_reset_is_calm():
    assert K.thread_backoff() == (0, 0.0)


def test_late_calls_start_streaks_that_double_up_to_a_cap():
    K._note_parallel_call(True)
    level, left = K.thread_backoff()
    assert level == 1 and 0 < left <= FIRST
    K._note_parallel_call(True)
    level, left = K.thread_backoff()
    assert level == 2 and FIRST < left <= 2 * FIRST
    for _ in range(20):
        K._note_parallel_call(True)
    level, left = K.thread_backoff()
    cap = FIRST * 2 ** (MAX_LEVEL - 1)
    assert level == MAX_LEVEL and cap / 2 < left <= cap


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_solo_calls_during_a_streak_give_bitwise_the_same_answers(dtype):
    assert K.default_threads() >= 2, "CI runs on two CPUs: the parallel path must be tested"
    y, p = big_inputs(dtype)
    v1, g1 = fl.mse.value_and_grad(y, p, n_threads=1)
    v2, g2 = fl.mse.value_and_grad(y, p, n_threads=2)
    for _ in range(MAX_LEVEL):                    # a long streak: every call below is in it
        K._note_parallel_call(True)
    v, g = fl.mse.value_and_grad(y, p)
    assert v == v1 == v2
    assert np.array_equal(g, g1) and np.array_equal(g, g2)
    labels = np.arange(y.size // 8) % 8
    logits = p.reshape(-1, 8)
    ref = fl.sparse_categorical_cross_entropy.value_and_grad(labels, logits, from_logits=True,
                                                             n_threads=2)
    out = fl.sparse_categorical_cross_entropy.value_and_grad(labels, logits, from_logits=True)
    assert out[0] == ref[0] and np.array_equal(out[1], ref[1])
    assert K.thread_backoff()[0] == MAX_LEVEL     # solo calls do not report (only parallel)


def test_explicit_thread_counts_and_small_calls_leave_the_state_alone():
    y, p = big_inputs()
    K._note_parallel_call(True)
    level = K.thread_backoff()[0]
    for _ in range(FORGET + 1):                  # neither kind reports on-time calls
        fl.mse.value_and_grad(y, p, n_threads=2)
        fl.mse.value_and_grad(y[:1000], p[:1000])
    assert K.thread_backoff()[0] == level
