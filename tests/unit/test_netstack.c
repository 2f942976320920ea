/* Host unit tests for the network stack (lib/net: lwIP's netif glue, the
 * loop, ping, addressing) over the virtio-net driver and the simulated
 * device of tests/unit/vsim_net.c.  The test is the wire: it plays the
 * hosts on the other side (ARP, ping, a TCP peer, a DHCP server) and
 * checks every frame lwIP sends byte for byte, as a packet capture would
 * show it, checksums included.
 *
 * lwIP keeps global state and is started once per process (lwip_init), so
 * the tests share one stack: four interfaces made once by the group
 * set-up, each over its own simulated device:
 *
 *   eth0  modern, split ring, MRG_RXBUF, MTU 9000, control queue, the
 *         PCI function's INTx for configuration changes (polled);
 *         10.0.0.2/24, the peer 10.0.0.1
 *   eth1  legacy (10-byte header), CSUM and GUEST_CSUM: TCP checksums are
 *         the device's; 10.0.1.2/24, the peer 10.0.1.1
 *   eth2  modern, packed ring; addressed by DHCP from the server 10.0.2.2
 *   eth3  modern, split ring, MRG_RXBUF, both checksum offloads and both
 *         TSO4 features: lwIP's TCP segments are coalesced for the device
 *         to cut (lib/net/tso.c), the peer's arrive coalesced up to 64 KiB;
 *         MTU 1500; 10.0.3.2/24, the peer 10.0.3.1.  Every frame lwIP hands
 *         eth3 is recorded (its linkoutput is wrapped), so the tests compare
 *         the wire with what lwIP sent, frame for frame.
 */
// clang-format off
// SOURCES: lib/net/netif.c lib/net/tso.c lib/net/stack.c drivers/virtio/wait_way.c lib/net/ping.c lib/net/sys.c lib/net/addr.c drivers/net/net.c drivers/virtio/virtio_net.c drivers/virtio/virtio.c drivers/virtio/virtio_pci.c drivers/virtio/virtq.c drivers/virtio/virtq_split.c drivers/virtio/virtq_packed.c drivers/virtio/virtio_pci_modern.c drivers/virtio/virtio_pci_legacy.c drivers/pci/pci.c tests/unit/vsim_platform.c tests/unit/vsim_ring.c tests/unit/vsim_net.c third_party/lwip/src/src/core/init.c third_party/lwip/src/src/core/def.c third_party/lwip/src/src/core/inet_chksum.c third_party/lwip/src/src/core/ip.c third_party/lwip/src/src/core/mem.c third_party/lwip/src/src/core/memp.c third_party/lwip/src/src/core/netif.c third_party/lwip/src/src/core/pbuf.c third_party/lwip/src/src/core/raw.c third_party/lwip/src/src/core/sys.c third_party/lwip/src/src/core/tcp.c third_party/lwip/src/src/core/tcp_in.c third_party/lwip/src/src/core/tcp_out.c third_party/lwip/src/src/core/timeouts.c third_party/lwip/src/src/core/udp.c third_party/lwip/src/src/core/ipv4/dhcp.c third_party/lwip/src/src/core/ipv4/etharp.c third_party/lwip/src/src/core/ipv4/icmp.c third_party/lwip/src/src/core/ipv4/ip4.c third_party/lwip/src/src/core/ipv4/ip4_addr.c third_party/lwip/src/src/core/ipv4/ip4_frag.c third_party/lwip/src/src/netif/ethernet.c
// clang-format on
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "drivers/net/net.h"
#include "drivers/virtio/virtio_net.h"
#include "lib/net/netif_glue.h"
#include "lib/net/netstack.h"
#include "lwip/pbuf.h"
#include "lwip/raw.h"
#include "lwip/tcp.h"
#include "tests/unit/vsim_net.h"
#include "tests/unit/wire.h"

#define F(bit) (1ull << (bit))
#define NDEV 4
#define ETH_HLEN 14
#define ETH_ARP 0x0806
#define ETH_IP 0x0800
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_TEST 253 /* "experimentation and testing" (RFC 3692): a raw pcb's */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

static struct pci_device pci;
static struct vsim_net sim[NDEV];
static struct virtio_net vn[NDEV];
static struct virtio_net_mem mem[NDEV];
static struct net_device *dev[NDEV];

/* ---- bytes on the wire ---- */

static uint16_t inet_sum(const uint8_t *p, size_t n) { return (uint16_t)~fold(sum16(p, n, 0)); }

/* The pseudo-header's sum for the L4 segment of an IPv4 frame. */
static uint32_t pseudo(const uint8_t *f)
{
	const uint8_t *ip = f + ETH_HLEN;
	unsigned ihl = (ip[0] & 15) * 4u;
	return sum16(ip + 12, 8, 0) + ip[9] + (get16(ip + 2) - ihl);
}

/* Fills the L4 checksum (TCP, UDP or ICMP) of an IPv4 frame. */
static void set_l4_sum(uint8_t *f)
{
	uint8_t *ip = f + ETH_HLEN;
	unsigned ihl = (ip[0] & 15) * 4u, len = get16(ip + 2) - ihl;
	uint8_t *l4 = ip + ihl;
	unsigned at = ip[9] == PROTO_TCP ? 16 : ip[9] == PROTO_UDP ? 6 : 2;
	put16(l4 + at, 0);
	uint32_t s = sum16(l4, len, ip[9] == PROTO_ICMP ? 0 : pseudo(f));
	uint16_t c = (uint16_t)~fold(s);
	if (ip[9] == PROTO_UDP && c == 0)
		c = 0xFFFF;
	put16(l4 + at, c);
}

static const uint8_t bcast[6] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};

static unsigned eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return ETH_HLEN;
}

/* An IPv4 header (no options, DF) for an L4 part of len bytes. */
static unsigned ipv4(uint8_t *f, uint8_t proto, uint32_t src, uint32_t dst, unsigned len)
{
	static uint16_t id = 0x4000;
	uint8_t *ip = f + ETH_HLEN;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + len));
	put16(ip + 4, id++);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, inet_sum(ip, 20));
	return ETH_HLEN + 20;
}

/* A frame's IPv4 header is sound: version, length, header checksum. */
static void check_ipv4(const struct vsim_net_frame *f)
{
	const uint8_t *ip = f->data + ETH_HLEN;
	assert_true(f->len >= ETH_HLEN + 20);
	assert_int_equal(get16(f->data + 12), ETH_IP);
	assert_int_equal(ip[0], 0x45);
	assert_int_equal(get16(ip + 2), f->len - ETH_HLEN);
	assert_int_equal(inet_sum(ip, 20), 0);
}

/* The L4 checksum of a frame lwIP sent.  Where the device was asked to
 * finish it (NEEDS_CSUM) the field must hold the pseudo-header sum, and
 * the device's sum from csum_start must complete it: the test does what
 * the device does, then checks. */
