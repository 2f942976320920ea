/*
 * The HTTP client behind `http get`: one GET over lwIP's raw TCP API, the
 * body streamed to a file.  Our own: lwIP's http_client (2.1.3) gives up
 * on any download that takes longer than 15 s, however fast it goes (bug
 * #60787, fixed after 2.1.3), which a file of a few hundred MiB always
 * does (README, "Network services").
 *
 * The body goes into a temporary file beside the target (netfs.h), written
 * HTTPC_CHUNK bytes at a time: received data is held, unacknowledged, until
 * a chunk's worth is there, so the TCP window follows the disk.  The target
 * appears only once the whole body is on the disk.  The caller's wait
 * serves the network; every stage is bounded by HTTPC_STALL_NS without
 * progress.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "drivers/platform.h"
#include "lib/net/addr.h"
#include "lib/net/netfs.h"
#include "lib/net/netstack.h"
#include "lib/net/services.h"
#include "lwip/tcp.h"

#define HTTPC_CHUNK (60 * 1024) /* pbufs count in 16 bits */
#define HTTPC_STALL_NS 10000000000ull /* no progress for this long: given up */
#define HEAD_MAX 8192
#define WAIT_STEP_NS 1000000000ull

struct get {
	struct tcp_pcb *pcb;
	int err; /* 0 while it runs; the outcome once done */
	int done;
	uint64_t progress_ns; /* when something last happened */
	char target[HTTP_PATH_MAX]; /* the request's path, and its Host field */
	char host[IP4_TEXT_MAX + 6];
	char head[HEAD_MAX]; /* the reply's status line and header fields */
	size_t head_len;
	int in_body;
	int status;
	int has_length;
	uint64_t length, received;
	struct pbuf *held;
	uint32_t held_len;
	struct netfs_upload up;
};

static uint8_t chunk[HTTPC_CHUNK];

/* Ends the transfer with err; returns 1 if it aborted the pcb (lwIP must
 * then hear ERR_ABRT from the callback that called it). */
static int finish(struct get *g, int err)
{
	if (g->done)
		return 0;
	g->done = 1;
	g->err = err;
	if (g->held)
		pbuf_free(g->held);
	g->held = NULL;
	if (g->pcb) {
		struct tcp_pcb *pcb = g->pcb;
		g->pcb = NULL;
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_err(pcb, NULL);
		if (err || tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			return 1;
		}
	}
	return 0;
}

/* Writes what is held to the file, then acknowledges it. */
static int flush_held(struct get *g)
{
	uint32_t n = g->held_len;

	if (n == 0)
		return 0;
	pbuf_copy_partial(g->held, chunk, (u16_t)n, 0);
	pbuf_free(g->held);
	g->held = NULL;
	g->held_len = 0;
	if (g->pcb)
		tcp_recved(g->pcb, (u16_t)n);
	int err = netfs_upload_write(&g->up, (uint32_t)g->received, chunk, n);
	g->received += n;
	return err;
}

/* The status line and the fields we need: Content-Length; a body in a
 * transfer coding (chunked) is not read. */
