/*
 * TCP frames as the netif sends them (lib/net/netif.c): the checksum left
 * to the device, and segments coalesced for a device that cuts them again
 * (TSO).  Shared by the files of lib/net only.
 */
#ifndef LIB_NET_TSO_H
#define LIB_NET_TSO_H

#include <stdint.h>

#include "drivers/net/net.h"
#include "lwip/pbuf.h"

/* A TCP/IPv4 frame's layout, from its first piece. */
struct tcp_frame {
	unsigned ihl, thl; /* IP and TCP header bytes */
	unsigned hlen; /* Ethernet, IP and TCP headers: where the payload starts */
	unsigned ip_len; /* the IP total length */
	uint32_t seq;
	uint8_t flags;
};

/* 1 for a TCP/IPv4 frame whose headers are all in f[0..len), not a
 * fragment; 0 for a frame that is not TCP over IPv4; -1 for a TCP frame
 * that is malformed or a fragment (lwIP builds none). */
int tcp_frame_parse(const uint8_t *f, unsigned len, struct tcp_frame *t);

/* Leaves the TCP checksum to the device: its field gets the pseudo-header
 * sum for the frame's TCP length, and *off where the device is to finish
 * it (no segmentation). */
void tcp_frame_to_device(uint8_t *f, const struct tcp_frame *t, struct net_tx_offload *off);

/* The frame being coalesced for one device: back-to-back segments of one
 * flow (same headers but the sequence number and PSH, each continuing the
 * last, every one but the last a full gso_size), in one buffer. */
struct tso_frame {
	uint8_t *buf; /* NULL: none pending */
	uint32_t len;
	uint32_t seq_next; /* the sequence number that continues it */
	uint16_t mss; /* the first segment's payload: the device cuts at it */
	unsigned segs;
	struct tcp_frame t; /* the first segment's layout */
};

/* Takes the frame p (from lwIP's linkoutput) into d's pending frame t,
 * sending what was pending first when p does not continue it.  Returns 1 if
 * p was taken (copied: lwIP may do with p as it likes), 0 if p is to go out
 * on its own (and nothing is pending any more). */
int tso_take(struct tso_frame *t, struct net_device *d, struct pbuf *p);

/* Sends d's pending frame, if any (one segment plainly, more as one frame
 * for the device to cut).  Returns 0 or net_transmit's error (the frame is
 * dropped then: TCP sends it again). */
int tso_flush(struct tso_frame *t, struct net_device *d);

/* 1 if cookie is a coalesced frame's (tx_done gives it back with
 * tso_done), else 0. */
int tso_is_frame(const void *cookie);
void tso_done(void *cookie);

#endif