static void check_l4(struct vsim_net_frame *f, int expect_offload)
{
	check_ipv4(f);
	uint8_t *ip = f->data + ETH_HLEN;
	unsigned len = get16(ip + 2) - 20;
	if (expect_offload) {
		assert_int_equal(f->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(f->hdr.csum_start, 34);
		assert_int_equal(f->hdr.csum_offset, 16);
		assert_int_equal(get16(f->data + 34 + 16), fold(pseudo(f->data)));
		put16(f->data + 34 + 16, (uint16_t)~fold(sum16(f->data + 34, f->len - 34, 0)));
	} else {
		assert_int_equal(f->hdr.flags, 0);
	}
	uint32_t s = sum16(ip + 20, len, ip[9] == PROTO_ICMP ? 0 : pseudo(f->data));
	if (fold(s) != 0xFFFF)
		fail_msg("L4 checksum of a protocol %u frame is wrong", ip[9]);
}

/* ---- the hosts on the other side ---- */

struct peer {
	uint8_t mac[6];
	uint32_t ip, our_ip;
	int answer_ping; /* echo requests to ip get replies */
	int dhcp; /* a DHCP server offering offer_ip */
	uint32_t offer_ip;
	unsigned arp_replies, pings, dhcp_offers, dhcp_acks;
};

static struct peer peers[NDEV] = {
	{{0x02, 0, 0, 0, 0, 0x01}, IP(10, 0, 0, 1), IP(10, 0, 0, 2), 1, 0, 0, 0, 0, 0, 0},
	{{0x02, 0, 0, 0, 1, 0x01}, IP(10, 0, 1, 1), IP(10, 0, 1, 2), 1, 0, 0, 0, 0, 0, 0},
	{{0x02, 0, 0, 0, 2, 0x02}, IP(10, 0, 2, 2), 0, 1, 1, IP(10, 0, 2, 15), 0, 0, 0, 0},
	{{0x02, 0, 0, 0, 3, 0x01}, IP(10, 0, 3, 1), IP(10, 0, 3, 2), 1, 0, 0, 0, 0, 0, 0},
};

static int index_of(const struct vsim_net *s) { return (int)(s - sim); }

static uint8_t out[VSIM_NET_FRAME_MAX];

static void peer_arp(struct vsim_net *s, struct peer *p, const uint8_t *f, uint32_t len)
{
	if (len < 42 || get16(f + 20) != 1 || get32(f + 38) != p->ip)
		return;
	unsigned n = eth(out, f + 6, p->mac, ETH_ARP);
	memcpy(out + n, f + 14, 6); /* htype, ptype, hlen, plen */
	put16(out + n + 6, 2);
	memcpy(out + n + 8, p->mac, 6);
	put32(out + n + 14, p->ip);
	memcpy(out + n + 18, f + 22, 10); /* the asker's address pair */
	vsim_net_rx(s, out, 42, NULL);
	p->arp_replies++;
}

static void peer_ping(struct vsim_net *s, struct peer *p, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HLEN;
	if (!p->answer_ping || get32(ip + 16) != p->ip || ip[9] != PROTO_ICMP || ip[20] != 8)
		return;
	unsigned l4 = get16(ip + 2) - 20u;
	eth(out, f + 6, p->mac, ETH_IP);
	ipv4(out, PROTO_ICMP, p->ip, get32(ip + 12), l4);
	memcpy(out + 34, ip + 20, l4);
	out[34] = 0;
	set_l4_sum(out);
	vsim_net_rx(s, out, 34 + l4, NULL);
	p->pings++;
	(void)len;
}

/* BOOTP/DHCP message offsets (RFC 2131), from the UDP payload. */
#define BOOTP_XID 4
#define BOOTP_CIADDR 12
#define BOOTP_YIADDR 16
#define BOOTP_CHADDR 28
#define BOOTP_COOKIE 236
#define BOOTP_OPTIONS 240

/* The value of DHCP option `code` in msg, or NULL. */
static const uint8_t *dhcp_opt(const uint8_t *msg, unsigned len, uint8_t code, unsigned *olen)
{
	for (unsigned i = BOOTP_OPTIONS; i < len && msg[i] != 255;) {
		if (msg[i] == 0) {
			i++;
			continue;
		}
		if (i + 2 > len || i + 2 + msg[i + 1] > len)
			return NULL;
		if (msg[i] == code) {
			*olen = msg[i + 1];
			return msg + i + 2;
		}
		i += 2u + msg[i + 1];
	}
	return NULL;
}

static void peer_dhcp(struct vsim_net *s, struct peer *p, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + ETH_HLEN, *udp = ip + 20, *msg = udp + 8;
	unsigned olen;
	if (!p->dhcp || ip[9] != PROTO_UDP || get16(udp + 2) != 67 || len < 34 + 8 + BOOTP_OPTIONS)
		return;
	unsigned mlen = len - 42;
	const uint8_t *type = dhcp_opt(msg, mlen, 53, &olen);
	if (!type || (*type != 1 && *type != 3))
		return;
	uint8_t *m = out + 42;
	memset(m, 0, BOOTP_OPTIONS + 64);
	m[0] = 2, m[1] = 1, m[2] = 6;
	memcpy(m + BOOTP_XID, msg + BOOTP_XID, 4);
	put32(m + BOOTP_YIADDR, p->offer_ip);
	memcpy(m + BOOTP_CHADDR, msg + BOOTP_CHADDR, 16);
	put32(m + BOOTP_COOKIE, 0x63825363);
	uint8_t *o = m + BOOTP_OPTIONS;
	*o++ = 53, *o++ = 1, *o++ = *type == 1 ? 2 : 5; /* OFFER or ACK */
	*o++ = 54, *o++ = 4, put32(o, p->ip), o += 4; /* server id */
	*o++ = 51, *o++ = 4, put32(o, 3600), o += 4; /* lease */
	*o++ = 1, *o++ = 4, put32(o, 0xFFFFFF00), o += 4; /* mask; no router, as QEMU with restrict=on */
	*o++ = 255;
	unsigned mn = (unsigned)(o - m);
	eth(out, bcast, p->mac, ETH_IP);
	ipv4(out, PROTO_UDP, p->ip, 0xFFFFFFFF, 8 + mn);
	put16(out + 34, 67);
	put16(out + 36, 68);
	put16(out + 38, (uint16_t)(8 + mn));
	set_l4_sum(out);
	vsim_net_rx(s, out, 42 + mn, NULL);
	if (*type == 1)
		p->dhcp_offers++;
	else
		p->dhcp_acks++;
}

static void peer_on_tx(struct vsim_net *s, const struct vsim_net_frame *f)
{
	struct peer *p = &peers[index_of(s)];
	uint16_t type = f->len >= ETH_HLEN ? get16(f->data + 12) : 0;

	if (type == ETH_ARP)
		peer_arp(s, p, f->data, f->len);
	else if (type == ETH_IP && f->len >= 42) {
		peer_ping(s, p, f->data, f->len);
		peer_dhcp(s, p, f->data, f->len);
	}
}

/* ---- the loop ---- */

/* Lets time pass, serving the network as the kernel's idle loop does. */
static void run_ms(unsigned ms)
{
	for (unsigned i = 0; i < ms; i++) {
		vsim_plat.now_ns += 1000000;
		netstack_poll();
	}
}

typedef int (*match_fn)(const struct vsim_net_frame *f, const void *arg);

static struct vsim_net_frame got;

/* The next frame device d sends that matches, serving the loop (and
 * letting time pass) until it comes; frames that do not match are
 * passed over.  Returns 0 if none came within ms. */
static int expect(int d, match_fn match, const void *arg, unsigned ms)
{
	for (unsigned i = 0; i <= ms; i++) {
		while (vsim_net_tx_take(&sim[d], &got))
			if (match(&got, arg))
				return 1;
		vsim_plat.now_ns += 1000000;
		netstack_poll();
	}
	return 0;
}

static void drain(void)
{
	for (int d = 0; d < NDEV; d++)
		while (vsim_net_tx_take(&sim[d], &got))
			;
}

static int is_arp(const struct vsim_net_frame *f, const void *arg)
{
	(void)arg;
	return f->len >= 42 && get16(f->data + 12) == ETH_ARP;
}

static int is_ip(const struct vsim_net_frame *f, uint8_t proto)
{
	return f->len >= 34 && get16(f->data + 12) == ETH_IP && f->data[ETH_HLEN + 9] == proto;
}

static int is_icmp(const struct vsim_net_frame *f, const void *arg)
{
	(void)arg;
	return is_ip(f, PROTO_ICMP);
}

/* A TCP segment to the port *arg. */
static int is_tcp_to(const struct vsim_net_frame *f, const void *arg)
{
	return is_ip(f, PROTO_TCP) && get16(f->data + 34 + 2) == *(const uint16_t *)arg;
}

static int is_dhcp(const struct vsim_net_frame *f, const void *arg)
{
	(void)arg;
	return is_ip(f, PROTO_UDP) && get16(f->data + 36) == 67;
}

/* ---- what lwIP hands eth3, frame by frame ---- */

#define SPY_MAX 4096 /* frames one test may have lwIP send on eth3 */
#define SPY_FRAME 1514 /* eth3's MTU and the Ethernet header */

static struct spied {
	uint32_t len;
	uint8_t data[SPY_FRAME];
} spied[SPY_MAX];
static unsigned nspied;
static netif_linkoutput_fn spy_next;

/* Copies the frame as lwIP hands it over (before the glue writes a
 * checksum into it or coalesces it), then passes it on. */
static err_t spy_linkoutput(struct netif *n, struct pbuf *p)
{
	if (nspied == SPY_MAX)
		fail_msg("more than %d frames from lwIP on eth3 in one test", SPY_MAX);
	if (p->tot_len > SPY_FRAME)
		fail_msg("lwIP handed eth3 a %u-byte frame: its MTU is 1500", p->tot_len);
	struct spied *s = &spied[nspied++];
	s->len = pbuf_copy_partial(p, s->data, p->tot_len, 0);
	return spy_next(n, p);
}

static void spy_on(struct net_device *d)
{
	struct netif *n;
	NETIF_FOREACH(n)
	{
		if (((struct netif_glue *)n->state)->dev == d) {
			spy_next = n->linkoutput;
			n->linkoutput = spy_linkoutput;
			return;
		}
	}
	fail_msg("no interface for %s", d->name);
}

/* ---- set-up: one stack for the whole run ---- */

static int group_setup(void **state)
{
	(void)state;
	static const uint64_t features[NDEV] = {
		F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
			F(VIRTIO_NET_F_MTU) | F(VIRTIO_NET_F_CTRL_VQ) | F(VIRTIO_NET_F_CTRL_RX) |
			F(VIRTIO_NET_F_GUEST_ANNOUNCE) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC),
		F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_CSUM) |
			F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC),
		F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
			F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_RING_PACKED),
		F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | F(VIRTIO_NET_F_MRG_RXBUF) |
			F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) |
			F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC),
	};
	vsim_platform_reset(&pci, 0);
	vsim_plat.spin_ns = 100000; /* a look of a polling loop: 0.1 ms (lwIP's timers are in ms) */
	for (int d = 0; d < NDEV; d++) {
		uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, (uint8_t)(0x56 + d)};
		vsim_net_init(&sim[d], features[d], d != 1);
		vsim_net_set_mac(&sim[d], mac);
		vsim_net_set_mtu(&sim[d], 9000);
		sim[d].on_tx = peer_on_tx;
		vsim_net_bind(&sim[d], &vn[d].vdev, d == 0 ? &pci : NULL);
		vsim_net_attach_idle(&sim[d]);
		struct virtio_net_options opt = {.use_irq = 0, .allow_packed = 1};
		const char *why = NULL;
		if (virtio_net_start(&vn[d], &opt, &mem[d], &why) < 0)
			fail_msg("eth%d did not start: %s", d, why);
		dev[d] = &vn[d].net;
		assert_int_equal(net_register(dev[d]), 0);
	}
	assert_int_equal(netstack_init(), NDEV);
	assert_int_equal(netstack_set_static(dev[0], IP(10, 0, 0, 2), 24, IP(10, 0, 0, 1)), 0);
	assert_int_equal(netstack_set_static(dev[1], IP(10, 0, 1, 2), 24, 0), 0);
	assert_int_equal(netstack_set_static(dev[3], IP(10, 0, 3, 2), 24, 0), 0);
	spy_on(dev[3]);
	run_ms(10);
	drain();
	return 0;
}

/* ---- interfaces and addresses ---- */

static int has_opt(const struct vsim_net_frame *f, uint8_t code, const void *want, unsigned wlen)
{
	unsigned olen;
	const uint8_t *v = dhcp_opt(f->data + 42, f->len - 42, code, &olen);
	return v && olen == wlen && memcmp(v, want, wlen) == 0;
}

/* An ARP frame as lwIP builds it: op, sender, target. */
static void expect_arp_bytes(const struct vsim_net_frame *f, const uint8_t *eth_dst, const uint8_t *src_mac,
			     uint16_t op, uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	uint8_t want[42];
	eth(want, eth_dst, src_mac, ETH_ARP);
	put16(want + 14, 1);
	put16(want + 16, ETH_IP);
	want[18] = 6, want[19] = 4;
	put16(want + 20, op);
	memcpy(want + 22, src_mac, 6);
	put32(want + 28, spa);
	memcpy(want + 32, tha, 6);
	put32(want + 38, tpa);
	assert_int_equal(f->len, 42);
	assert_memory_equal(f->data, want, 42);
	assert_int_equal(f->hdr.flags, 0);
}

static const uint8_t zero_mac[6];

static void test_interfaces_and_static_addresses(void **state)
{
	(void)state;
	struct netstack_info i;
	for (int d = 0; d < NDEV; d++) {
		char name[8] = "eth0";
		name[3] = (char)('0' + d);
		assert_string_equal(dev[d]->name, name);
		assert_ptr_equal(net_find(name), dev[d]);
	}
	assert_int_equal(dev[0]->mtu, 9000);
	assert_int_equal(dev[1]->mtu, 1500);
	assert_int_equal(dev[1]->offloads, NET_OFF_TX_CSUM | NET_OFF_RX_CSUM);
	assert_int_equal(dev[3]->offloads, NET_OFF_TX_CSUM | NET_OFF_RX_CSUM | NET_OFF_TSO4);
	assert_int_equal(dev[3]->mtu, 1500);
	assert_true(vn[3].vdev.features & F(VIRTIO_NET_F_GUEST_TSO4));
	assert_int_equal(netstack_info(dev[0], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 0, 2));
	assert_int_equal(i.prefix, 24);
	assert_int_equal(i.gw, IP(10, 0, 0, 1));
	assert_false(i.dhcp);
	assert_false(i.dhcp_bound);
	assert_int_equal(netstack_info(dev[1], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 1, 2));
	assert_int_equal(i.gw, 0);
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_int_equal(i.ip, 0);
	/* Not an interface of the stack; a bad prefix. */
	static struct net_device stranger;
	assert_int_equal(netstack_info(&stranger, &i), -EINVAL);
	assert_int_equal(netstack_set_static(&stranger, IP(1, 2, 3, 4), 8, 0), -EINVAL);
	assert_int_equal(netstack_dhcp_start(&stranger), -EINVAL);
	assert_int_equal(netstack_set_static(dev[1], IP(10, 0, 1, 2), 33, 0), -EINVAL);
	assert_int_equal(netstack_info(dev[1], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 1, 2));
	assert_int_equal(i.prefix, 24);
	/* A new address is announced on the wire (gratuitous ARP), and kept. */
	drain();
	assert_int_equal(netstack_set_static(dev[1], IP(10, 0, 1, 3), 16, IP(10, 0, 1, 1)), 0);
	assert_int_equal(netstack_info(dev[1], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 1, 3));
	assert_int_equal(i.prefix, 16);
	assert_int_equal(i.gw, IP(10, 0, 1, 1));
	assert_true(expect(1, is_arp, NULL, 10));
	expect_arp_bytes(&got, bcast, dev[1]->mac, 1, IP(10, 0, 1, 3), zero_mac, IP(10, 0, 1, 3));
	assert_int_equal(netstack_set_static(dev[1], IP(10, 0, 1, 2), 24, 0), 0);
	/* Every device polls: the loop may not halt. */
	assert_int_equal(netstack_idle(), 0);
	run_ms(5);
	drain();
}

