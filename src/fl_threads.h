/*
 * Who runs the blocks of a call: the parallel block loop, and when a default-thread call
 * should run on one thread because the machine is busy.
 *
 * Blocks are handed out one at a time from a counter per thread's contiguous range, a
 * thread helping with the others' ranges when its own is done (each block writes its own
 * slots, so which thread runs it changes nothing).  What a counter cannot fix is the join:
 * an OpenMP parallel region ends with a barrier, so a call waits until every thread of its
 * team has at least been scheduled once, even a thread that finds no block left.  When
 * another process holds that thread's core, that wait is a scheduler time slice (several
 * milliseconds), a hundred times a 10^5-element call.
 *
 * The fork can wait as well: a team starts only once every thread of the previous call is
 * back at its dock, so a thread that lost its core in one call delays the start of the next.
 *
 * So each default-thread parallel call times itself: the fastest thread's time per block,
 * from entering the region to running out of blocks, times the number of blocks estimates
 * what one thread would have taken, and a call whose whole time (fork and join included)
 * was longer than 1.2 times that, and by more than FL_LATE_EXCESS, was held up ("late").  Whichever thread was held up - a
 * helper that started late, or the caller itself, preempted by the helper it just woke on
 * its own core - the fastest thread's rate is what one thread would have run at.
 * After a late call the next default-thread calls run on one thread: for 20 ms after the
 * first late call, twice as long after each further late one, up to 640 ms (see
 * fl_note_parallel_call).  An explicit n_threads is always obeyed.  None of this
 * changes a result: block boundaries and the order of the block sums do not depend on the
 * thread count.
 *
 * The state is a few process-wide variables updated with relaxed atomics: concurrent calls
 * from several Python threads may each count a late call or take a solo turn; that only
 * shifts which calls run alone, never what they compute.
 */
#ifndef FASTLOSS_THREADS_H
#define FASTLOSS_THREADS_H

#include "fl_kernels.h"

/* A call is late only if it also lost more than this (seconds) against one thread: a thread
 * that lost its core costs a scheduler time slice (milliseconds), while an interrupt or a
 * cache miss on a quiet machine costs tens of microseconds, and taking those for a busy
 * machine sent 10^5-element calls solo a third of the time for nothing. */
#define FL_LATE_EXCESS 500e-6

enum {
    FL_BACKOFF_FIRST_US = 20000,  /* a first streak of solo calls lasts 20 ms */
    FL_BACKOFF_MAX_LEVEL = 6,     /* 20 ms << 5 = 640 ms at most */
    FL_BACKOFF_FORGET = 64        /* on-time parallel calls in a row that lower the level */
};

static int fl_backoff_level = 0;          /* 0: calm; L: the last streak was FIRST << (L-1) */
static long long fl_solo_until_us = 0;    /* default-thread calls run solo until then */
static int fl_on_time = 0;                /* on-time parallel calls since the last late one */

static inline long long fl_now_us(void)
{
#if FL_HAVE_OPENMP
    return (long long)(omp_get_wtime() * 1e6);
#else
    return 0;
#endif
}

/* Whether this default-thread call should run on one thread: during a streak. */
static inline int fl_take_solo_turn(void)
{
    const long long until = __atomic_load_n(&fl_solo_until_us, __ATOMIC_RELAXED);
    return until > 0 && fl_now_us() < until;
}

/* Record how a default-thread parallel call went.  A late call starts a streak of solo calls
 * twice as long as the previous one; a parallel call after the streak that is on time goes
 * on in parallel (a machine that became quiet gets its threads back at once), but the
 * level, and so the length of the next streak, only falls after FL_BACKOFF_FORGET on-time
 * calls in a row.  Streaks are timed, not counted, so that they cost the same at every
 * call size: a late call costs about one scheduler time slice, and the longest streak
 * makes that well under 1% of the time. */