static int parse_head(struct get *g)
{
	char *s = g->head;
	int minor;

	if (sscanf(s, "HTTP/1.%d %3d", &minor, &g->status) != 2 || g->status < 100)
		return -EPROTO;
	for (char *line = strchr(s, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
		char *f = line + 1;
		if (strncasecmp(f, "Content-Length:", 15) == 0) {
			char *end;
			g->length = strtoull(f + 15, &end, 10);
			g->has_length = end != f + 15;
		} else if (strncasecmp(f, "Transfer-Encoding:", 18) == 0) {
			return -EPROTO;
		}
	}
	return g->status / 100 == 2 ? 0 : -EPROTO;
}

/* Body bytes: held until a chunk's worth, or the end, is there. */
static int body(struct get *g, struct pbuf *p)
{
	int err = 0;

	if (g->has_length && g->received + g->held_len + p->tot_len > g->length) {
		pbuf_free(p);
		return -EPROTO; /* more than Content-Length said */
	}
	if (g->held_len + p->tot_len > HTTPC_CHUNK)
		err = flush_held(g);
	if (g->held)
		pbuf_cat(g->held, p);
	else
		g->held = p;
	g->held_len += p->tot_len;
	if (!err && g->has_length && g->received + g->held_len == g->length)
		err = flush_held(g);
	return err;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct get *g = arg;
	int e = 0;

	g->progress_ns = plat_time_ns();
	if (!p || err != ERR_OK) { /* the server closed: the end of the body, if it had no length */
		if (p)
			pbuf_free(p);
		e = flush_held(g);
		if (!e && (!g->in_body || (g->has_length && g->received != g->length)))
			e = -ECONNRESET; /* cut short */
		return finish(g, e) ? ERR_ABRT : ERR_OK;
	}
	if (!g->in_body) {
		/* The head, a byte at a time up to its empty line; what follows is body. */
		uint16_t i = 0;
		while (i < p->tot_len && !g->in_body && g->head_len < HEAD_MAX - 1) {
			g->head[g->head_len++] = (char)pbuf_get_at(p, i++);
			g->head[g->head_len] = '\0';
			g->in_body = g->head_len >= 4 && !strcmp(g->head + g->head_len - 4, "\r\n\r\n");
		}
		tcp_recved(pcb, i);
		e = !g->in_body && g->head_len == HEAD_MAX - 1 ? -EPROTO : g->in_body ? parse_head(g) : 0;
		if (e == 0 && g->in_body && g->has_length && g->length == 0)
			e = 1; /* an empty body: done */
		p = pbuf_free_header(p, i);
	}
	if (p && e == 0)
		e = body(g, p);
	else if (p)
		pbuf_free(p);
	if (e == 0 && !(g->in_body && g->has_length && g->received == g->length))
		return ERR_OK;
	return finish(g, e < 0 ? e : 0) ? ERR_ABRT : ERR_OK;
}

static void on_err(void *arg, err_t err)
{
	struct get *g = arg;

	g->pcb = NULL; /* lwIP has freed it */
	finish(g, err == ERR_RST ? -ECONNRESET : err == ERR_ABRT ? -ECONNABORTED : -ECONNREFUSED);
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct get *g = arg;
	char req[HTTP_PATH_MAX + 128];

	g->progress_ns = plat_time_ns();
	if (err != ERR_OK) {
		finish(g, -ECONNREFUSED);
		return ERR_OK;
	}
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tinyvio\r\nConnection: close\r\n\r\n",
			 g->target, g->host);
	if (tcp_write(pcb, req, (u16_t)n, TCP_WRITE_FLAG_COPY) != ERR_OK)
		return finish(g, -ENOMEM) ? ERR_ABRT : ERR_OK;
	tcp_output(pcb);
	return ERR_OK;
}

/* "http://A.B.C.D[:PORT]/path": the address and port, and the target and
 * Host field of the request. */
static int parse_url(const char *url, struct get *g, ip_addr_t *addr, uint16_t *port)
{
	char *host = g->host;
	uint32_t ip;

	if (strncmp(url, "http://", 7) != 0)
		return -EINVAL;
	const char *h = url + 7, *path = strchr(h, '/');
	size_t hn = path ? (size_t)(path - h) : strlen(h);
	if (hn >= sizeof(g->host))
		return -EINVAL;
	memcpy(host, h, hn);
	host[hn] = '\0';
	char *colon = strchr(host, ':');
	*port = 80;
	if (colon) {
		char *end;
		unsigned long p = strtoul(colon + 1, &end, 10);
		if (*end || p == 0 || p > 65535 || end == colon + 1)
			return -EINVAL;
		*port = (uint16_t)p;
		*colon = '\0';
	}
	if (ip4_parse(host, &ip) < 0)
		return -EINVAL;
	ip_addr_set_ip4_u32(addr, lwip_htonl(ip));
	if (colon)
		*colon = ':';
	path = path ? path : "/";
	/* The path as it goes on the wire: printable, no spaces. */
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= 0x20 || *c == 0x7F)
			return -EINVAL;
	if (strlen(path) >= sizeof(g->target))
		return -EINVAL;
	strcpy(g->target, path);
	return 0;
}

static int get_done(void *arg) { return ((struct get *)arg)->done; }

int http_get(const char *url, const char *path, struct http_get_result *r)
{
	static struct get g;
	ip_addr_t addr;
	uint16_t port;

	memset(&g, 0, sizeof(g));
	memset(r, 0, sizeof(*r));
	int err = parse_url(url, &g, &addr, &port);
	if (err < 0)
		return err;
	err = netfs_upload_begin(&g.up, path, "httpget", 0);
	if (err < 0)
		return err;
	uint64_t start = plat_time_ns();
	g.progress_ns = start;
	g.pcb = tcp_new();
	if (!g.pcb) {
		netfs_upload_abort(&g.up);
		return -ENOMEM;
	}
	tcp_arg(g.pcb, &g);
	tcp_recv(g.pcb, on_recv);
	tcp_err(g.pcb, on_err);
	if (tcp_connect(g.pcb, &addr, port, on_connected) != ERR_OK)
		finish(&g, -ENETUNREACH);
	while (!g.done) {
		netstack_wait(get_done, &g, WAIT_STEP_NS);
		if (!g.done && plat_time_ns() - g.progress_ns > HTTPC_STALL_NS)
			finish(&g, -ETIMEDOUT);
	}
	err = g.err;
	if (err == 0)
		err = netfs_upload_commit(&g.up);
	else
		netfs_upload_abort(&g.up);
	r->status = g.status;
	r->size = g.received;
	r->ns = plat_time_ns() - start;
	return err;
}