/* ---- ARP and ICMP ---- */

static void send_arp_request(int d, uint32_t target)
{
	struct peer *p = &peers[d];
	uint8_t f[42];
	eth(f, bcast, p->mac, ETH_ARP);
	put16(f + 14, 1);
	put16(f + 16, ETH_IP);
	f[18] = 6, f[19] = 4;
	put16(f + 20, 1);
	memcpy(f + 22, p->mac, 6);
	put32(f + 28, p->ip);
	memset(f + 32, 0, 6);
	put32(f + 38, target);
	assert_int_equal(vsim_net_rx(&sim[d], f, 42, NULL), 1);
}

static int is_arp_reply(const struct vsim_net_frame *f, const void *arg)
{
	return is_arp(f, arg) && get16(f->data + 20) == 2;
}

static void test_arp_request_gets_a_reply(void **state)
{
	(void)state;
	for (int d = 0; d < 2; d++) {
		drain();
		send_arp_request(d, peers[d].our_ip);
		assert_true(expect(d, is_arp_reply, NULL, 5));
		expect_arp_bytes(&got, peers[d].mac, dev[d]->mac, 2, peers[d].our_ip, peers[d].mac,
				 peers[d].ip);
		/* Someone else's address: no answer. */
		send_arp_request(d, peers[d].our_ip + 5);
		assert_false(expect(d, is_arp_reply, NULL, 20));
	}
}

static uint8_t req[VSIM_NET_FRAME_MAX], want[VSIM_NET_FRAME_MAX];

/* An echo request of n payload bytes from the peer of eth d. */
static uint32_t echo_request(int d, uint16_t id, uint16_t seq, unsigned n)
{
	struct peer *p = &peers[d];
	eth(req, dev[d]->mac, p->mac, ETH_IP);
	ipv4(req, PROTO_ICMP, p->ip, p->our_ip, 8 + n);
	uint8_t *icmp = req + 34;
	icmp[0] = 8, icmp[1] = 0;
	put16(icmp + 4, id);
	put16(icmp + 6, seq);
	for (unsigned i = 0; i < n; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + seq);
	set_l4_sum(req);
	return 34 + 8 + n;
}

/* What lwIP answers: the request with addresses swapped, TTL 255 and
 * type 0, both checksums made again. */
static void echo_reply_of(uint32_t len)
{
	memcpy(want, req, len);
	memcpy(want, req + 6, 6);
	memcpy(want + 6, req, 6);
	memcpy(want + 26, req + 30, 4);
	memcpy(want + 30, req + 26, 4);
	want[22] = 255;
	put16(want + 24, 0);
	put16(want + 24, inet_sum(want + 14, 20));
	want[34] = 0;
	set_l4_sum(want);
}

static void test_echo_request_gets_a_reply(void **state)
{
	(void)state;
	static const struct {
		int d;
		unsigned n;
	} cases[] = {{0, 56}, {0, 0}, {0, 1473}, {0, 8000}, {1, 56}, {1, 1472}};
	for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		int d = cases[c].d;
		drain();
		uint32_t len = echo_request(d, 0xBEEF, (uint16_t)c, cases[c].n);
		assert_int_equal(vsim_net_rx(&sim[d], req, len, NULL), 1);
		assert_true(expect(d, is_icmp, NULL, 20));
		echo_reply_of(len);
		assert_int_equal(got.len, len);
		if (memcmp(got.data, want, len) != 0)
			fail_msg("echo reply %u differs from what the request asks", c);
		check_l4(&got, 0);
	}
	/* A request with a bad checksum gets nothing. */
	uint32_t len = echo_request(0, 1, 1, 56);
	req[40] ^= 0x55;
	vsim_net_rx(&sim[0], req, len, NULL);
	assert_false(expect(0, is_icmp, NULL, 20));
}

/* A frame the device holds is not touched until it completes: lwIP's
 * memory for it is referenced until tx_done (the simulator compares the
 * bytes of every held chain when it completes). */
static void test_frames_stay_untouched_until_sent(void **state)
{
	(void)state;
	drain();
	sim[0].tx_mode = VSIM_TX_HOLD;
	unsigned n = 40;
	for (unsigned k = 0; k < n; k++) {
		uint32_t len = echo_request(0, 0x77, (uint16_t)k, 100 + 13 * k);
		assert_int_equal(vsim_net_rx(&sim[0], req, len, NULL), 1);
		netstack_poll();
	}
	assert_int_equal(sim[0].ntxhold, n);
	run_ms(300); /* timers run, memory is allocated and freed around the held frames */
	assert_int_equal(vsim_net_tx_release(&sim[0]), n);
	sim[0].tx_mode = VSIM_TX_AT_ONCE;
	netstack_poll();
	for (unsigned k = 0; k < n; k++) {
		assert_true(expect(0, is_icmp, NULL, 1));
		check_l4(&got, 0);
		assert_int_equal(get16(got.data + 34 + 6), k);
	}
	assert_int_equal(dev[0]->stats.tx_dropped, 0);
}

/* The device stops completing transmits: once its ring is full, each
 * further frame waits a bounded time, is dropped and counted (lwIP gets
 * ERR_MEM and lets the frame go), and nothing is freed twice or lost;
 * when the device catches up, everything it held goes out intact and the
 * stack works on. */
static void test_full_transmit_ring_drops_and_recovers(void **state)
{
	(void)state;
	drain();
	sim[0].tx_mode = VSIM_TX_HOLD;
	const unsigned ring = vn[0].txq.size, extra = 10;
	uint64_t dropped = dev[0]->stats.tx_dropped;
	for (unsigned k = 0; k < ring + extra; k++) {
		uint32_t len = echo_request(0, 0x99, (uint16_t)k, 64);
		assert_int_equal(vsim_net_rx(&sim[0], req, len, NULL), 1);
		netstack_poll();
	}
	assert_int_equal(sim[0].ntxhold, ring);
	assert_int_equal(dev[0]->stats.tx_dropped, dropped + extra);
	assert_int_equal(vsim_net_tx_release(&sim[0]), ring);
	sim[0].tx_mode = VSIM_TX_AT_ONCE;
	netstack_poll();
	for (unsigned k = 0; k < ring; k++) {
		assert_true(expect(0, is_icmp, NULL, 0));
		check_l4(&got, 0);
		assert_int_equal(get16(got.data + 34 + 6), k);
	}
	assert_false(expect(0, is_icmp, NULL, 0));
	uint64_t rtt;
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x55, 1, 56, 1000000000ull, &rtt), 0);
}

/* ---- TCP: the test is the peer ---- */

struct tcp_match {
	uint16_t port;
	int offload;
	uint8_t flags; /* all of these set */
	int with_data;
};

/* A TCP segment to the peer's port with these flags; every TCP segment
 * to that port passed over is checked all the same. */
static int is_segment(const struct vsim_net_frame *f, const void *arg)
{
	const struct tcp_match *m = arg;
	uint16_t port = m->port;
	if (!is_tcp_to(f, &port))
		return 0;
	check_l4((struct vsim_net_frame *)f, m->offload);
	const uint8_t *t = f->data + 34;
	unsigned data = f->len - 34 - (t[12] >> 4) * 4u;
	return (t[13] & m->flags) == m->flags && (!m->with_data || data > 0);
}

static struct tcp_pcb *conn;
static uint8_t received[4096];
static unsigned nreceived;
static int peer_closed, accepted;

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg, (void)err;
	if (!p) {
		peer_closed = 1;
		return ERR_OK;
	}
	assert_true(nreceived + p->tot_len <= sizeof(received));
	pbuf_copy_partial(p, received + nreceived, p->tot_len, 0);
	nreceived += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	assert_int_equal(err, ERR_OK);
	conn = pcb;
	accepted++;
	tcp_recv(pcb, on_recv);
	return ERR_OK;
}

static struct tcp_pcb *listen_on(uint16_t port)
{
	struct tcp_pcb *pcb = tcp_new();
	assert_non_null(pcb);
	assert_int_equal(tcp_bind(pcb, IP4_ADDR_ANY, port), ERR_OK);
	pcb = tcp_listen(pcb);
	assert_non_null(pcb);
	tcp_accept(pcb, on_accept);
	return pcb;
}

/* The peer sends a segment to eth d.  partial: the checksum field holds
 * only the pseudo-header sum (as a device leaves it for NEEDS_CSUM), and
 * flag says whether the device's header says so. */
