/*
 * The network stack as the kernel sees it: lwIP (NO_SYS, raw API) over
 * every registered network device, and one loop that serves it.  Nothing
 * here needs lwIP's headers.
 *
 * The loop: netstack_poll() does one turn (each device's received frames
 * into lwIP, finished transmits back, lwIP's timers); netstack_idle() is
 * that turn for a caller about to sleep; netstack_wait() waits for a
 * condition while serving the network.  lwIP never runs anywhere else: not
 * in an interrupt, not inside itself.
 *
 * IPv4 addresses are uint32_t in host order: 10.0.2.15 is 0x0A00020F.
 */
#ifndef LIB_NET_NETSTACK_H
#define LIB_NET_NETSTACK_H

#include <stdint.h>

#include "drivers/net/net.h"

/* Starts lwIP and makes an interface of every registered network device
 * (up, no address; the first is the default route).  Returns how many. */
int netstack_init(void);

/* One turn of the loop, without waiting.  Returns the frames taken. */
int netstack_poll(void);

/* A turn of the loop for a caller about to wait for something else (the
 * console).  Returns 1 if it may halt until the next interrupt (every
 * device asked for one, and none has work waiting), 0 if it should look
 * again soon (a device polls, or work is waiting). */
int netstack_idle(void);

/* Serves the network until done(arg) is true (returns 0) or timeout_ns
 * pass (returns -ETIMEDOUT).  Halts between interrupts where every device
 * has them, else spins. */
int netstack_wait(int (*done)(void *arg), void *arg, uint64_t timeout_ns);

/* Addressing.  A static address stops DHCP; netstack_dhcp_start() drops
 * the address and asks for a lease (in the background: the loop carries
 * it on).  Return 0 or -EINVAL (no such interface, a bad prefix), -ENOMEM. */
int netstack_set_static(struct net_device *d, uint32_t ip, unsigned prefix, uint32_t gw);
int netstack_dhcp_start(struct net_device *d);

struct netstack_info {
	uint32_t ip; /* 0: none */
	unsigned prefix;
	uint32_t gw; /* 0: none */
	int dhcp; /* DHCP runs on the interface */
	int dhcp_bound; /* and has a lease */
};
/* Returns 0, or -EINVAL if d is not an interface of the stack. */
int netstack_info(struct net_device *d, struct netstack_info *out);

/* One ICMP echo request of `size` payload bytes to dst, with identifier id
 * and sequence number seq; waits, serving the network, up to timeout_ns
 * for its reply.  Returns 0 with *rtt_ns set, -ETIMEDOUT (no reply),
 * -ENETUNREACH (no interface or route reaches dst), -ENOBUFS. */
int netstack_ping(uint32_t dst, uint16_t id, uint16_t seq, uint32_t size, uint64_t timeout_ns,
		  uint64_t *rtt_ns);

#endif
