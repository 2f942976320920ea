/*
 * A simulated virtio-net device for the host unit tests (vsim_net.c), on
 * the platform and ring halves of vsim.h.  It sits behind a struct
 * virtio_transport (legacy or modern flavour) with a receive queue (0), a
 * transmit queue (1) and, when CTRL_VQ is negotiated, a control queue
 * (2 x max_virtqueue_pairs when MQ is negotiated, else 2).
 *
 * Receive: the test hands the device a frame (vsim_net_rx); the device
 * takes posted buffers as QEMU does (one, or with MRG_RXBUF as many as
 * the frame fills, num_buffers in the first header), writes the header
 * and the frame, and makes them used.  With no buffer posted the frame
 * waits, and the device waits for a notification (as QEMU does: a driver
 * that refills without notifying stalls it for good).
 *
 * Transmit: at the notification the device gathers each chain into a
 * captured frame (header and bytes, as a packet capture would show them)
 * that the test takes with vsim_net_tx_take, and completes the chain at
 * once, at the next wait of the CPU, or when the test releases it.  A
 * chain held is read again when it completes: a byte the driver changed
 * while the device owned it fails the test.  With HOST_TSO4, a chain
 * whose header asks for TCPV4 segmentation is checked as the
 * specification asks and cut as a device (QEMU over a Linux tap) cuts it:
 * the wire, and so the capture, sees the segments, each fully checksummed.
 *
 * Receive with GUEST_TSO4: a test may hand the device a TCP/IPv4 segment
 * of up to 64 KiB (gso_type TCPV4, NEEDS_CSUM, the checksum field holding
 * the pseudo-header sum, as Linux's GRO leaves it); it fills as many
 * mergeable buffers as it needs.
 *
 * Control: commands are executed at the notification and recorded.
 *
 * Everything the driver publishes that breaks the specification fails the
 * test on the spot (fail_msg); the knobs below make the device lie.
 */
#ifndef TESTS_UNIT_VSIM_NET_H
#define TESTS_UNIT_VSIM_NET_H

#include <stdint.h>

#include "drivers/virtio/virtio_net.h"
#include "tests/unit/vsim.h"

#define VSIM_NET_FRAME_MAX 9216 /* largest frame the tests move (a 9000-byte MTU and more) */
#define VSIM_NET_GSO_MAX (14 + 65535) /* largest TCP/IPv4 segment either way with TSO (Ethernet and IP) */
#define VSIM_NET_CAPTURE 256 /* transmitted frames kept until the test takes them */
#define VSIM_NET_BACKLOG 256 /* received frames waiting for buffers */
#define VSIM_NET_CMDS 64 /* control commands recorded */
#define VSIM_NET_RX_SEGS 4 /* descriptors one receive buffer may have */
#define VSIM_NET_TX_SEGS 16 /* descriptors one transmit chain may have */

/* Options of a received frame (vsim_net_rx); zero for a plain one.  A
 * large segment (GUEST_TSO4): gso_type TCPV4, gso_size its MSS, hdr_len
 * its headers' length, flags NEEDS_CSUM with csum_start and csum_offset,
 * the frame up to VSIM_NET_GSO_MAX bytes. */
struct vsim_net_rx_opts {
	uint8_t flags; /* header flags as the device sets them (NEEDS_CSUM, DATA_VALID) */
	uint16_t csum_start, csum_offset;
	uint8_t gso_type;
	uint16_t gso_size, hdr_len;
};

/* One transmitted frame as the device saw it: for a chain that asked for
 * segmentation, one of the segments the device cut from it (hdr is then
 * the chain's header, and the segment is fully checksummed, as on the
 * wire). */
