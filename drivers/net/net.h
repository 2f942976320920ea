/*
 * The network-device interface that a TCP/IP stack uses: Ethernet frames
 * out and in, and what the stack needs to know of the card (MAC, MTU, link,
 * offloads).  Nothing here knows lwIP, and nothing of the driver shows
 * through but struct net_device.
 *
 * Sending: net_transmit() queues one frame given as segments (scatter-
 * gather); the driver reads them where they are, so they must stay
 * unchanged until the driver hands `cookie` back through tx_done().
 *
 * Receiving: net_poll() hands each received frame to rx(), in the driver's
 * own receive memory (a chain of struct net_rx_buf).  The stack owns the
 * chain from then on, may keep it as long as it likes, and gives each
 * piece back with net_rx_release(); the driver then posts that memory to
 * the device again.  It is never written by the device while the stack
 * holds it.
 *
 * Everything runs in the caller's loop: net_poll() is where completions are
 * reaped, frames delivered, link changes reported, and buffers reposted.
 * Interrupts only wake that loop (net_arm()).  Nothing here waits without
 * a bound.
 */
#ifndef DRIVERS_NET_NET_H
#define DRIVERS_NET_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_MAX_DEVICES 4
#define NET_ETH_ALEN 6
#define NET_MAX_SEGS 8 /* segments one transmit may have, at most (each device says its own) */
#define NET_RX_BUFS_MAX 512 /* receive pieces one device may have, at most */

/* One received frame's piece: the stack owns it from rx() until
 * net_rx_release(). */
struct net_rx_buf {
	struct net_rx_buf *next; /* the frame's next piece, or NULL */
	uint8_t *data;
	uint32_t len;
	uint16_t index; /* 0 .. rx_bufs - 1, stable: for the stack's own per-piece state */
};

/* rx() flags.  NET_RX_CSUM_OK: the TCP/UDP checksum need not be checked
 * (the device checked it, or the frame never crossed a wire: the host left
 * its checksum to the device).  NET_RX_LOW: the driver is short of receive
 * memory; a stack that means to keep this frame should copy it and release
 * the pieces at once. */
#define NET_RX_CSUM_OK 1u
#define NET_RX_LOW 2u

/* One segment of a frame to send. */
struct net_seg {
	const void *data;
	uint32_t len;
};

/* Offloads for one frame.  Checksum (only where the device has
 * NET_OFF_TX_CSUM): the device sums the frame from byte `start` to its end
 * and stores the result (added to what the field holds: the pseudo-header
 * sum) at start + offset.  Segmentation (NET_OFF_TSO4; with the checksum):
 * with gso_size nonzero the frame is one TCP/IPv4 segment of up to 64 KiB
 * whose first hdr_len bytes are its Ethernet, IP and TCP headers, and the
 * device cuts it into segments of gso_size payload bytes, each with those
 * headers (sequence numbers, lengths and checksums made right). */
struct net_tx_offload {
	uint16_t start, offset;
	uint16_t gso_size, hdr_len;
};

/* offloads */
#define NET_OFF_TX_CSUM 1u /* net_transmit() takes a struct net_tx_offload's checksum */
#define NET_OFF_RX_CSUM 2u /* frames may come with NET_RX_CSUM_OK */
#define NET_OFF_TSO4 4u /* and its segmentation */

/* Events (event()): what changed; read the device's fields for the new state. */
#define NET_EV_LINK 1u /* link_up changed */
#define NET_EV_ANNOUNCE 2u /* the device asks the stack to announce its address (gratuitous ARP) */

struct net_stats {
	uint64_t rx_frames, rx_bytes;
	uint64_t tx_frames, tx_bytes;
	uint64_t rx_dropped; /* frames the device delivered that never reached the stack */
	uint64_t tx_dropped; /* frames refused: the ring stayed full, the device is broken */
	uint64_t rx_copied; /* frames the stack copied out of receive memory (NET_RX_LOW) */
	uint64_t device_errors; /* used entries that broke the protocol (length, count, id) */
	uint64_t notifies; /* doorbell writes */
	uint64_t interrupts; /* queue interrupts */
	uint64_t config_changes; /* configuration-change interrupts */
	uint64_t resets; /* device resets after an error */
};

