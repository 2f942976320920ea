/* Spin or halt: the trials and the verdict (see wait_way.h). */
#include "drivers/virtio/wait_way.h"

/* A wait counts towards the next trial (left > 0) or is one of the trial's
 * 2 * WAIT_TRIAL_WAITS (left == 0, phase says which). */
int wait_way_begin(struct wait_way *w, int trial, uint64_t *spin_ns)
{
	uint64_t ns = 2 * w->halt_mean_ns;

	*spin_ns = ns < WAIT_SPIN_MIN_NS ? WAIT_SPIN_MIN_NS : ns > WAIT_SPIN_MAX_NS ? WAIT_SPIN_MAX_NS : ns;
	if (!trial || w->left)
		return w->spin;
	if (w->phase % WAIT_TRIAL_WAITS == 0) /* a half begins */
		w->half_wait_ns = w->half_reaped = 0;
	return (w->phase < WAIT_TRIAL_WAITS) == (w->trials % 2 == 1);
}

/* Every trial wait adds its own time and the completions it reaped (not
 * the time between waits, nor what other kinds of wait did meanwhile); the
 * last one of a half takes the half's time per completion, and the second
 * half's last gives the verdict and the gap before the next trial. */
void wait_way_end(struct wait_way *w, int trial, int spun, uint64_t wait_ns, uint64_t reaped)
{
	if (!trial)
		return;
	w->waits++;
	if (w->left) {
		w->left--;
		return;
	}
	uint32_t k = w->phase++;
	w->half_wait_ns += wait_ns;
	w->half_reaped += reaped;
	if (k != WAIT_TRIAL_WAITS - 1 && k != 2 * WAIT_TRIAL_WAITS - 1)
		return;
	w->cost_ns[spun] = w->half_wait_ns / (w->half_reaped ? w->half_reaped : 1);
	if (!spun)
		w->halt_mean_ns = w->half_wait_ns / WAIT_TRIAL_WAITS;
	if (k != 2 * WAIT_TRIAL_WAITS - 1)
		return;
	int spin = w->cost_ns[1] < w->cost_ns[0];
	if (w->trials && spin == w->spin)
		w->gap = w->gap < WAIT_TRIAL_GAP_MAX / 2 ? 2 * w->gap : WAIT_TRIAL_GAP_MAX;
	else
		w->gap = WAIT_TRIAL_EVERY;
	w->spin = spin;
	w->trials++;
	w->phase = 0;
	w->left = w->gap - 2 * WAIT_TRIAL_WAITS;
}
