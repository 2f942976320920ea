/* A TCP listener for a service (lib/net): shared by httpd.c and iperfd.c. */
#ifndef LIB_NET_LISTEN_H
#define LIB_NET_LISTEN_H

#include <stdint.h>

#include "lwip/tcp.h"

/* Listens on port (any address) with room for backlog connections waiting
 * to be accepted; accept runs for each.  Returns 0 with *out set, -EBUSY
 * (*out is already a listener: the service runs), -EADDRINUSE, -ENOMEM. */
int listen_start(struct tcp_pcb **out, uint16_t port, uint8_t backlog, tcp_accept_fn accept);

/* Stops *pcb listening (connections already accepted are the caller's);
 * returns 0, or -ENOENT if it was not. */
int listen_stop(struct tcp_pcb **pcb);

#endif