struct net_device;

struct net_ops {
	int (*transmit)(struct net_device *d, const struct net_seg *segs, unsigned n,
			const struct net_tx_offload *off, void *cookie);
	int (*poll)(struct net_device *d);
	int (*arm)(struct net_device *d);
	void (*release)(struct net_device *d, struct net_rx_buf *b);
	int (*set_rx_mode)(struct net_device *d, int promisc, int allmulti);
};

struct net_device {
	char name[8]; /* eth0, eth1, ... (set by net_register) */
	uint8_t mac[NET_ETH_ALEN];
	uint16_t mtu; /* largest IP packet, without the 14-byte Ethernet header */
	int link_up;
	int use_irq; /* the loop may halt for interrupts; else it polls */
	unsigned max_segs; /* segments one net_transmit() may have */
	unsigned offloads; /* NET_OFF_* */
	unsigned rx_bufs; /* receive pieces the driver has (net_rx_buf.index range, <= NET_RX_BUFS_MAX) */
	const struct net_ops *ops;
	void *priv; /* the driver's */
	struct net_stats stats;

	/* Set by the stack before its first net_poll(); each runs inside
	 * net_poll() (or net_transmit(), for tx_done), never in an interrupt. */
	void (*rx)(struct net_device *d, struct net_rx_buf *frame, unsigned flags);
	void (*tx_done)(struct net_device *d, void *cookie);
	void (*event)(struct net_device *d, unsigned what);
	void *stack; /* the stack's */
};

/* Names dev eth0, eth1, ... in registration order.  Returns 0 or -ENOSPC. */
int net_register(struct net_device *dev);
int net_count(void);
struct net_device *net_get(int i);
struct net_device *net_find(const char *name);

/* Queues one frame of n segments (n <= d->max_segs, the Ethernet header
 * first, at most mtu + 14 bytes in all, or 14 + 65535 to be segmented).
 * off: NULL, or where the device is to finish the TCP/UDP checksum (needs
 * NET_OFF_TX_CSUM) and how to segment the frame (NET_OFF_TSO4).  Reclaims
 * finished transmits first; if the ring is still full it waits, bounded
 * (a few milliseconds), for room.  Returns 0 (tx_done(cookie) follows,
 * from this or a later call), -EINVAL (too many segments, too long, or an
 * offload the device lacks), -ENOBUFS (the ring stayed full: dropped and
 * counted), -EIO (the device is broken).  On an error nothing was queued
 * and tx_done is not called. */
static inline int net_transmit(struct net_device *d, const struct net_seg *segs, unsigned n,
			       const struct net_tx_offload *off, void *cookie)
{
	return d->ops->transmit(d, segs, n, off, cookie);
}

/* Does the device's pending work: tx_done() for finished transmits, rx()
 * for received frames, event() for a link change or an announce request,
 * and posts free receive memory again.  Returns the number of frames
 * delivered, or -EIO if the device is broken. */
static inline int net_poll(struct net_device *d) { return d->ops->poll(d); }

/* Before the loop halts (use_irq): asks for an interrupt at the next
 * received frame (or other work) and returns 1 if there is already some
 * (poll again instead of halting), else 0. */
static inline int net_arm(struct net_device *d) { return d->ops->arm(d); }

/* Gives one piece of a received frame back (its next link is not followed). */
static inline void net_rx_release(struct net_device *d, struct net_rx_buf *b) { d->ops->release(d, b); }

/* Receive filter: promiscuous (every frame on the wire) and all-multicast.
 * Returns 0, -ENOTSUP (the device has no such control), -EIO. */
static inline int net_set_rx_mode(struct net_device *d, int promisc, int allmulti)
{
	return d->ops->set_rx_mode(d, promisc, allmulti);
}

#endif