static void peer_segment(int d, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			 const void *data, unsigned n, int partial, int flag)
{
	struct peer *p = &peers[d];
	static uint8_t f[4096];
	unsigned optlen = flags & TCP_SYN ? 4 : 0;
	unsigned tl = 20 + optlen + n;
	eth(f, dev[d]->mac, p->mac, ETH_IP);
	ipv4(f, PROTO_TCP, p->ip, p->our_ip, tl);
	uint8_t *t = f + 34;
	memset(t, 0, 20 + optlen);
	put16(t, sport);
	put16(t + 2, dport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)((20 + optlen) / 4 << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	if (optlen) /* MSS 1460 */
		t[20] = 2, t[21] = 4, put16(t + 22, 1460);
	if (n)
		memcpy(t + 20 + optlen, data, n);
	if (partial)
		put16(t + 16, fold(pseudo(f)));
	else
		set_l4_sum(f);
	struct vsim_net_rx_opts o = {0};
	if (flag)
		o = (struct vsim_net_rx_opts){
			.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
	assert_int_equal(vsim_net_rx(&sim[d], f, 34 + tl, &o), 1);
}

/* Ten 10-byte pieces 20 bytes apart (lwIP would extend one reference
 * over adjacent ones). */
static const uint8_t chunks[200] =
	"0123456789..........abcdefghij..........ABCDEFGHIJ..........klmnopqrst...."
	"......KLMNOPQRST..........uvwxyz+-*/..........UVWXYZ=<>!..........the ten ...."
	"......chunks, ok..........by referenc..........";

/* One connection, opened, carried both ways and closed by the peer.
 * offload: eth d's device finishes TCP checksums (lwIP leaves them to
 * it) and the peer's data comes with a partial checksum and NEEDS_CSUM. */
static void tcp_session(int d, int offload)
{
	const uint16_t lport = (uint16_t)(7000 + d), pport = (uint16_t)(40000 + d);
	struct tcp_match m = {pport, offload, 0, 0};
	static const char hello[] = "hello, tinyvio";
	static const char answer[] = "hello, peer: this is lwIP over virtio-net";
	const unsigned nh = sizeof(hello) - 1, na = sizeof(answer) - 1;

	struct tcp_pcb *listener = listen_on(lport);
	const uint64_t dropped = dev[d]->stats.tx_dropped;
	conn = NULL;
	nreceived = 0;
	peer_closed = accepted = 0;
	drain();

	/* SYN, SYN-ACK. */
	uint32_t pseq = 1000;
	peer_segment(d, pport, lport, pseq, 0, TCP_SYN, NULL, 0, 0, 0);
	m.flags = TCP_SYN | TCP_ACK;
	assert_true(expect(d, is_segment, &m, 20));
	const uint8_t *t = got.data + 34;
	assert_int_equal(get32(got.data + 26), peers[d].our_ip);
	assert_int_equal(get32(got.data + 30), peers[d].ip);
	assert_int_equal(get16(t), lport);
	assert_int_equal(get32(t + 8), pseq + 1);
	assert_int_equal(t[13] & (TCP_FIN | TCP_RST | TCP_PSH), 0);
	assert_true((t[12] >> 4) >= 6 && t[20] == 2 && t[21] == 4); /* an MSS option */
	assert_int_equal(get16(t + 22), 1460);
	uint32_t lseq = get32(t + 4) + 1;
	pseq++;

	/* The handshake's last ACK with data, whose checksum is partial: without
	 * NEEDS_CSUM it is a bad segment, dropped; with it (a device with
	 * GUEST_CSUM) it is taken. */
	peer_segment(d, pport, lport, pseq, lseq, TCP_ACK | TCP_PSH, hello, nh, 1, 0);
	run_ms(2);
	assert_int_equal(accepted, 0);
	assert_int_equal(nreceived, 0);
	peer_segment(d, pport, lport, pseq, lseq, TCP_ACK | TCP_PSH, hello, nh, offload, offload);
	run_ms(2);
	assert_int_equal(accepted, 1);
	assert_int_equal(nreceived, nh);
	assert_memory_equal(received, hello, nh);
	pseq += nh;
	if (dev[d]->mtu > 4000) { /* a segment over two receive buffers reaches TCP whole */
		static uint8_t big[3000];
		for (unsigned i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 13 + 5);
		peer_segment(d, pport, lport, pseq, lseq, TCP_ACK | TCP_PSH, big, sizeof(big), 0, 0);
		run_ms(2);
		assert_int_equal(nreceived, nh + sizeof(big));
		assert_memory_equal(received + nh, big, sizeof(big));
		pseq += sizeof(big);
	}

	/* lwIP answers (copied data): one segment, acknowledging ours. */
	assert_int_equal(tcp_write(conn, answer, (u16_t)na, TCP_WRITE_FLAG_COPY), ERR_OK);
	assert_int_equal(tcp_output(conn), ERR_OK);
	m.flags = TCP_ACK;
	m.with_data = 1;
	assert_true(expect(d, is_segment, &m, 5));
	t = got.data + 34;
	unsigned thl = (t[12] >> 4) * 4u;
	assert_int_equal(get32(t + 4), lseq);
	assert_int_equal(get32(t + 8), pseq);
	assert_int_equal(got.len - 34 - thl, na);
	assert_memory_equal(got.data + 34 + thl, answer, na);
	lseq += na;
	peer_segment(d, pport, lport, pseq, lseq, TCP_ACK, NULL, 0, 0, 0);
	run_ms(2);

	/* Ten writes by reference: one segment of eleven pbufs (headers and
	 * ten references), more than the device takes in one chain (the glue
	 * copies it once); the peer gets the hundred bytes in order. */
	uint8_t expected[100];
	for (unsigned k = 0; k < 10; k++) {
		assert_int_equal(tcp_write(conn, chunks + 20 * k, 10, 0), ERR_OK);
		memcpy(expected + 10 * k, chunks + 20 * k, 10);
	}
	assert_int_equal(tcp_output(conn), ERR_OK);
	unsigned have = 0;
	uint8_t stream[100];
	while (have < 100) {
		assert_true(expect(d, is_segment, &m, 5));
		assert_true(got.segs <= dev[d]->max_segs + 1u);
		t = got.data + 34;
		thl = (t[12] >> 4) * 4u;
		unsigned n = got.len - 34 - thl;
		assert_int_equal(get32(t + 4), lseq + have);
		assert_true(have + n <= 100);
		memcpy(stream + have, got.data + 34 + thl, n);
		have += n;
	}
	assert_memory_equal(stream, expected, 100);
	lseq += 100;
	peer_segment(d, pport, lport, pseq, lseq, TCP_ACK, NULL, 0, 0, 0);
	run_ms(2);

	/* The peer closes; lwIP acknowledges, the application closes, FIN. */
	peer_segment(d, pport, lport, pseq, lseq, TCP_FIN | TCP_ACK, NULL, 0, 0, 0);
	run_ms(2);
	assert_true(peer_closed);
	pseq++;
	assert_int_equal(tcp_close(conn), ERR_OK);
	m.flags = TCP_FIN | TCP_ACK;
	m.with_data = 0;
	assert_true(expect(d, is_segment, &m, 300));
	t = got.data + 34;
	assert_int_equal(get32(t + 4), lseq);
	assert_int_equal(get32(t + 8), pseq);
	peer_segment(d, pport, lport, pseq, lseq + 1, TCP_ACK, NULL, 0, 0, 0);
	run_ms(2);

	/* Nothing more for that connection: a segment now gets a reset. */
	peer_segment(d, pport, lport, pseq, lseq + 1, TCP_ACK | TCP_PSH, hello, nh, 0, 0);
	m.flags = TCP_RST;
	assert_true(expect(d, is_segment, &m, 5));
	assert_int_equal(tcp_close(listener), ERR_OK);
	/* A closed port resets a SYN. */
	peer_segment(d, (uint16_t)(pport + 1), lport, 5000, 0, TCP_SYN, NULL, 0, 0, 0);
	m.port = (uint16_t)(pport + 1);
	m.flags = TCP_RST | TCP_ACK;
	assert_true(expect(d, is_segment, &m, 5));
	assert_int_equal(get32(got.data + 34 + 8), 5001);
	assert_int_equal(dev[d]->stats.tx_dropped, dropped);
}

static void test_tcp_connection(void **state)
{
	(void)state;
	tcp_session(0, 0);
}

static void test_tcp_connection_with_checksum_offload(void **state)
{
	(void)state;
	tcp_session(1, 1);
}

/* ---- ping ---- */

static int is_echo_request(const struct vsim_net_frame *f, const void *arg)
{
	(void)arg;
	return is_ip(f, PROTO_ICMP) && f->data[34] == 8;
}

/* netstack_ping's request on the wire, and its answer, its silence, and
 * a link that went down. */
static void test_ping(void **state)
{
	(void)state;
	uint64_t rtt = 0;
	drain();
	unsigned pings = peers[0].pings;
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x1234, 7, 56, 1000000000ull, &rtt), 0);
	assert_int_equal(peers[0].pings, pings + 1);
	assert_true(rtt > 0 && rtt < 1000000000ull);
	assert_true(expect(0, is_echo_request, NULL, 0));
	check_l4(&got, 0);
	assert_int_equal(got.len, 34 + 8 + 56);
	assert_memory_equal(got.data, peers[0].mac, 6);
	assert_memory_equal(got.data + 6, dev[0]->mac, 6);
	assert_int_equal(get32(got.data + 26), IP(10, 0, 0, 2));
	assert_int_equal(get32(got.data + 30), IP(10, 0, 0, 1));
	assert_int_equal(got.data[35], 0);
	assert_int_equal(get16(got.data + 38), 0x1234);
	assert_int_equal(get16(got.data + 40), 7);
	for (unsigned i = 0; i < 56; i++)
		assert_int_equal(got.data[42 + i], (uint8_t)i);

	/* Over eth1, by its subnet. */
	drain();
	assert_int_equal(netstack_ping(IP(10, 0, 1, 1), 1, 1, 1000, 1000000000ull, &rtt), 0);
	assert_true(expect(1, is_echo_request, NULL, 0));
	check_l4(&got, 0);
	assert_int_equal(got.len, 34 + 8 + 1000);

	/* Nobody answers: -ETIMEDOUT when the time is up. */
	peers[0].answer_ping = 0;
	uint64_t t0 = vsim_plat.now_ns;
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x1234, 8, 56, 200000000ull, &rtt), -ETIMEDOUT);
	uint64_t took = vsim_plat.now_ns - t0;
	assert_true(took >= 200000000ull && took < 400000000ull);
	peers[0].answer_ping = 1;
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x1234, 9, 1473, 1000000000ull, &rtt), -EINVAL);

	/* The link goes down (a configuration change): no route; up: fine. */
	assert_int_equal(vsim_net_set_link(&sim[0], 0), 1);
	netstack_poll();
	assert_int_equal(dev[0]->link_up, 0);
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x1234, 10, 56, 100000000ull, &rtt), -ENETUNREACH);
	assert_int_equal(vsim_net_set_link(&sim[0], 1), 1);
	netstack_poll();
	assert_int_equal(dev[0]->link_up, 1);
	assert_int_equal(netstack_ping(IP(10, 0, 0, 1), 0x1234, 11, 56, 1000000000ull, &rtt), 0);
}

/* ---- receive memory running short ---- */

static struct pbuf *kept[2 * VIRTIO_NET_RX_BUFS + PBUF_POOL_SIZE];
static unsigned nkept;

static u8_t keep_frame(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	(void)arg, (void)pcb, (void)addr;
	assert_true(nkept < sizeof(kept) / sizeof(kept[0]));
	kept[nkept++] = p;
	return 1;
}

/* An application keeps every frame it gets (a raw pcb that never frees).
 * Frames come zero-copy while the driver has memory to spare; once it is
 * short (NET_RX_LOW) each frame is copied into lwIP's pool and its
 * buffers go back at once (the ring does not shrink), counted in
 * rx_copied; once the pool is empty too, frames are dropped, counted, and
 * their buffers still go back.  Freed, the kept frames' buffers return to
 * the ring. */