struct vsim_net_frame {
	struct virtio_net_hdr hdr; /* the header's hdr_len bytes; num_buffers 0 when hdr_len is 10 */
	unsigned hdr_len;
	unsigned descs; /* ring descriptors the chain took (1 for an indirect one) */
	unsigned segs; /* buffers the chain had, as the device walked it */
	unsigned seq; /* order among transmits and commands (struct vsim_net.seq) */
	unsigned chain; /* which transmit chain it came from: struct vsim_net.tx_chains before it */
	unsigned gso_seg, gso_segs; /* cut from a GSO chain: segment gso_seg of gso_segs; else 0 and 0 */
	uint32_t len;
	uint8_t data[VSIM_NET_FRAME_MAX];
};

/* One control command the device executed. */
struct vsim_net_cmd {
	uint8_t class, cmd;
	uint8_t data[16];
	unsigned len; /* data bytes */
	uint8_t ack; /* what the device answered */
	unsigned seq;
};

/* How the transmit queue completes chains. */
enum vsim_net_tx_mode {
	VSIM_TX_AT_ONCE, /* at the notification, as QEMU does */
	VSIM_TX_AT_IDLE, /* the next time the CPU waits */
	VSIM_TX_HOLD, /* when the test calls vsim_net_tx_release() */
};

/* One-shot lies, each for the next frame received (or, for the TX ones,
 * the next transmit completed). */
enum vsim_net_lie {
	VSIM_NET_HONEST,
	VSIM_NET_RX_LONG_LEN, /* the first buffer's used length is one past what it holds */
	VSIM_NET_RX_LONG_LEN_2ND, /* the same for the frame's second buffer (MRG_RXBUF) */
	VSIM_NET_RX_NUM_BUFFERS_HUGE, /* num_buffers far beyond what the driver posted */
	VSIM_NET_RX_NUM_BUFFERS_ZERO, /* num_buffers 0 */
	VSIM_NET_RX_NUM_BUFFERS_SHORT, /* num_buffers one more than the buffers made used */
	VSIM_NET_RX_DOUBLE_ID, /* the frame's (last) buffer made used a second time: not in flight */
	VSIM_NET_RX_BAD_ID, /* the first buffer returned under an id beyond the ring */
	VSIM_NET_TX_DOUBLE_ID, /* a transmit chain completed twice */
};

/* A queue as the device sees it. */
struct vsim_netq {
	struct vsim_ring ring;
	unsigned index, size;
	uint16_t vector;
	int enabled;
	unsigned notifies, interrupts;
};

/* A receive buffer the device took off the ring and has not used yet. */
struct vsim_rxbuf {
	uint16_t id, ndescs;
	unsigned n;
	uint32_t cap;
	struct vsim_seg seg[VSIM_NET_RX_SEGS];
};

/* A transmit chain the device holds (AT_IDLE or HOLD): its buffers and a
 * hash of their bytes when it was taken. */
struct vsim_txhold {
	uint16_t id, ndescs;
	unsigned n;
	struct vsim_seg seg[VSIM_NET_TX_SEGS];
	uint64_t hash;
};

struct vsim_net_backlog {
	uint32_t len;
	struct vsim_net_rx_opts opts;
	uint8_t data[VSIM_NET_FRAME_MAX];
	uint8_t *big; /* a frame longer than data holds (a large segment), allocated */
};

struct vsim_net {
	int modern;
	int wired; /* bound with the PCI function: it can interrupt (else never) */
	uint8_t status;
	int refuse_features_ok;
	int stuck_in_reset; /* status never reads back 0 */
	uint64_t offered, negotiated;
	uint8_t cfg[24]; /* struct virtio_net_config: mac, status, max_virtqueue_pairs, mtu, speed, duplex */
	uint8_t generation;
	uint8_t isr;
	uint16_t config_vector;
	unsigned queue_max, ctrl_queue_max;
	/* The link goes down while the receive queue is set up, unannounced
	 * (a device may not notify before DRIVER_OK): only the generation
	 * moves. */
	int link_down_at_setup;
	struct vsim_netq rxq, txq, ctrlq;
	unsigned extra_queues; /* queues set up beyond the first pair and the control queue */

