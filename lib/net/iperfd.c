/*
 * An iperf 2 TCP server: a client (`iperf -c`) connects and sends for as
 * long as it measures; we take the bytes and drop them, as fast as the
 * stack goes, and the client reports the rate.  Our own rather than
 * lwIP's lwiperf: in 2.1.3 a client that resets its connection makes
 * lwiperf close a pcb lwIP has already freed (bug #59841), which a peer can
 * do at will (README, "Network services").  Only the plain test: the
 * dual and trade-off tests (-d, -r), where the server connects back, are
 * not offered.
 */
#include <errno.h>

#include "lib/net/listen.h"
#include "lib/net/services.h"
#include "lwip/tcp.h"

#define IPERF_CONNS 8
#define IPERF_IDLE_S 10 /* a silent client is dropped after this long */
#define POLL_TICKS 2 /* once a second */

struct sink {
	struct tcp_pcb *pcb; /* NULL: free */
	unsigned idle;
};

static struct sink sinks[IPERF_CONNS];
static struct tcp_pcb *listener;

static void sink_free(struct sink *s)
{
	tcp_arg(s->pcb, NULL);
	tcp_recv(s->pcb, NULL);
	tcp_err(s->pcb, NULL);
	tcp_poll(s->pcb, NULL, 0);
	s->pcb = NULL;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sink *s = arg;

	if (!p || err != ERR_OK) { /* the client is done */
		if (p)
			pbuf_free(p);
		sink_free(s);
		if (tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			return ERR_ABRT;
		}
		return ERR_OK;
	}
	s->idle = 0;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct sink *s = arg;

	if (++s->idle < IPERF_IDLE_S)
		return ERR_OK;
	sink_free(s);
	tcp_abort(pcb);
	return ERR_ABRT;
}

static void on_err(void *arg, err_t err)
{
	struct sink *s = arg;
	(void)err;

	s->pcb = NULL; /* lwIP has freed it */
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	for (int i = 0; i < IPERF_CONNS; i++) {
		struct sink *s = &sinks[i];
		if (s->pcb)
			continue;
		s->pcb = pcb;
		s->idle = 0;
		tcp_arg(pcb, s);
		tcp_recv(pcb, on_recv);
		tcp_err(pcb, on_err);
		tcp_poll(pcb, on_poll, POLL_TICKS);
		return ERR_OK;
	}
	tcp_abort(pcb); /* IPERF_CONNS already */
	return ERR_ABRT;
}

int iperfd_start(uint16_t port) { return listen_start(&listener, port, IPERF_CONNS, on_accept); }

int iperfd_stop(void)
{
	int err = listen_stop(&listener);

	if (err < 0)
		return err;
	for (int i = 0; i < IPERF_CONNS; i++)
		if (sinks[i].pcb) {
			struct tcp_pcb *pcb = sinks[i].pcb;
			sink_free(&sinks[i]);
			tcp_abort(pcb);
		}
	return 0;
}