static void test_frames_are_copied_when_memory_runs_short(void **state)
{
	(void)state;
	struct raw_pcb *pcb = raw_new(PROTO_TEST);
	assert_non_null(pcb);
	raw_recv(pcb, keep_frame, NULL);
	const unsigned bufs = dev[0]->rx_bufs, target = vn[0].rx_target;
	assert_int_equal(vsim_net_rx_avail(&sim[0]), target);
	nkept = 0;
	int first_copy = -1;
	unsigned copied = 0, k;
	uint64_t dropped0 = dev[0]->stats.rx_dropped;
	uint8_t f[300];
	for (k = 0; k < bufs + 2 * PBUF_POOL_SIZE; k++) {
		eth(f, dev[0]->mac, peers[0].mac, ETH_IP);
		ipv4(f, PROTO_TEST, peers[0].ip, peers[0].our_ip, 200);
		for (unsigned i = 0; i < 200; i++)
			f[34 + i] = (uint8_t)(k + i);
		uint64_t rx_copied = dev[0]->stats.rx_copied, dropped = dev[0]->stats.rx_dropped;
		unsigned avail = vsim_net_rx_avail(&sim[0]), before = nkept;
		assert_int_equal(vsim_net_rx(&sim[0], f, 234, NULL), 1);
		netstack_poll();
		if (nkept == before) { /* the pool is empty: dropped, its buffer back */
			assert_true(first_copy >= 0);
			assert_int_equal(dev[0]->stats.rx_dropped, dropped + 1);
			assert_int_equal(dev[0]->stats.rx_copied, rx_copied);
			assert_int_equal(vsim_net_rx_avail(&sim[0]), avail);
			break;
		}
		assert_int_equal(nkept, before + 1);
		struct pbuf *p = kept[before];
		assert_int_equal(p->tot_len, 220);
		uint8_t back[220];
		assert_int_equal(pbuf_copy_partial(p, back, 220, 0), 220);
		assert_memory_equal(back, f + 14, 220);
		if (p->flags & PBUF_FLAG_IS_CUSTOM) { /* in the driver's buffer */
			assert_int_equal(first_copy, -1);
			assert_int_equal(dev[0]->stats.rx_copied, rx_copied);
		} else {
			if (first_copy < 0)
				first_copy = (int)k;
			copied++;
			assert_int_equal(dev[0]->stats.rx_copied, rx_copied + 1);
			assert_int_equal(vsim_net_rx_avail(&sim[0]), avail);
		}
	}
	/* Copying began once memory was short, not before, nor too late; the
	 * pool ran out after a good many copies. */
	assert_true(first_copy >= (int)(bufs - target) && first_copy < (int)bufs);
	assert_true(copied >= PBUF_POOL_SIZE / 2 && copied <= PBUF_POOL_SIZE);
	assert_int_equal(dev[0]->stats.rx_dropped, dropped0 + 1);
	for (unsigned i = 0; i < nkept; i++)
		pbuf_free(kept[i]);
	netstack_poll();
	assert_int_equal(vsim_net_rx_avail(&sim[0]), target);
	/* Memory back: frames come zero-copy again. */
	nkept = 0;
	assert_int_equal(vsim_net_rx(&sim[0], f, 234, NULL), 1);
	netstack_poll();
	assert_int_equal(nkept, 1);
	assert_true(kept[0]->flags & PBUF_FLAG_IS_CUSTOM);
	pbuf_free(kept[0]);
	raw_remove(pcb);
}

/* ---- DHCP ---- */

static int lease_bound(void *arg)
{
	struct netstack_info i;
	return netstack_info(arg, &i) == 0 && i.dhcp_bound;
}

static int is_dhcp_type(const struct vsim_net_frame *f, const void *arg)
{
	return is_dhcp(f, NULL) && has_opt(f, 53, arg, 1);
}

/* eth2 asks the test's server for a lease (in the background: the loop
 * carries it on): DISCOVER, REQUEST for the address offered, the ARP
 * probe of it, bound; a static address then releases the lease. */
static void test_dhcp_lease_then_static(void **state)
{
	(void)state;
	struct netstack_info i;
	drain();
	assert_int_equal(netstack_dhcp_start(dev[2]), 0);
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_true(i.dhcp);
	assert_false(i.dhcp_bound);
	assert_int_equal(i.ip, 0);
	assert_int_equal(netstack_wait(lease_bound, dev[2], 10000000000ull), 0);
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 2, 15));
	assert_int_equal(i.prefix, 24);
	assert_int_equal(i.gw, 0);
	assert_true(i.dhcp && i.dhcp_bound);
	assert_int_equal(peers[2].dhcp_offers, 1);
	assert_int_equal(peers[2].dhcp_acks, 1);

	/* What went out, in order. */
	static const uint8_t discover = 1, request = 3, release = 7;
	static const char host[] = "tinyvio";
	uint8_t ip15[4], ip2[4];
	put32(ip15, IP(10, 0, 2, 15));
	put32(ip2, IP(10, 0, 2, 2));
	assert_true(expect(2, is_dhcp_type, &discover, 0));
	check_l4(&got, 0);
	assert_memory_equal(got.data, bcast, 6);
	assert_memory_equal(got.data + 6, dev[2]->mac, 6);
	assert_int_equal(get32(got.data + 26), 0);
	assert_int_equal(get32(got.data + 30), 0xFFFFFFFF);
	assert_int_equal(get16(got.data + 34), 68);
	const uint8_t *msg = got.data + 42;
	assert_int_equal(msg[0], 1);
	assert_int_equal(msg[1], 1);
	assert_int_equal(msg[2], 6);
	assert_memory_equal(msg + BOOTP_CHADDR, dev[2]->mac, 6);
	assert_int_equal(get32(msg + BOOTP_COOKIE), 0x63825363);
	assert_true(expect(2, is_dhcp_type, &request, 0));
	check_l4(&got, 0);
	assert_true(has_opt(&got, 12, host, 7)); /* lwIP names us in its requests */
	assert_true(has_opt(&got, 50, ip15, 4));
	assert_true(has_opt(&got, 54, ip2, 4));
	/* The probe: nobody has 10.0.2.15. */
	assert_true(expect(2, is_arp, NULL, 0));
	assert_int_equal(get16(got.data + 20), 1);
	assert_int_equal(get32(got.data + 28), 0);
	assert_int_equal(get32(got.data + 38), IP(10, 0, 2, 15));

	/* The address is in use: eth2 answers an echo request to it. */
	drain();
	uint64_t rtt;
	assert_int_equal(netstack_ping(IP(10, 0, 2, 2), 5, 5, 20, 1000000000ull, &rtt), 0);

	/* A static address stops DHCP and gives the lease back. */
	drain();
	assert_int_equal(netstack_set_static(dev[2], IP(10, 0, 2, 99), 24, IP(10, 0, 2, 2)), 0);
	assert_true(expect(2, is_dhcp_type, &release, 20));
	check_l4(&got, 0);
	assert_int_equal(get32(got.data + 42 + BOOTP_CIADDR), IP(10, 0, 2, 15));
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 2, 99));
	assert_int_equal(i.gw, IP(10, 0, 2, 2));
	assert_false(i.dhcp);
	assert_false(i.dhcp_bound);

	/* And DHCP again: the static address is dropped at once, a lease follows. */
	assert_int_equal(netstack_dhcp_start(dev[2]), 0);
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_int_equal(i.ip, 0);
	assert_int_equal(netstack_wait(lease_bound, dev[2], 10000000000ull), 0);
	assert_int_equal(netstack_info(dev[2], &i), 0);
	assert_int_equal(i.ip, IP(10, 0, 2, 15));
}

/* ---- eth3: segmentation offload both ways ---- */

#define TSO_DEV 3
#define MSS 1460
#define PEER_WS 2 /* the peer's window scale: its 65535 means 256 KiB */

/* The wire of eth3 as the peer sees it, and its side of one connection. */
struct wire_entry {
	char kind; /* 'D' data of the connection, 'T' other TCP, 'I' ICMP, 'R' ARP reply, 'A' other ARP, '?'
		    */
	uint16_t icmp_seq;
	unsigned chain, gso_seg, gso_segs;
};

static struct wire_entry wire[SPY_MAX];
static unsigned nwired; /* wire frames matched with spied[] */
static int group_psh; /* PSH of lwIP's segments in the GSO frame being read */

static struct {
	uint16_t lport, pport; /* lwIP's port, the peer's */
	uint32_t pseq; /* the peer's next sequence number */
	int synack; /* seen: rcv_nxt and isn are set */
	uint32_t isn; /* the sequence number of lwIP's first data byte */
	uint32_t rcv_nxt; /* the next byte expected from lwIP */
	uint32_t high; /* the end of the highest data seen: below it, a retransmission */
	uint32_t ooo_start, ooo_end; /* data kept past a hole (one at most), if ooo_end */
	uint8_t *buf;
	uint32_t cap, have; /* lwIP's stream: buf[0, have) in order */
	int fin;
	int drop_next; /* lose the next data segment that is the 3rd of a frame cut in 8 or more */
	unsigned dropped, dupacks, rexmits;
	uint32_t lwip_ack; /* the highest acknowledgement lwIP sent */
	uint32_t acks[2048]; /* acknowledgements the peer owes, one per data segment */
	unsigned nacks;
} pv;

/* Sets up the peer for a new connection, and forgets the frames so far. */
static void peer_reset(uint16_t lport, uint16_t pport, uint32_t pseq, uint8_t *buf, uint32_t cap)
{
	netstack_poll();
	while (vsim_net_tx_take(&sim[TSO_DEV], &got))
		;
	nspied = nwired = 0;
	group_psh = 0;
	memset(&pv, 0, sizeof(pv));
	pv.lport = lport;
	pv.pport = pport;
	pv.pseq = pseq;
	pv.buf = buf;
	pv.cap = cap;
}

/* The peer sends a TCP segment of n bytes (options opt, olen bytes, a
 * multiple of 4).  mss nonzero: the host coalesced it (GUEST_TSO4): the
 * header says TCPV4 with that MSS and NEEDS_CSUM, and the checksum field
 * holds the pseudo-header sum, as Linux's GRO leaves it. */
static void peer_tcp(uint32_t seq, uint32_t ack, uint8_t flags, const uint8_t *opt, unsigned olen,
		     const uint8_t *data, uint32_t n, uint16_t mss)
{
	static uint8_t f[VSIM_NET_GSO_MAX];
	struct peer *p = &peers[TSO_DEV];
	unsigned thl = 20 + olen;
	if (34 + thl + n > VSIM_NET_GSO_MAX)
		fail_msg("test error: a %u-byte segment", 34 + thl + n);
	eth(f, dev[TSO_DEV]->mac, p->mac, ETH_IP);
	ipv4(f, PROTO_TCP, p->ip, p->our_ip, thl + n);
	uint8_t *t = f + 34;
	memset(t, 0, 20);
	put16(t, pv.pport);
	put16(t + 2, pv.lport);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = (uint8_t)(thl / 4 << 4);
	t[13] = flags;
	put16(t + 14, 65535);
	if (olen)
		memcpy(t + 20, opt, olen);
	if (n)
		memcpy(t + thl, data, n);
	struct vsim_net_rx_opts o = {0};
	if (mss) {
		put16(t + 16, fold(pseudo(f)));
		o = (struct vsim_net_rx_opts){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					      .csum_start = 34,
					      .csum_offset = 16,
					      .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					      .gso_size = mss,
					      .hdr_len = (uint16_t)(34 + thl)};
	} else {
		set_l4_sum(f);
	}
	vsim_net_rx(&sim[TSO_DEV], f, 34 + thl + n, &o);
}

static void peer_ack(uint32_t ack) { peer_tcp(pv.pseq, ack, TCP_ACK, NULL, 0, NULL, 0, 0); }

/* A TCP frame on the wire against the frame lwIP handed over: the same
 * bytes but for the checksum, which the device made right, and PSH, which
 * the device keeps on the last segment it cut (where it must be if any
 * of lwIP's segments in that frame had it). */