	/* receive */
	struct vsim_rxbuf rxbufs[VIRTQ_MAX]; /* taken off the ring, oldest first */
	unsigned nrxbufs;
	struct vsim_net_backlog backlog[VSIM_NET_BACKLOG];
	unsigned nbacklog;
	int rx_waiting; /* ran out of buffers: delivers nothing more until notified */
	unsigned rx_frames, rx_dropped, max_num_buffers;

	/* transmit */
	enum vsim_net_tx_mode tx_mode;
	struct vsim_txhold txhold[VIRTQ_MAX];
	unsigned ntxhold;
	struct vsim_net_frame capture[VSIM_NET_CAPTURE];
	unsigned cap_head, ncaptured;
	unsigned tx_frames,
		tx_lost; /* frames sent (on the wire); frames the test never took (capture full) */
	unsigned tx_chains; /* transmit chains taken from the ring */
	unsigned tx_gso, tx_gso_segs; /* chains cut (HOST_TSO4), and the segments cut from them */
	/* Called for each frame sent (after it is captured): a test's peer may
	 * answer it with vsim_net_rx. */
	void (*on_tx)(struct vsim_net *s, const struct vsim_net_frame *f);

	/* control */
	struct vsim_net_cmd cmds[VSIM_NET_CMDS];
	unsigned ncmds;
	int ctrl_silent; /* takes commands and never answers */
	int ctrl_nak; /* answers every command with ERR */
	int promisc, allmulti;

	enum vsim_net_lie lie;
	unsigned seq; /* counts transmits and commands, in order */
	unsigned resets, interrupts, config_interrupts, msix_irqs[VSIM_MSIX_MAX], intx_irqs;
};

/* A device offering `features` (VERSION_1 added when modern), MAC
 * 52:54:00:12:34:56, link up, one queue pair, MTU 1500, queues of 256. */
void vsim_net_init(struct vsim_net *s, uint64_t features, int modern);
void vsim_net_set_mac(struct vsim_net *s, const uint8_t mac[6]);
void vsim_net_set_mtu(struct vsim_net *s, uint16_t mtu);
void vsim_net_set_max_pairs(struct vsim_net *s, uint16_t pairs);
/* Binds d to the simulated transport of s (pci: the PCI function for
 * interrupts, or NULL). */
void vsim_net_bind(struct vsim_net *s, struct virtio_dev *d, struct pci_device *pci);
/* Adds s to the devices the platform runs while the CPU waits (after
 * vsim_platform_reset, which forgets them). */
void vsim_net_attach_idle(struct vsim_net *s);

/* The header length the negotiated features give (10 or 12). */
unsigned vsim_net_hdr_len(const struct vsim_net *s);

/* A frame arrives from the wire.  Returns 1 if it went into the ring now,
 * 0 if it waits for buffers (delivered once the driver posts some and
 * notifies).  Options that a device could not send (a large segment
 * without GUEST_TSO4, or without NEEDS_CSUM) fail the test. */
int vsim_net_rx(struct vsim_net *s, const void *frame, uint32_t len, const struct vsim_net_rx_opts *opts);
/* Receive buffers the driver has made available and the device has not
 * used (it takes every one off the ring to count them). */
unsigned vsim_net_rx_avail(struct vsim_net *s);

/* Takes the oldest captured transmit; returns 0 if there is none. */
int vsim_net_tx_take(struct vsim_net *s, struct vsim_net_frame *f);
/* Completes the transmits the device holds; returns how many. */
unsigned vsim_net_tx_release(struct vsim_net *s);

/* Link up or down, then a configuration change. */
int vsim_net_set_link(struct vsim_net *s, int up);
/* Sets status ANNOUNCE (as after a migration), then a configuration change. */
int vsim_net_announce(struct vsim_net *s);
/* Sets DEVICE_NEEDS_RESET, then a configuration change. */
int vsim_net_needs_reset(struct vsim_net *s);
/* Signals a configuration change (generation bumped): MSI-X on the config
 * vector (nothing if MSI-X is on and the driver mapped none), else ISR
 * bit 1 and INTx.  Returns 1 if a handler ran. */
int vsim_net_config_change(struct vsim_net *s);

#endif
