#include "lib/net/listen.h"

#include <errno.h>

int listen_start(struct tcp_pcb **out, uint16_t port, uint8_t backlog, tcp_accept_fn accept)
{
	if (*out)
		return -EBUSY;
	struct tcp_pcb *pcb = tcp_new();
	if (!pcb)
		return -ENOMEM;
	/* Connections closed by us wait in TIME_WAIT on this port: a service
	 * stopped and started again binds beside them (they inherit it). */
	ip_set_option(pcb, SOF_REUSEADDR);
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_close(pcb);
		return -EADDRINUSE;
	}
	struct tcp_pcb *l = tcp_listen_with_backlog(pcb, backlog);
	if (!l) {
		tcp_close(pcb);
		return -ENOMEM;
	}
	tcp_accept(l, accept);
	*out = l;
	return 0;
}

int listen_stop(struct tcp_pcb **pcb)
{
	if (!*pcb)
		return -ENOENT;
	tcp_close(*pcb);
	*pcb = NULL;
	return 0;
}