static inline void fl_note_parallel_call(int late)
{
    int level = __atomic_load_n(&fl_backoff_level, __ATOMIC_RELAXED);
    if (late) {
        if (level < FL_BACKOFF_MAX_LEVEL) ++level;
        __atomic_store_n(&fl_backoff_level, level, __ATOMIC_RELAXED);
        __atomic_store_n(&fl_on_time, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&fl_solo_until_us,
                         fl_now_us() + ((long long)FL_BACKOFF_FIRST_US << (level - 1)),
                         __ATOMIC_RELAXED);
    } else if (level > 0
               && __atomic_add_fetch(&fl_on_time, 1, __ATOMIC_RELAXED) >= FL_BACKOFF_FORGET) {
        __atomic_store_n(&fl_backoff_level, level - 1, __ATOMIC_RELAXED);
        __atomic_store_n(&fl_on_time, 0, __ATOMIC_RELAXED);
    }
}

/* The level, and the microseconds left in the current streak (0: none). */
static inline void fl_backoff_state(int *level, long long *solo_us_left)
{
    const long long left = __atomic_load_n(&fl_solo_until_us, __ATOMIC_RELAXED) - fl_now_us();
    *level = __atomic_load_n(&fl_backoff_level, __ATOMIC_RELAXED);
    *solo_us_left = left > 0 ? left : 0;
}

static inline void fl_backoff_reset(void)
{
    __atomic_store_n(&fl_backoff_level, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fl_solo_until_us, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&fl_on_time, 0, __ATOMIC_RELAXED);
}

/*
 * Run blocks [0, n_blocks) on nt threads, handing them out one at a time (a thread's own
 * range first).  Returns whether the call was late (see above); only meaningful when
 * nt > 1.  Without OpenMP it runs the blocks in order and is never late.
 */
static inline int fl_run_blocks_parallel(fl_block_fn fn, const fl_args *a, ptrdiff_t n_blocks,
                                         ptrdiff_t rows_per_block, ptrdiff_t n_rows,
                                         double *partial, int *flags, int nt)
{
#if FL_HAVE_OPENMP
    /* nt contiguous ranges of blocks, each with its own counter: thread r takes the blocks
     * of range r first, then helps with the others.  On a quiet machine every thread runs
     * the same range call after call, so its part of the arrays stays in its core's cache
     * (one shared counter dealt blocks to whichever thread came first: at 10^5 elements two
     * threads were hardly faster than one); a thread that lost its core leaves the rest of
     * its range to the others, as with one counter. */
    enum { FL_MAX_RANGES = 256 };
    ptrdiff_t next[FL_MAX_RANGES];
    const int ranges = nt < FL_MAX_RANGES ? nt : FL_MAX_RANGES;
    for (int r = 0; r < ranges; ++r) next[r] = (ptrdiff_t)r * n_blocks / ranges;
    double per_block = -1.0;     /* the fastest thread's time per block */
    const double start = omp_get_wtime();
#pragma omp parallel num_threads(nt)
    {
        ptrdiff_t mine = 0;
        const double t_in = omp_get_wtime();
        const int me = omp_get_thread_num() % ranges;
        for (int j = 0; j < ranges; ++j) {
            const int r = (me + j) % ranges;
            const ptrdiff_t end = (ptrdiff_t)(r + 1) * n_blocks / ranges;
            for (;;) {
                const ptrdiff_t b = __atomic_fetch_add(&next[r], 1, __ATOMIC_RELAXED);
                if (b >= end) break;
                fl_run_block(fn, a, b, rows_per_block, n_rows, partial, flags);
                ++mine;
            }
        }
        if (mine > 0) {
            const double t = (omp_get_wtime() - t_in) / (double)mine;
#pragma omp critical(fl_threads_timing)
            if (per_block < 0.0 || t < per_block) per_block = t;
        }
    }
    const double total = omp_get_wtime() - start;
    const double alone = per_block * (double)n_blocks;
    return total > 1.2 * alone && total - alone > FL_LATE_EXCESS;
#else
    (void)nt;
    for (ptrdiff_t b = 0; b < n_blocks; ++b)
        fl_run_block(fn, a, b, rows_per_block, n_rows, partial, flags);
    return 0;
#endif
}

#endif /* FASTLOSS_THREADS_H */