static void match_tcp(struct vsim_net_frame *f, const struct spied *s, struct wire_entry *w)
{
	uint8_t *t = f->data + 34;
	const uint8_t *st = s->data + 34;
	check_ipv4(f);
	if (f->hdr.gso_type == VIRTIO_NET_HDR_GSO_TCPV4) {
		assert_true(f->gso_segs >= 2);
	} else { /* the device finishes it as it goes: do that here */
		assert_int_equal(f->hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
		assert_int_equal(f->hdr.csum_start, 34);
		assert_int_equal(f->hdr.csum_offset, 16);
		assert_int_equal(get16(t + 16), fold(pseudo(f->data)));
		put16(t + 16, (uint16_t)~fold(sum16(t, f->len - 34, 0)));
	}
	if (fold(sum16(t, f->len - 34, pseudo(f->data))) != 0xFFFF)
		fail_msg("wire frame %u: TCP checksum wrong", nwired);
	for (uint32_t i = 0; i < f->len; i++)
		if (i != 34 + 13 && i != 34 + 16 && i != 34 + 17 && f->data[i] != s->data[i])
			fail_msg("wire frame %u (%s%u of %u): byte %u is %#x, lwIP sent %#x", nwired,
				 f->gso_segs ? "segment " : "", f->gso_seg, f->gso_segs, i, f->data[i],
				 s->data[i]);
	if ((t[13] & (uint8_t)~TCP_PSH) != (st[13] & (uint8_t)~TCP_PSH))
		fail_msg("wire frame %u: TCP flags %#x, lwIP sent %#x", nwired, t[13], st[13]);
	if (f->gso_segs) {
		group_psh |= st[13] & TCP_PSH;
		int last = f->gso_seg + 1 == f->gso_segs;
		assert_int_equal(t[13] & TCP_PSH, last ? group_psh : 0);
		if (last)
			group_psh = 0;
	} else {
		assert_int_equal(t[13] & TCP_PSH, st[13] & TCP_PSH);
	}
	if (get16(t) != pv.lport || get16(t + 2) != pv.pport) {
		w->kind = 'T';
		return;
	}
	/* The peer's side of the connection: everything in order. */
	uint32_t seq = get32(t + 4), n = f->len - 34 - (t[12] >> 4) * 4u;
	if ((t[13] & TCP_ACK) && (int32_t)(get32(t + 8) - pv.lwip_ack) > 0)
		pv.lwip_ack = get32(t + 8);
	if (t[13] & TCP_SYN) {
		pv.synack = 1;
		pv.rcv_nxt = pv.isn = pv.high = seq + 1;
		w->kind = 'T';
		return;
	}
	w->kind = n ? 'D' : 'T';
	if (!n && !(t[13] & TCP_FIN))
		return;
	if (!pv.synack)
		fail_msg("wire frame %u: data before the SYN-ACK", nwired);
	if (n && pv.drop_next && f->gso_segs >= 8 && f->gso_seg == 2) { /* lost on the way */
		pv.drop_next = 0;
		pv.dropped++;
		w->kind = 'L';
		return;
	}
	const uint8_t *data = t + (t[12] >> 4) * 4u;
	uint32_t end = seq + n, off = seq - pv.isn;
	if (off + n > pv.cap || (int32_t)(seq - pv.isn) < 0)
		fail_msg("wire frame %u: bytes %u to %u of a stream of %u", nwired, off, off + n, pv.cap);
	if ((int32_t)(end - pv.high) <= 0 && n)
		pv.rexmits++;
	else
		pv.high = end;
	if (seq == pv.rcv_nxt) { /* in order: taken, and what was kept past the hole with it */
		memcpy(pv.buf + off, data, n);
		pv.rcv_nxt = end;
		if (pv.ooo_end && (int32_t)(pv.rcv_nxt - pv.ooo_start) >= 0) {
			if ((int32_t)(pv.ooo_end - pv.rcv_nxt) > 0)
				pv.rcv_nxt = pv.ooo_end;
			pv.ooo_start = pv.ooo_end = 0;
		}
		if (t[13] & TCP_FIN) {
			if (pv.ooo_end)
				fail_msg("FIN with a hole before it");
			pv.fin = 1;
			pv.rcv_nxt++;
		}
	} else if ((int32_t)(seq - pv.rcv_nxt) > 0) { /* past a hole: kept, a duplicate ACK */
		if (!pv.ooo_end)
			pv.ooo_start = seq;
		else if (seq != pv.ooo_end)
			fail_msg("wire frame %u: sequence number %u after a hole, %u expected", nwired, seq,
				 pv.ooo_end);
		if (t[13] & TCP_FIN)
			fail_msg("FIN past a hole");
		pv.ooo_end = end;
		memcpy(pv.buf + off, data, n);
		pv.dupacks++;
	} else { /* what the peer has: the same bytes again */
		if ((int32_t)(end - pv.rcv_nxt) > 0)
			fail_msg("wire frame %u: a segment across rcv_nxt", nwired);
		if (memcmp(pv.buf + off, data, n) != 0)
			fail_msg("wire frame %u: a retransmission with other bytes", nwired);
	}
	pv.have = pv.rcv_nxt - pv.isn - (uint32_t)pv.fin;
	if (pv.nacks == sizeof(pv.acks) / sizeof(pv.acks[0]))
		fail_msg("the peer owes too many acknowledgements");
	pv.acks[pv.nacks++] = pv.rcv_nxt;
}

/* Takes everything on eth3's wire, each frame matched with the next one
 * lwIP handed over (nothing the wire shows was not sent, in that order).
 * Returns how many frames lwIP handed over that are not on the wire (yet). */
static unsigned take_wire(void)
{
	while (vsim_net_tx_take(&sim[TSO_DEV], &got)) {
		if (nwired == nspied)
			fail_msg("a frame on eth3's wire that lwIP never sent");
		const struct spied *s = &spied[nwired];
		struct wire_entry *w = &wire[nwired];
		if (got.len != s->len)
			fail_msg("wire frame %u: %u bytes, lwIP sent %u", nwired, got.len, s->len);
		memset(w, 0, sizeof(*w));
		w->chain = got.chain;
		w->gso_seg = got.gso_seg;
		w->gso_segs = got.gso_segs;
		w->kind = '?';
		if (is_ip(&got, PROTO_TCP)) {
			match_tcp(&got, s, w);
		} else {
			assert_int_equal(got.hdr.flags, 0);
			assert_int_equal(got.hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
			if (memcmp(got.data, s->data, got.len) != 0)
				fail_msg("wire frame %u differs from what lwIP sent", nwired);
			if (is_icmp(&got, NULL)) {
				check_l4(&got, 0);
				w->kind = 'I';
				w->icmp_seq = get16(got.data + 40);
			} else if (is_arp(&got, NULL)) {
				w->kind = get16(got.data + 20) == 2 ? 'R' : 'A';
			}
		}
		nwired++;
	}
	assert_int_equal(sim[TSO_DEV].tx_lost, 0);
	return nspied - nwired;
}

/* A frame the peer slips in among its acknowledgements, once it has at
 * least 8 to send (then it is cleared). */
static void (*interlude)(void);

/* One turn of the loop; then everything lwIP handed eth3 must be on the
 * wire (nothing waits past the turn).  The peer then sends what it owes,
 * one acknowledgement per data segment as a host does (an interlude in the
 * middle of them), and time passes. */
static void tso_round(void)
{
	netstack_poll();
	unsigned pending = take_wire();
	if (pending)
		fail_msg("%u frames lwIP sent are still held back after netstack_poll", pending);
	unsigned n = pv.nacks;
	void (*extra)(void) = n >= 8 ? interlude : NULL;
	pv.nacks = 0;
	for (unsigned i = 0; i < n; i++) {
		if (extra && i == n / 2) {
			extra();
			interlude = NULL;
		}
		peer_ack(pv.acks[i]);
	}
	vsim_plat.now_ns += 1000000;
}

/* lwIP's side: the connection accepted, and the application. */
static struct tcp_pcb *tconn;
static const uint8_t *src; /* what the application writes */
static uint32_t src_len, src_written;
static uint8_t *rcvd; /* what it received */
static uint32_t rcvd_cap, rcvd_len;

/* Writes what the send buffer takes: the first half copied, the rest by
 * reference (segments of two pbufs), in pieces of a few KiB, each ending
 * in PSH. */
static void pump(struct tcp_pcb *pcb)
{
	while (src_written < src_len) {
		uint32_t n = src_len - src_written;
		if (n > 5000 + src_written % 3000)
			n = 5000 + src_written % 3000;
		if (n > tcp_sndbuf(pcb))
			n = tcp_sndbuf(pcb);
		if (n == 0)
			return;
		u8_t flags = src_written < src_len / 2 ? TCP_WRITE_FLAG_COPY : 0;
		err_t err = tcp_write(pcb, src + src_written, (u16_t)n, flags);
		if (err == ERR_MEM)
			return;
		assert_int_equal(err, ERR_OK);
		src_written += n;
	}
}

static err_t tso_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)arg, (void)len;
	pump(pcb);
	return ERR_OK;
}

static err_t tso_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg, (void)err;
	if (!p)
		return ERR_OK;
	if (rcvd_len + p->tot_len > rcvd_cap)
		fail_msg("lwIP received more than the peer sent");
	pbuf_copy_partial(p, rcvd + rcvd_len, p->tot_len, 0);
	rcvd_len += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t tso_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	assert_int_equal(err, ERR_OK);
	tconn = pcb;
	tcp_recv(pcb, tso_recv);
	tcp_sent(pcb, tso_sent);
	return ERR_OK;
}

static struct tcp_pcb *tso_listener;

/* The peer connects to lwIP's port lport on eth3 from pport: SYN (MSS
 * 1460, window scale), SYN-ACK (after ARP), ACK. */
static void tso_connect(uint16_t lport, uint16_t pport, uint8_t *buf, uint32_t cap)
{
	static const uint8_t syn_opts[8] = {2, 4, MSS >> 8, MSS & 0xFF, 1, 3, 3, PEER_WS};
	tconn = NULL;
	tso_listener = tcp_new();
	assert_non_null(tso_listener);
	assert_int_equal(tcp_bind(tso_listener, IP4_ADDR_ANY, lport), ERR_OK);
	tso_listener = tcp_listen(tso_listener);
	assert_non_null(tso_listener);
	tcp_accept(tso_listener, tso_accept);
	peer_reset(lport, pport, 100000, buf, cap);
	peer_tcp(pv.pseq, 0, TCP_SYN, syn_opts, 8, NULL, 0, 0);
	pv.pseq++;
	for (unsigned i = 0; i < 10 && !pv.synack; i++)
		tso_round();
	assert_true(pv.synack);
	peer_ack(pv.rcv_nxt);
	tso_round();
	assert_non_null(tconn);
}

/* Whatever a test left open goes (a failed assertion leaves it open). */
static int tso_teardown(void **state)
{
	(void)state;
	if (tconn) {
		tcp_arg(tconn, NULL);
		tcp_recv(tconn, NULL);
		tcp_sent(tconn, NULL);
		tcp_abort(tconn);
		tconn = NULL;
	}
	if (tso_listener) {
		tcp_close(tso_listener);
		tso_listener = NULL;
	}
	interlude = NULL;
	sim[TSO_DEV].tx_mode = VSIM_TX_AT_ONCE;
	vsim_net_tx_release(&sim[TSO_DEV]);
	run_ms(5);
	drain();
	nspied = nwired = 0;
	return 0;
}

/* The application starts writing data (n bytes) on tconn, outside the
 * loop; the rest it writes as lwIP's send buffer empties. */
static void bulk_start(const uint8_t *data, uint32_t n)
{
	src = data;
	src_len = n;
	src_written = 0;
	pump(tconn);
	assert_int_equal(tcp_output(tconn), ERR_OK);
}

