/*
 * virtio-net: a virtio device that is an Ethernet card.  Binds a PCI
 * function (or, in the host tests, a simulated transport), sets up one
 * receive/transmit queue pair and, where the device has one, the control
 * queue, and serves the network interface of drivers/net/net.h.
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_NET_H
#define DRIVERS_VIRTIO_VIRTIO_NET_H

#include <stdint.h>

#include "drivers/net/net.h"
#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio.h"
#include "drivers/virtio/virtq.h"

#define VIRTIO_NET_MAX_DEVICES NET_MAX_DEVICES

/* Feature bits (virtio 1.x section 5.1.3): the ones this driver knows. */
#define VIRTIO_NET_F_CSUM 0 /* the device finishes checksums we leave partial */
#define VIRTIO_NET_F_GUEST_CSUM 1 /* it may hand us frames whose checksum it checked, or left partial */
#define VIRTIO_NET_F_MTU 3 /* it says its largest MTU */
#define VIRTIO_NET_F_GUEST_TSO4 7 /* it may hand us TCP segments of up to 64 KiB (coalesced) */
#define VIRTIO_NET_F_HOST_TSO4 11 /* it cuts TCP segments of up to 64 KiB we hand it */
#define VIRTIO_NET_F_MAC 5 /* it has a MAC address */
#define VIRTIO_NET_F_MRG_RXBUF 15 /* a received frame may fill several buffers */
#define VIRTIO_NET_F_STATUS 16 /* link status in the configuration */
#define VIRTIO_NET_F_CTRL_VQ 17 /* a control queue */
#define VIRTIO_NET_F_CTRL_RX 18 /* receive filter commands: promiscuous, all-multicast */
#define VIRTIO_NET_F_GUEST_ANNOUNCE 21 /* it asks us to announce our address (after a migration) */
#define VIRTIO_NET_F_MQ 22 /* several queue pairs (we use one) */

/* struct virtio_net_config (section 5.1.4): byte offsets, each field read
 * with its own width. */
#define VIRTIO_NET_CFG_MAC 0 /* u8[6], MAC */
#define VIRTIO_NET_CFG_STATUS 6 /* le16, STATUS */
#define VIRTIO_NET_CFG_MAX_PAIRS 8 /* le16, MQ */
#define VIRTIO_NET_CFG_MTU 10 /* le16, MTU */
#define VIRTIO_NET_S_LINK_UP 1
#define VIRTIO_NET_S_ANNOUNCE 2

/* The header before every frame, both ways (section 5.1.6).  12 bytes with
 * VERSION_1 or MRG_RXBUF; a legacy device without MRG_RXBUF has the first
 * 10 only (no num_buffers). */
struct virtio_net_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers; /* receive with MRG_RXBUF: buffers the frame fills */
};
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1 /* the checksum at csum_start + csum_offset is partial */
#define VIRTIO_NET_HDR_F_DATA_VALID 2 /* receive: the device checked the checksum */
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1

/* Control queue commands (section 5.1.6.5): {class, command}, data, then
 * an ack byte the device writes. */
#define VIRTIO_NET_CTRL_RX 0
#define VIRTIO_NET_CTRL_RX_PROMISC 0
#define VIRTIO_NET_CTRL_RX_ALLMULTI 1
#define VIRTIO_NET_CTRL_ANNOUNCE 3
#define VIRTIO_NET_CTRL_ANNOUNCE_ACK 0
#define VIRTIO_NET_OK 0

/* Receive memory: each buffer holds a standard frame and its header
 * (12 + 1514 bytes); with MRG_RXBUF a bigger frame fills several. */
#define VIRTIO_NET_RX_BUF_BYTES 2048
#define VIRTIO_NET_RX_BUFS 256 /* per device: at most half in the ring, the rest for the stack to hold */
#define VIRTIO_NET_CTRL_QMAX 64 /* the largest control queue we set up (QEMU's legacy one is 64) */

struct virtio_net_ctrl {
	uint8_t class, cmd;
	uint8_t data[1]; /* the commands we send carry one byte, or none */
	uint8_t ack;
};

