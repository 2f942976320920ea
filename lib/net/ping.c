/*
 * ICMP echo (ping) over lwIP's raw API: one request, then the loop is
 * served until its reply comes.  lwIP itself answers echo requests to us;
 * this is the other side.
 */
#include <errno.h>
#include <string.h>

#include "drivers/platform.h"
#include "lib/net/netstack.h"
#include "lwip/inet_chksum.h"
#include "lwip/ip.h"
#include "lwip/prot/icmp.h"
#include "lwip/prot/ip4.h"
#include "lwip/raw.h"

#define PING_MAX_SIZE 1472 /* payload that fits one standard frame */

struct echo {
	ip_addr_t dst;
	uint16_t id, seq;
	int answered;
	uint64_t at_ns; /* when the reply was taken */
};

/* Every ICMP packet for us passes here first; ours (an echo reply from
 * dst with our id and sequence number) is eaten, the rest goes on to lwIP. */
static u8_t echo_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	struct echo *e = arg;
	struct icmp_echo_hdr h;
	(void)pcb;

	if (!ip_addr_cmp(addr, &e->dst) || p->len < IP_HLEN)
		return 0;
	u16_t hlen = (u16_t)(IPH_HL_BYTES((const struct ip_hdr *)p->payload));
	if (pbuf_copy_partial(p, &h, sizeof(h), hlen) != sizeof(h) || h.type != ICMP_ER ||
	    lwip_ntohs(h.id) != e->id || lwip_ntohs(h.seqno) != e->seq)
		return 0;
	e->answered = 1;
	e->at_ns = plat_time_ns();
	pbuf_free(p);
	return 1;
}

static int answered(void *arg) { return ((struct echo *)arg)->answered; }

int netstack_ping(uint32_t dst, uint16_t id, uint16_t seq, uint32_t size, uint64_t timeout_ns,
		  uint64_t *rtt_ns)
{
	struct echo e = {.id = id, .seq = seq};
	struct raw_pcb *pcb;
	struct pbuf *p;

	if (size > PING_MAX_SIZE)
		return -EINVAL;
	ip_addr_set_ip4_u32(&e.dst, lwip_htonl(dst));
	pcb = raw_new(IP_PROTO_ICMP);
	p = pbuf_alloc(PBUF_IP, (u16_t)(sizeof(struct icmp_echo_hdr) + size), PBUF_RAM);
	if (!pcb || !p) {
		if (pcb)
			raw_remove(pcb);
		if (p)
			pbuf_free(p);
		return -ENOBUFS;
	}
	raw_recv(pcb, echo_recv, &e);
	struct icmp_echo_hdr *h = p->payload;
	h->type = ICMP_ECHO;
	h->code = 0;
	h->chksum = 0;
	h->id = lwip_htons(id);
	h->seqno = lwip_htons(seq);
	for (uint32_t i = 0; i < size; i++)
		((uint8_t *)(h + 1))[i] = (uint8_t)i;
	h->chksum = inet_chksum(h, p->len);
	uint64_t start = plat_time_ns();
	err_t err = raw_sendto(pcb, p, &e.dst);
	pbuf_free(p);
	int rc = err == ERR_RTE	 ? -ENETUNREACH
		 : err != ERR_OK ? -ENOBUFS
				 : netstack_wait(answered, &e, timeout_ns);
	raw_remove(pcb);
	if (rc == 0)
		*rtt_ns = e.at_ns - start;
	return rc;
}
