/*
 * The loop that serves lwIP (NO_SYS), and the interfaces' addresses.
 *
 * One turn: every device's poll (frames into lwIP through the netif,
 * finished transmits back), then lwIP's timers.  Between turns the caller
 * halts until an interrupt, but only after every device has asked for one
 * and said it has nothing waiting (net_arm): a frame that lands between
 * the last look and the halt interrupts, and the halt returns at once.
 * The kernel's 100 Hz tick ends every halt, so lwIP's timers (250 ms for
 * TCP) run in time.
 */
#include <errno.h>
#include <string.h>

#include "drivers/platform.h"
#include "drivers/virtio/wait_way.h"
#include "lib/net/netif_glue.h"
#include "lib/net/netstack.h"
#include "lwip/dhcp.h"
#include "lwip/init.h"
#include "lwip/prot/dhcp.h"
#include "lwip/timeouts.h"

#define IDLE_ROUNDS 4 /* turns netstack_idle() takes while work keeps coming, before the console's turn */

static struct netif_glue ifs[NET_MAX_DEVICES];
static int nifs;
static int use_irq; /* every device interrupts: the loop may halt */

int netstack_init(void)
{
	lwip_init();
	use_irq = 1;
	for (int i = 0; i < net_count() && nifs < NET_MAX_DEVICES; i++) {
		struct net_device *d = net_get(i);
		if (netif_glue_attach(&ifs[nifs], d) < 0)
			continue;
		if (nifs++ == 0)
			netif_set_default(&ifs[0].netif);
		use_irq &= d->use_irq;
	}
	return nifs;
}

int netstack_poll(void)
{
	int taken = 0;

	for (int i = 0; i < nifs; i++) {
		int n = net_poll(ifs[i].dev);
		if (n > 0)
			taken += n;
	}
	sys_check_timeouts();
	for (int i = 0; i < nifs; i++)
		netif_glue_flush(&ifs[i]);
	return taken;
}

/* Asks every device for an interrupt; 1 if one has work waiting already. */
static int arm_all(void)
{
	int waiting = 0;

	for (int i = 0; i < nifs; i++)
		waiting |= net_arm(ifs[i].dev);
	return waiting;
}

/* The console's wait for the next frame: halt at once, or spin a while
 * first.  Under TCG, waking a halted CPU costs tens of microseconds, as
 * much as a request and its answer with a client on the host take; on a
 * busy host, though, a spinning CPU takes the time the device model
 * needs.  So trials decide, as for the block driver's waits
 * (drivers/virtio/wait_way.h): a wait begins at the turn that finds
 * nothing to do and ends at the one that takes a frame.  A wait longer
 * than IDLE_WAIT_CAP_NS counts as that long: past it the spin is over
 * either way, and a pause of the client's says nothing of the two ways. */
#define IDLE_WAIT_CAP_NS (2 * WAIT_SPIN_MAX_NS)

static struct wait_way idle_way;
static int idle_waiting, idle_spins;
static uint64_t idle_start, idle_spin_ns;

int netstack_idle(void)
{
	for (int round = 0; round < IDLE_ROUNDS; round++) {
		int taken = netstack_poll();
		if (!use_irq)
			return 0;
		uint64_t now = plat_time_ns();
		if (taken) {
			if (idle_waiting) {
				uint64_t ns = now - idle_start;
				wait_way_end(&idle_way, 1, idle_spins,
					     ns < IDLE_WAIT_CAP_NS ? ns : IDLE_WAIT_CAP_NS, (uint64_t)taken);
				idle_waiting = 0;
			}
			continue; /* more may follow */
		}
		if (!idle_waiting) {
			idle_waiting = 1;
			idle_start = now;
			idle_spins = wait_way_begin(&idle_way, 1, &idle_spin_ns);
		}
		if (idle_spins && now - idle_start < idle_spin_ns)
			return 0;
		if (!arm_all())
			return 1;
	}
	return 0;
}

struct wait_ctx {
	int (*done)(void *arg);
	void *arg;
	uint64_t deadline;
};

static int wait_ready(void *arg)
{
	struct wait_ctx *w = arg;

	for (;;) {
		netstack_poll();
		if (w->done(w->arg))
			return 1;
		/* Work that keeps coming is served to the deadline, no longer. */
		if (!use_irq || !arm_all() || plat_time_ns() >= w->deadline)
			return 0;
	}
}

int netstack_wait(int (*done)(void *arg), void *arg, uint64_t timeout_ns)
{
	struct wait_ctx w = {done, arg, plat_time_ns() + timeout_ns};

	return plat_wait_until(wait_ready, &w, w.deadline, use_irq);
}

static struct netif *netif_of(struct net_device *d)
{
	for (int i = 0; i < nifs; i++)
		if (ifs[i].dev == d)
			return &ifs[i].netif;
	return NULL;
}

static ip4_addr_t ip4(uint32_t host_order)
{
	ip4_addr_t a;

	ip4_addr_set_u32(&a, lwip_htonl(host_order));
	return a;
}

int netstack_set_static(struct net_device *d, uint32_t ip, unsigned prefix, uint32_t gw)
{
	struct netif *n = netif_of(d);

	if (!n || prefix > 32)
		return -EINVAL;
	dhcp_release_and_stop(n);
	ip4_addr_t a = ip4(ip), mask = ip4(prefix ? 0xFFFFFFFFu << (32 - prefix) : 0), g = ip4(gw);
	netif_set_addr(n, &a, &mask, &g);
	return 0;
}

int netstack_dhcp_start(struct net_device *d)
{
	struct netif *n = netif_of(d);

	if (!n)
		return -EINVAL;
	netif_set_addr(n, IP4_ADDR_ANY4, IP4_ADDR_ANY4, IP4_ADDR_ANY4);
	return dhcp_start(n) == ERR_OK ? 0 : -ENOMEM;
}

int netstack_info(struct net_device *d, struct netstack_info *out)
{
	struct netif *n = netif_of(d);

	if (!n)
		return -EINVAL;
	uint32_t mask = lwip_ntohl(ip4_addr_get_u32(netif_ip4_netmask(n)));
	out->ip = lwip_ntohl(ip4_addr_get_u32(netif_ip4_addr(n)));
	out->gw = lwip_ntohl(ip4_addr_get_u32(netif_ip4_gw(n)));
	out->prefix = 0;
	while (out->prefix < 32 && (mask & (0x80000000u >> out->prefix)))
		out->prefix++;
	out->dhcp = netif_dhcp_data(n) != NULL && netif_dhcp_data(n)->state != DHCP_STATE_OFF;
	out->dhcp_bound = dhcp_supplied_address(n);
	return 0;
}