/* All the memory one device uses, static (the kernel has one per device;
 * rings 4096-aligned, buffers 64-aligned). */
struct virtio_net_mem {
	_Alignas(4096) uint8_t ring[2][VIRTQ_MEM_MAX]; /* receive, transmit */
	_Alignas(4096) uint8_t ctrl_ring[VIRTQ_MEM_SIZE(VIRTIO_NET_CTRL_QMAX, 0)];
	_Alignas(64) uint8_t rx[VIRTIO_NET_RX_BUFS][VIRTIO_NET_RX_BUF_BYTES];
	_Alignas(16) struct virtio_net_hdr tx_hdr[VIRTQ_MAX]; /* per transmit id */
	struct virtio_net_ctrl ctrl;
};

struct virtio_net_options {
	int use_irq; /* sleep for interrupts (MSI-X, else INTx); else poll */
	int allow_packed; /* accept VIRTIO_F_RING_PACKED when offered */
};

/* Where a receive buffer is. */
enum { RXB_FREE, RXB_POSTED, RXB_HELD };

struct virtio_net {
	struct virtio_dev vdev;
	struct net_device net;
	struct virtio_net_options opt;
	struct virtio_net_mem *mem;
	struct pci_msix msix;
	const char *mode; /* "poll", "msix" or "intx" */
	uint16_t vector[3]; /* MSI-X entry per queue (receive, transmit, control), or VIRTIO_NO_VECTOR */
	uint16_t config_vector;
	int broken; /* the device could not be brought back: nothing more is sent or received */
	const char *broken_why;
	volatile int live; /* DRIVER_OK and not being reset */
	volatile int config_pending; /* a configuration-change interrupt came: poll looks */
	int needs_reset; /* the device broke the protocol or asked for it: poll resets it */

	struct virtq rxq, txq, ctrlq;
	uint16_t ctrl_index; /* the control queue's number (2 x max_pairs), if CTRL_VQ */
	uint16_t max_pairs; /* queue pairs the device has (MQ); we use the first */
	uint16_t status; /* the device's status field (STATUS), as last read */
	unsigned hdr_len; /* 10 or 12 */
	int rx_split_hdr; /* legacy without MRG_RXBUF: the header in a descriptor of its own */
	int promisc, allmulti; /* receive filter asked for (re-applied after a reset) */
	int ctrl_broken; /* a command went unanswered: no more are sent */
	int mac_made; /* no MAC from the device: net.mac was made up, once */

	/* receive: buffers by index; the ring's chain ids map to them */
	unsigned rx_target; /* buffers to keep posted */
	unsigned rx_posted;
	uint16_t rx_free[VIRTIO_NET_RX_BUFS];
	unsigned rx_nfree;
	uint8_t rx_state[VIRTIO_NET_RX_BUFS];
	uint16_t rx_id_buf[VIRTQ_MAX];
	struct net_rx_buf rx_buf[VIRTIO_NET_RX_BUFS];

	/* transmit: the stack's cookie per chain id */
	void *tx_cookie[VIRTQ_MAX];
};

/* Features this driver implements and asks for; nothing else is accepted. */
uint64_t virtio_net_wanted_features(const struct virtio_net_options *opt);

/* Drives the virtio-net device behind an already bound transport: the
 * initialisation sequence, queues, interrupts, receive buffers posted.
 * mem is the device's static memory.  Returns 0, or a negative errno with
 * *why naming the failing step (the device is then marked FAILED and left
 * alone). */
int virtio_net_start(struct virtio_net *vn, const struct virtio_net_options *opt, struct virtio_net_mem *mem,
		     const char **why);

/* Probes every virtio-net PCI function (0x1AF4:0x1000 transitional, driven
 * through its modern interface when it has one; 0x1AF4:0x1041 modern) in
 * PCI order, registers each working one as a network device, and calls
 * report(pci, err, why) for each one that fails.  Returns the number
 * registered. */
int virtio_net_probe_all(const struct virtio_net_options *opt,
			 void (*report)(const struct pci_device *pci, int err, const char *why));

/* The driver behind a registered network device, or NULL if it is not ours. */
struct virtio_net *virtio_net_of(struct net_device *dev);

#endif
