/* Spin or halt: the trials and the verdict (see wait_way.h). */
#include "drivers/virtio/wait_way.h"

int wait_way_begin(struct wait_way *w, int trial, uint64_t *spin_ns)
{
	uint32_t n = w->waits, k = n % WAIT_TRIAL_EVERY;
	uint64_t ns = 2 * w->halt_mean_ns;

	*spin_ns = ns < WAIT_SPIN_MIN_NS ? WAIT_SPIN_MIN_NS : ns > WAIT_SPIN_MAX_NS ? WAIT_SPIN_MAX_NS : ns;
	if (!trial || k >= 2 * WAIT_TRIAL_WAITS)
		return w->spin;
	if (k % WAIT_TRIAL_WAITS == 0) /* a half begins */
		w->half_wait_ns = w->half_reaped = 0;
	return (k < WAIT_TRIAL_WAITS) == ((n / WAIT_TRIAL_EVERY) % 2 == 1);
}

/* Every trial wait adds its own time and the completions it reaped (not
 * the time between waits, nor what other kinds of wait did meanwhile); the
 * last one of a half takes the half's time per completion, and the second
 * half's last gives the verdict. */
void wait_way_end(struct wait_way *w, int trial, int spun, uint64_t wait_ns, uint64_t reaped)
{
	if (!trial)
		return;
	uint32_t k = w->waits++ % WAIT_TRIAL_EVERY;
	if (k >= 2 * WAIT_TRIAL_WAITS)
		return;
	w->half_wait_ns += wait_ns;
	w->half_reaped += reaped;
	if (k != WAIT_TRIAL_WAITS - 1 && k != 2 * WAIT_TRIAL_WAITS - 1)
		return;
	w->cost_ns[spun] = w->half_wait_ns / (w->half_reaped ? w->half_reaped : 1);
	if (!spun)
		w->halt_mean_ns = w->half_wait_ns / WAIT_TRIAL_WAITS;
	if (k == 2 * WAIT_TRIAL_WAITS - 1)
		w->spin = w->cost_ns[1] < w->cost_ns[0];
}
