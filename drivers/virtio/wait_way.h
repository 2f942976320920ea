/*
 * How a wait for the device waits: spin first, or halt until the
 * interrupt.  Halting leaves the host its CPU, but under a hypervisor waking
 * a halted CPU can take longer than the request itself (QEMU's TCG on a
 * quiet host, 4 KiB read at queue depth 1: ~70 us halting, ~7 us spinning).
 * On a busy host it is the other way round: a spinning CPU takes the host
 * time that the device model needs (QEMU's TCG beside one busy process: 70k
 * IOPS halting, 40k spinning).  The guest cannot see which holds, so it
 * measures, comparing like with like: a trial is WAIT_TRIAL_WAITS waits one
 * way and then WAIT_TRIAL_WAITS the other (which goes first alternates;
 * halting, in the first trial); the way whose waits took less time per
 * completion they reaped serves until the next trial (per completion: at
 * depth a halt that wakes to many completions spares the waits a spin would
 * need for them).  A tie goes to halting.
 *
 * Trials cost: half of each is the slower way.  The first comes at once,
 * the next WAIT_TRIAL_EVERY waits later; each trial that keeps the verdict
 * doubles the gap to the next, up to WAIT_TRIAL_GAP_MAX, and one that
 * changes it brings the gap back to WAIT_TRIAL_EVERY.  So a steady host pays
 * for a trial once in WAIT_TRIAL_GAP_MAX waits (at a fixed 256, on a quiet
 * host under TCG, the trials' halts cost a tenth or more of the QD1 rate and
 * their wrong verdicts up to half the QD32 rate on a `cache=writeback`
 * drive), and a host that changes is followed within WAIT_TRIAL_GAP_MAX
 * waits.
 *
 * A spin lasts at most twice the last trial's halting time per wait (within
 * WAIT_SPIN_MIN_NS..WAIT_SPIN_MAX_NS): long enough to catch what halting
 * would, short enough that a slow device is not spun for.
 *
 * One struct wait_way learns for one kind of wait; the driver keeps one per
 * kind whose costs differ (virtio_blk.c: wait_kind).
 */
#ifndef DRIVERS_VIRTIO_WAIT_WAY_H
#define DRIVERS_VIRTIO_WAIT_WAY_H

#include <stdint.h>

#define WAIT_TRIAL_EVERY 256u
#define WAIT_TRIAL_GAP_MAX 8192u
#define WAIT_TRIAL_WAITS 8u
#define WAIT_SPIN_MIN_NS 10000ull
#define WAIT_SPIN_MAX_NS 1000000ull

struct wait_way {
	uint32_t waits; /* trial-counted waits so far */
	uint32_t left; /* counted waits before the next trial; 0: in a trial */
	uint32_t phase; /* in a trial: its waits so far */
	uint32_t gap; /* from one trial's start to the next */
	uint32_t trials; /* trials finished */
	int spin; /* the verdict: spin before halting */
	uint64_t cost_ns[2]; /* the last trial's halting and spinning cost */
	uint64_t halt_mean_ns; /* its halting time per wait */
	uint64_t half_wait_ns, half_reaped; /* the running half: its waits' time, completions */
};

/* Before a wait: returns 1 if it spins first, for at most *spin_ns, then
 * halts; 0 if it halts at once.  A wait that is not to count (trial 0:
 * its time says nothing of the others') follows the verdict. */
int wait_way_begin(struct wait_way *w, int trial, uint64_t *spin_ns);

/* After it: whether it spun first, how long it took in all, and how many
 * completions it reaped (ignored unless trial). */
void wait_way_end(struct wait_way *w, int trial, int spun, uint64_t wait_ns, uint64_t reaped);

#endif
