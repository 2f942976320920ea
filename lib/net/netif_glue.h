/* One network device as an lwIP interface (lib/net/netif.c); shared by
 * the files of lib/net only. */
#ifndef LIB_NET_NETIF_GLUE_H
#define LIB_NET_NETIF_GLUE_H

#include "drivers/net/net.h"
#include "lib/net/tso.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"

/* A received piece as lwIP sees it: a custom pbuf around the driver's
 * memory, given back to the driver when lwIP frees it. */
struct rx_pbuf {
	struct pbuf_custom pc; /* first: lwIP's free callback gets its address */
	struct net_device *dev;
	struct net_rx_buf *buf;
};

struct netif_glue {
	struct netif netif;
	struct net_device *dev;
	u16_t chksum; /* the interface's checksum flags between frames */
	struct tso_frame tso; /* segments being coalesced (NET_OFF_TSO4) */
	struct rx_pbuf rx[NET_RX_BUFS_MAX]; /* by net_rx_buf.index */
};

/* Makes d an lwIP interface: up, no address, link as the device says.
 * Returns 0, or -EINVAL (the device has more receive pieces than
 * NET_RX_BUFS_MAX), -ENOMEM. */
int netif_glue_attach(struct netif_glue *g, struct net_device *d);

/* Sends what is held back for coalescing; at the end of each turn of the
 * loop, so nothing waits past it. */
void netif_glue_flush(struct netif_glue *g);

#endif