static void tcp_close_by_lwip(void)
{
	assert_int_equal(tcp_close(tconn), ERR_OK);
	tconn = NULL;
	for (unsigned i = 0; i < 10 && !pv.fin; i++)
		tso_round();
	assert_true(pv.fin);
	peer_tcp(pv.pseq, pv.rcv_nxt, TCP_FIN | TCP_ACK, NULL, 0, NULL, 0, 0);
	pv.pseq++;
	tso_round();
	assert_int_equal(pv.lwip_ack, pv.pseq);
	assert_int_equal(tcp_close(tso_listener), ERR_OK);
	tso_listener = NULL;
}

static uint8_t bulk_src[400 * 1024], bulk_dst[sizeof(bulk_src)];

static void fill_bulk(unsigned seed)
{
	uint32_t x = seed * 2654435761u + 7;
	for (size_t i = 0; i < sizeof(bulk_src); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		bulk_src[i] = (uint8_t)x;
	}
}

static void interlude_ping(void)
{
	uint32_t len = echo_request(TSO_DEV, 0x7150, 0x0EC0, 200);
	vsim_net_rx(&sim[TSO_DEV], req, len, NULL);
}

static void interlude_arp(void) { send_arp_request(TSO_DEV, peers[TSO_DEV].our_ip); }

/* The peer sends data of its own: lwIP's segments from then on carry
 * another acknowledgement number (and, 2000 bytes being more than an MSS,
 * the same window: the application takes them at once), so they do not
 * continue the frame being coalesced. */
static uint8_t peer_says[2000];

static void interlude_data(void)
{
	for (unsigned i = 0; i < sizeof(peer_says); i++)
		peer_says[i] = (uint8_t)(i * 31 + 3);
	peer_tcp(pv.pseq, pv.rcv_nxt, TCP_ACK | TCP_PSH, NULL, 0, peer_says, sizeof(peer_says), 0);
	pv.pseq += sizeof(peer_says);
}

/* Where on the wire the frame of `kind` is: it must have come between
 * two data segments of one turn, the one before it the last of a frame
 * the device cut (the frame lwIP was coalescing, sent first), the one
 * after it data from another chain. */
static void expect_between_bursts(char kind)
{
	unsigned i;
	for (i = 0; i < nwired && wire[i].kind != kind; i++)
		;
	if (i == nwired)
		fail_msg("no frame of kind %c on the wire", kind);
	assert_true(i > 0 && i + 1 < nwired);
	assert_int_equal(wire[i - 1].kind, 'D');
	assert_true(wire[i - 1].gso_segs >= 2);
	assert_int_equal(wire[i - 1].gso_seg, wire[i - 1].gso_segs - 1);
	assert_int_equal(wire[i + 1].kind, 'D');
	assert_true(wire[i + 1].chain != wire[i].chain && wire[i - 1].chain != wire[i].chain);
}

/* A bulk transfer from lwIP (400 KiB) over a card that cuts large
 * segments: the peer receives the stream byte for byte and in order,
 * every frame on the wire is the one lwIP sent (the device's segments
 * equal lwIP's: headers, IP ids, sequence numbers; checksums complete;
 * PSH on a cut frame's last segment exactly when lwIP had it on one of
 * them), nothing waits past a turn of the loop, far fewer chains go
 * through the ring than segments reach the wire, and an echo reply and
 * an ARP reply made in the middle of a burst go out between the segments
 * before and after them, as lwIP sent them. */
static void test_tcp_bulk_send_cut_by_the_device(void **state)
{
	(void)state;
	static uint8_t heard[sizeof(peer_says)];
	fill_bulk(1);
	tso_connect(8000, 41000, bulk_dst, sizeof(bulk_dst));
	rcvd = heard;
	rcvd_cap = sizeof(heard);
	rcvd_len = 0;
	const unsigned chains0 = sim[TSO_DEV].tx_chains, gso0 = sim[TSO_DEV].tx_gso;
	const uint64_t dropped = dev[TSO_DEV]->stats.tx_dropped;
	unsigned first = nwired;

	/* Written outside the loop: held back until the turn ends. */
	bulk_start(bulk_src, sizeof(bulk_src));
	assert_true(take_wire() > 0);
	void (*const interludes[])(void) = {interlude_ping, interlude_arp, interlude_data};
	unsigned next = 0;
	for (unsigned round = 0; round < 2000 && pv.have < sizeof(bulk_src); round++) {
		if (!interlude && next < 3)
			interlude = interludes[next++];
		tso_round();
	}
	assert_null(interlude);
	assert_int_equal(next, 3);
	assert_int_equal(pv.have, sizeof(bulk_src));
	assert_memory_equal(bulk_dst, bulk_src, sizeof(bulk_src));
	tso_round();
	assert_int_equal(pv.lwip_ack, pv.pseq);

	/* The data went through far fewer chains than segments. */
	unsigned segs = 0, chains = 0, cut = 0, last_chain = ~0u;
	for (unsigned i = first; i < nwired; i++)
		if (wire[i].kind == 'D') {
			segs++;
			cut += wire[i].gso_segs > 0;
			if (wire[i].chain != last_chain)
				chains++;
			last_chain = wire[i].chain;
		}
	print_message("    %u data segments on the wire from %u chains (%u cut by the device)\n", segs,
		      chains, cut);
	assert_true(segs >= sizeof(bulk_src) / MSS);
	assert_true(chains * 8 <= segs);
	assert_true(sim[TSO_DEV].tx_gso - gso0 >= 8);
	assert_true(sim[TSO_DEV].tx_chains - chains0 < segs / 4);
	expect_between_bursts('I');
	expect_between_bursts('R');
	/* The peer's words reached the application; lwIP acknowledged them. */
	assert_int_equal(rcvd_len, sizeof(peer_says));
	assert_memory_equal(heard, peer_says, rcvd_len);
	assert_int_equal(dev[TSO_DEV]->stats.tx_dropped, dropped);
	tcp_close_by_lwip();
}

/* The device holds every transmit (a slow host): once the 8 coalescing
 * buffers are all in flight, each further segment goes out alone, in its
 * own chain, checksum offloaded; nothing is lost or reordered; when the
 * device lets go, coalescing starts again. */
static void test_tcp_bulk_send_with_every_coalescing_buffer_in_flight(void **state)
{
	(void)state;
	fill_bulk(2);
	tso_connect(8001, 41001, bulk_dst, sizeof(bulk_dst));
	const uint64_t dropped = dev[TSO_DEV]->stats.tx_dropped;
	sim[TSO_DEV].tx_mode = VSIM_TX_HOLD;
	unsigned from = nwired;
	bulk_start(bulk_src, sizeof(bulk_src));
	unsigned gso_chains = 0, alone_after = 0, last_chain = ~0u;
	for (unsigned round = 0; round < 200 && alone_after < 40; round++) {
		tso_round();
		for (; from < nwired; from++) {
			const struct wire_entry *w = &wire[from];
			if (w->kind != 'D')
				continue;
			if (w->gso_segs && w->chain != last_chain)
				gso_chains++;
			last_chain = w->chain;
			if (gso_chains == 8 && !w->gso_segs)
				alone_after++;
			if (gso_chains > 8)
				fail_msg("a 9th coalesced frame while 8 are in flight");
		}
	}
	assert_int_equal(gso_chains, 8);
	assert_true(alone_after >= 40);
	assert_true(sim[TSO_DEV].ntxhold >= 8 + alone_after); /* each alone in its chain, all held */
	/* The device catches up: coalescing again. */
	assert_true(vsim_net_tx_release(&sim[TSO_DEV]) > 0);
	sim[TSO_DEV].tx_mode = VSIM_TX_AT_ONCE;
	unsigned resumed = 0;
	for (unsigned round = 0; round < 2000 && pv.have < sizeof(bulk_src); round++) {
		tso_round();
		for (; from < nwired; from++)
			if (wire[from].kind == 'D' && wire[from].gso_segs)
				resumed++;
	}
	assert_int_equal(pv.have, sizeof(bulk_src));
	assert_memory_equal(bulk_dst, bulk_src, sizeof(bulk_src));
	assert_true(resumed > 0);
	assert_int_equal(dev[TSO_DEV]->stats.tx_dropped, dropped);
	tcp_close_by_lwip();
	netstack_poll();
	assert_int_equal(vn[TSO_DEV].txq.num_free, vn[TSO_DEV].txq.size); /* nothing in flight */
}

/* A short write then a long one in one turn (a response's head, then its
 * body): the short segment goes out alone (the device would cut the
 * others at its size), the full ones after it coalesced; the peer gets it
 * all, in order. */
static void test_tcp_short_segment_then_full_ones(void **state)
{
	(void)state;
	static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n";
	const uint32_t nh = sizeof(head) - 1, nb = 20000;
	fill_bulk(3);
	memcpy(bulk_src, head, nh);
	tso_connect(8004, 41004, bulk_dst, sizeof(bulk_dst));
	unsigned first = nwired;
	assert_int_equal(tcp_write(tconn, bulk_src, (u16_t)nh, TCP_WRITE_FLAG_COPY), ERR_OK);
	assert_int_equal(tcp_output(tconn), ERR_OK);
	assert_int_equal(tcp_write(tconn, bulk_src + nh, (u16_t)nb, TCP_WRITE_FLAG_COPY), ERR_OK);
	assert_int_equal(tcp_output(tconn), ERR_OK);
	tso_round();
	/* The head alone; then at least two full segments from one chain. */
	assert_true(nwired >= first + 3);
	assert_int_equal(wire[first].kind, 'D');
	assert_int_equal(wire[first].gso_segs, 0);
	assert_int_equal(spied[first].len, 54 + nh);
	assert_int_equal(wire[first + 1].kind, 'D');
	assert_int_equal(wire[first + 1].gso_seg, 0);
	assert_true(wire[first + 1].gso_segs >= 2);
	assert_int_equal(spied[first + 1].len, 54 + MSS);
	for (unsigned round = 0; round < 500 && pv.have < nh + nb; round++)
		tso_round();
	assert_int_equal(pv.have, nh + nb);
	assert_memory_equal(bulk_dst, bulk_src, nh + nb);
	tcp_close_by_lwip();
}

/* A segment the device cut is lost on the way: the peer keeps what comes
 * after the hole and answers each with a duplicate acknowledgement; lwIP
 * sends the lost one again (alone or in a frame of its own, never glued
 * to newer segments: every frame on the wire is the one lwIP sent), the
 * hole fills, coalescing goes on, and the peer has the stream byte for
 * byte.  Twice. */
static void test_tcp_bulk_send_recovers_a_lost_segment(void **state)
{
	(void)state;
	fill_bulk(4);
	tso_connect(8005, 41005, bulk_dst, sizeof(bulk_dst));
	const uint64_t dropped = dev[TSO_DEV]->stats.tx_dropped;
	bulk_start(bulk_src, sizeof(bulk_src));
	unsigned gso_after = 0, losses = 0;
	for (unsigned round = 0; round < 5000 && pv.have < sizeof(bulk_src); round++) {
		if (round >= 4 && !pv.drop_next && losses < 2 && !pv.ooo_end &&
		    pv.have < sizeof(bulk_src) / 2) {
			pv.drop_next = 1;
			losses++;
		}
		unsigned from = nwired;
		tso_round();
		if (losses == 2 && !pv.drop_next && !pv.ooo_end)
			for (unsigned i = from; i < nwired; i++)
				gso_after += wire[i].kind == 'D' && wire[i].gso_segs > 0;
	}
	assert_int_equal(pv.dropped, 2);
	assert_true(pv.dupacks >= 6);
	assert_true(pv.rexmits >= 2);
	assert_int_equal(pv.have, sizeof(bulk_src));
	assert_memory_equal(bulk_dst, bulk_src, sizeof(bulk_src));
	assert_true(gso_after > 0);
	assert_int_equal(dev[TSO_DEV]->stats.tx_dropped, dropped);
	print_message("    %u duplicate ACKs, %u segments sent again, %u wire frames\n", pv.dupacks,
		      pv.rexmits, nwired);
	tcp_close_by_lwip();
}

/* The device holds every transmit and its ring fills up (with echo
 * replies): each coalesced frame the loop then flushes is refused
 * (-ENOBUFS after a bounded wait), more of them than there are
 * coalescing buffers, and dropped (TCP would send it again).  Each
 * refused frame's buffer is free again: once the device lets go,
 * coalescing starts again.  (The peer acknowledges what lwIP sent, as
 * if it had arrived: that keeps lwIP sending.) */
static void test_tcp_frames_refused_by_a_full_ring_free_their_buffers(void **state)
{
	(void)state;
	fill_bulk(5);
	tso_connect(8006, 41006, bulk_dst, sizeof(bulk_dst));
	sim[TSO_DEV].tx_mode = VSIM_TX_HOLD;
	const unsigned ring = vn[TSO_DEV].txq.size;
	for (unsigned k = 0; k < 2 * ring && sim[TSO_DEV].ntxhold < ring; k++) {
		uint32_t len = echo_request(TSO_DEV, 0x7151, (uint16_t)k, 20);
		vsim_net_rx(&sim[TSO_DEV], req, len, NULL);
		tso_round();
	}
	assert_int_equal(sim[TSO_DEV].ntxhold, ring);
	const uint64_t dropped = dev[TSO_DEV]->stats.tx_dropped;
	bulk_start(bulk_src, sizeof(bulk_src));
	unsigned seen_from = nspied;
	uint32_t acked = pv.rcv_nxt;
	for (unsigned round = 0; round < 40; round++) {
		netstack_poll();
		for (; seen_from < nspied; seen_from++) { /* what lwIP sent, taken as delivered */
			const uint8_t *f = spied[seen_from].data;
			if (get16(f + 12) != ETH_IP || f[23] != PROTO_TCP || get16(f + 36) != pv.pport)
				continue;
			uint32_t end = get32(f + 38) + spied[seen_from].len - 34 - (f[46] >> 4) * 4u;
			if ((int32_t)(end - acked) > 0)
				acked = end;
		}
		peer_ack(acked);
		vsim_plat.now_ns += 1000000;
	}
	assert_int_equal(sim[TSO_DEV].ntxhold, ring);
	assert_true(dev[TSO_DEV]->stats.tx_dropped - dropped > 8);
	/* The device catches up; the application writes again. */
	assert_int_equal(vsim_net_tx_release(&sim[TSO_DEV]), ring);
	sim[TSO_DEV].tx_mode = VSIM_TX_AT_ONCE;
	while (vsim_net_tx_take(&sim[TSO_DEV], &got))
		;
	bulk_start(bulk_src, sizeof(bulk_src));
	unsigned cut = 0;
	for (unsigned round = 0; round < 40 && !cut; round++) {
		netstack_poll();
		for (; seen_from < nspied; seen_from++) {
			const uint8_t *f = spied[seen_from].data;
			if (get16(f + 12) != ETH_IP || f[23] != PROTO_TCP || get16(f + 36) != pv.pport)
				continue;
			uint32_t end = get32(f + 38) + spied[seen_from].len - 34 - (f[46] >> 4) * 4u;
			if ((int32_t)(end - acked) > 0)
				acked = end;
		}
		while (vsim_net_tx_take(&sim[TSO_DEV], &got))
			cut += got.gso_segs > 0;
		peer_ack(acked);
		vsim_plat.now_ns += 1000000;
	}
	if (!cut)
		fail_msg("no coalesced frame once the ring had room: the coalescing buffers were lost");
}

static uint8_t peer_data[4 * 65536];

/* The peer's segments arrive coalesced (GUEST_TSO4): one of 44 x 1460
 * bytes, then three of 40000 back to back (more than lwIP's window
 * would hold unscaled): lwIP takes each whole and without a copy (the
 * driver's buffers, as custom pbufs), the application gets the bytes in
 * order, and lwIP acknowledges all of it. */
static void test_tcp_large_segments_from_the_peer(void **state)
{
	(void)state;
	static uint8_t sink[8];
	tso_connect(8002, 41002, sink, sizeof(sink));
	for (size_t i = 0; i < sizeof(peer_data); i++)
		peer_data[i] = (uint8_t)(i * 7 + i / 251);
	rcvd = bulk_dst;
	rcvd_cap = sizeof(bulk_dst);
	rcvd_len = 0;
	const uint32_t start = pv.pseq;
	const uint64_t rx_dropped = dev[TSO_DEV]->stats.rx_dropped, copied = dev[TSO_DEV]->stats.rx_copied;
	peer_tcp(pv.pseq, pv.rcv_nxt, TCP_ACK | TCP_PSH, NULL, 0, peer_data, 44 * MSS, MSS);
	pv.pseq += 44 * MSS;
	for (unsigned i = 0; i < 300 && pv.lwip_ack != pv.pseq; i++)
		tso_round();
	assert_int_equal(rcvd_len, 44 * MSS);
	assert_memory_equal(rcvd, peer_data, 44 * MSS);
	assert_int_equal(pv.lwip_ack, pv.pseq);
	for (unsigned k = 0; k < 3; k++) {
		peer_tcp(pv.pseq, pv.rcv_nxt, TCP_ACK | (k == 2 ? TCP_PSH : 0), NULL, 0,
			 peer_data + (pv.pseq - start), 40000, MSS);
		pv.pseq += 40000;
	}
	for (unsigned i = 0; i < 300 && pv.lwip_ack != pv.pseq; i++)
		tso_round();
	assert_int_equal(rcvd_len, pv.pseq - start);
	assert_memory_equal(rcvd, peer_data, rcvd_len);
	assert_int_equal(pv.lwip_ack, pv.pseq);
	assert_int_equal(dev[TSO_DEV]->stats.rx_dropped, rx_dropped);
	assert_int_equal(dev[TSO_DEV]->stats.rx_copied, copied); /* handed to lwIP where they lie */
	tcp_close_by_lwip();
}

/* The largest segment a host coalesces: an IP packet of 65535 bytes, the
 * frame 14 more.  GUEST_TSO4 lets the device send it (spec 5.1.6.3:
 * 65589 bytes with IPv6); lwIP must take it like any other. */
static void test_tcp_largest_segment_from_the_peer(void **state)
{
	(void)state;
	static uint8_t sink[8];
	tso_connect(8003, 41003, sink, sizeof(sink));
	for (size_t i = 0; i < sizeof(peer_data); i++)
		peer_data[i] = (uint8_t)(i * 13 + i / 257);
	rcvd = bulk_dst;
	rcvd_cap = sizeof(bulk_dst);
	rcvd_len = 0;
	const uint32_t n = 65535 - 40;
	const uint64_t rx_dropped = dev[TSO_DEV]->stats.rx_dropped,
		       errors = dev[TSO_DEV]->stats.device_errors;
	const uint64_t rx_frames = dev[TSO_DEV]->stats.rx_frames;
	peer_tcp(pv.pseq, pv.rcv_nxt, TCP_ACK | TCP_PSH, NULL, 0, peer_data, n, MSS);
	pv.pseq += n;
	for (unsigned i = 0; i < 300 && pv.lwip_ack != pv.pseq; i++)
		tso_round();
	/* The driver takes it and hands it on whole... */
	assert_int_equal(dev[TSO_DEV]->stats.device_errors, errors);
	assert_int_equal(dev[TSO_DEV]->stats.rx_frames, rx_frames + 1);
	/* ...and it must reach TCP, not be dropped on the way (lib/net/netif.c). */
	if (dev[TSO_DEV]->stats.rx_dropped != rx_dropped)
		fail_msg("the %u-byte frame (IP packet of 65535 bytes) was dropped between the driver and "
			 "lwIP",
			 34 + 20 + n);
	assert_int_equal(rcvd_len, n);
	assert_memory_equal(rcvd, peer_data, n);
	assert_int_equal(pv.lwip_ack, pv.pseq);
	tcp_close_by_lwip();
}

/* ---- announce ---- */

/* The device asks for an announcement (after a migration): a gratuitous
 * ARP for our address goes out, then the acknowledgement. */
static void test_announce_sends_a_gratuitous_arp_then_acks(void **state)
{
	(void)state;
	drain();
	unsigned cmds = sim[0].ncmds;
	assert_int_equal(vsim_net_announce(&sim[0]), 1);
	netstack_poll();
	assert_true(expect(0, is_arp, NULL, 0));
	expect_arp_bytes(&got, bcast, dev[0]->mac, 1, IP(10, 0, 0, 2), zero_mac, IP(10, 0, 0, 2));
	assert_int_equal(sim[0].ncmds, cmds + 1);
	assert_int_equal(sim[0].cmds[cmds].class, VIRTIO_NET_CTRL_ANNOUNCE);
	assert_int_equal(sim[0].cmds[cmds].ack, VIRTIO_NET_OK);
	assert_true(got.seq < sim[0].cmds[cmds].seq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interfaces_and_static_addresses),
		cmocka_unit_test(test_arp_request_gets_a_reply),
		cmocka_unit_test(test_echo_request_gets_a_reply),
		cmocka_unit_test(test_frames_stay_untouched_until_sent),
		cmocka_unit_test(test_full_transmit_ring_drops_and_recovers),
		cmocka_unit_test(test_tcp_connection),
		cmocka_unit_test(test_tcp_connection_with_checksum_offload),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_frames_are_copied_when_memory_runs_short),
		cmocka_unit_test(test_dhcp_lease_then_static),
		cmocka_unit_test_teardown(test_tcp_bulk_send_cut_by_the_device, tso_teardown),
		cmocka_unit_test_teardown(test_tcp_bulk_send_with_every_coalescing_buffer_in_flight,
					  tso_teardown),
		cmocka_unit_test_teardown(test_tcp_short_segment_then_full_ones, tso_teardown),
		cmocka_unit_test_teardown(test_tcp_bulk_send_recovers_a_lost_segment, tso_teardown),
		cmocka_unit_test_teardown(test_tcp_frames_refused_by_a_full_ring_free_their_buffers,
					  tso_teardown),
		cmocka_unit_test_teardown(test_tcp_large_segments_from_the_peer, tso_teardown),
		cmocka_unit_test_teardown(test_tcp_largest_segment_from_the_peer, tso_teardown),
		/* Last: it finds a driver bug that UBSan stops the process for. */
		cmocka_unit_test(test_announce_sends_a_gratuitous_arp_then_acks),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
