/*
 * A TFTP server (RFC 1350, octet mode) with the option extension (RFC 2347)
 * and the blksize, tsize and timeout options (RFC 2348, 2349).  Our own,
 * on lwIP's raw UDP API: lwIP's tftp_server takes one transfer at a time,
 * 512-byte blocks only, and no options (README, "Network services").
 *
 * Requests come to the server's port; each transfer then runs on a port of
 * its own (the TID), connected to the client's, as the RFC has it.  A read
 * sends DATA block n, waits for ACK n, and sends it again on a timeout;
 * the block after the last full one is short (maybe empty) and ends it.  A
 * write (with rw) ACKs each DATA block once it is on the disk, into a
 * temporary file that takes its name (and the volume is synced) before the
 * last ACK: a transfer cut short leaves no file.  Block numbers wrap from
 * 65535 to 0.  Everything is bounded: TFTP_XFERS transfers at once (one
 * more is refused with an error), TFTP_TRIES sendings of a packet.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lib/net/netfs.h"
#include "lib/net/services.h"
#include "lwip/sys.h"
#include "lwip/timeouts.h"
#include "lwip/udp.h"

#define TFTP_XFERS 8
#define TFTP_TRIES 5 /* sendings of a packet before the transfer is given up */
#define TFTP_TIMEOUT_MS 1000 /* default; the timeout option may say 1..255 s */
#define TFTP_TICK_MS 100
#define BLKSIZE_DEFAULT 512
#define BLKSIZE_MAX 65464 /* RFC 2348 */
#define REQUEST_MAX 512 /* a request packet's bytes we look at */

enum { OP_RRQ = 1, OP_WRQ, OP_DATA, OP_ACK, OP_ERROR, OP_OACK };
/* Error codes (RFC 1350, 2347) */
enum { E_UNDEF = 0, E_NOT_FOUND = 1, E_ACCESS = 2, E_DISK_FULL = 3, E_ILLEGAL = 4, E_OPTION = 8 };

struct xfer {
	struct udp_pcb *pcb; /* NULL: free */
	int writing;
	uint16_t blksize;
	uint32_t timeout_ms;
	uint16_t block; /* read: the block in flight; write: the last block ACKed */
	uint32_t deadline; /* sys_now() by which the peer must answer */
	unsigned tries;
	struct pbuf *out; /* what we sent last: sent again on a timeout */
	int last; /* the final packet is out: read, the short block; write, the last ACK */
	/* read */
	struct fat_file file;
	uint32_t off; /* file offset of the block in flight */
	/* write */
	struct netfs_upload up;
	int uploading; /* begun, not committed: a transfer ended now removes it */
	uint32_t written;
};

static struct udp_pcb *server;
static int writable;
static struct xfer xfers[TFTP_XFERS];
static int ticking;
static uint8_t block_buf[BLKSIZE_MAX];

static struct pbuf *packet(uint16_t op, uint16_t n, const void *data, uint16_t len)
{
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)(4 + len), PBUF_RAM);

	if (p) {
		uint8_t *b = p->payload;
		b[0] = (uint8_t)(op >> 8), b[1] = (uint8_t)op;
		b[2] = (uint8_t)(n >> 8), b[3] = (uint8_t)n;
		if (len)
			memcpy(b + 4, data, len);
	}
	return p;
}

/* An ERROR packet, from pcb to addr:port (or to the connected peer). */
static void send_error(struct udp_pcb *pcb, const ip_addr_t *addr, u16_t port, uint16_t code, const char *msg)
{
	struct pbuf *p = packet(OP_ERROR, code, msg, (uint16_t)(strlen(msg) + 1));

	if (!p)
		return;
	if (addr)
		udp_sendto(pcb, p, addr, port);
	else
		udp_send(pcb, p);
	pbuf_free(p);
}

static void xfer_end(struct xfer *x)
{
	if (x->uploading)
		netfs_upload_abort(&x->up);
	if (x->out)
		pbuf_free(x->out);
	x->out = NULL;
	udp_remove(x->pcb);
	x->pcb = NULL;
}

static void fail(struct xfer *x, uint16_t code, const char *msg)
{
	send_error(x->pcb, NULL, 0, code, msg);
	xfer_end(x);
}

/* Sends the kept packet (again): a copy each time, for lwIP's udp_send()
 * writes its headers into the headroom of what it sends. */
static void resend(struct xfer *x)
{
	struct pbuf *q = pbuf_clone(PBUF_TRANSPORT, PBUF_RAM, x->out);

	if (q) {
		udp_send(x->pcb, q);
		pbuf_free(q);
	}
}

/* Sends p (kept for resending) and starts waiting for the answer. */
static void send_kept(struct xfer *x, struct pbuf *p)
{
	if (x->out)
		pbuf_free(x->out);
	x->out = p;
	x->tries = 1;
	x->deadline = sys_now() + x->timeout_ms;
	resend(x);
}

/* Read: the block at x->off (short, maybe empty, at the end). */
static void send_block(struct xfer *x)
{
	uint32_t want = x->blksize;
	ssize_t n = fat_read(&x->file, x->off, block_buf, want);

	if (n < 0) {
		fail(x, E_UNDEF, "read error");
		return;
	}
	struct pbuf *p = packet(OP_DATA, x->block, block_buf, (uint16_t)n);
	if (!p) {
		fail(x, E_UNDEF, "out of memory");
		return;
	}
	x->last = (uint32_t)n < want;
	send_kept(x, p);
}

static int disk_error_code(int err) { return err == -ENOSPC || err == -EFBIG ? E_DISK_FULL : E_UNDEF; }

static const char *disk_error_text(int err)
{
	return err == -ENOSPC ? "disk full" : err == -EFBIG ? "file too large" : "write error";
}

/* A packet from the transfer's peer. */
static void xfer_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	struct xfer *x = arg;
	uint8_t h[4];
	(void)pcb, (void)addr, (void)port;

	if (pbuf_copy_partial(p, h, 4, 0) != 4) {
		pbuf_free(p);
		return;
	}
	uint16_t op = (uint16_t)(h[0] << 8 | h[1]), n = (uint16_t)(h[2] << 8 | h[3]);
	if (op == OP_ERROR) { /* the peer gives up */
		pbuf_free(p);
		xfer_end(x);
		return;
	}
	if (!x->writing) {
		pbuf_free(p);
		if (op != OP_ACK || n != x->block)
			return; /* a duplicate or a stray: the timeout resends */
		if (x->last) {
			xfer_end(x);
			return;
		}
		x->off += x->blksize;
		x->block++;
		send_block(x);
		return;
	}
	uint16_t len = (uint16_t)(p->tot_len - 4);
	if (op != OP_DATA || len > x->blksize) {
		pbuf_free(p);
		if (op != OP_DATA)
			return;
		fail(x, E_ILLEGAL, "block larger than agreed");
		return;
	}
	if (n != (uint16_t)(x->block + 1) || x->last) { /* our ACK was lost: it goes again */
		pbuf_free(p);
		if (x->out)
			resend(x);
		return;
	}
	pbuf_copy_partial(p, block_buf, len, 4);
	pbuf_free(p);
	int err = netfs_upload_write(&x->up, x->written, block_buf, len);
	x->written += len;
	if (err == 0 && len < x->blksize) {
		x->uploading = 0;
		err = netfs_upload_commit(
			&x->up); /* on the disk before the last ACK (aborts itself on failure) */
		x->last = 1;
	}
	if (err < 0) {
		fail(x, (uint16_t)disk_error_code(err), disk_error_text(err));
		return;
	}
	x->block = n;
	struct pbuf *ack = packet(OP_ACK, n, NULL, 0);
	if (!ack) {
		fail(x, E_UNDEF, "out of memory");
		return;
	}
	send_kept(x, ack);
	if (x->last) /* the last ACK: a lost one is answered when its DATA comes again, until we stop */
		x->deadline = sys_now() + x->timeout_ms * TFTP_TRIES;
}

/* Every TFTP_TICK_MS: resends what was not answered, ends what never will be. */
static void tick(void *unused)
{
	(void)unused;
	int busy = 0;

	for (int i = 0; i < TFTP_XFERS; i++) {
		struct xfer *x = &xfers[i];
		if (!x->pcb)
			continue;
		if ((int32_t)(sys_now() - x->deadline) >= 0) {
			if (x->writing && x->last) {
				xfer_end(x); /* the file is in; the peer had its chances to hear */
			} else if (x->tries >= TFTP_TRIES) {
				fail(x, E_UNDEF, "timed out");
			} else {
				x->tries++;
				x->deadline = sys_now() + x->timeout_ms;
				resend(x);
			}
		}
		busy |= x->pcb != NULL;
	}
	ticking = busy;
	if (busy)
		sys_timeout(TFTP_TICK_MS, tick, NULL);
}

/* The options of a request (name\0value\0 pairs), the ones we know taken
 * into x and echoed into oack.  Returns the OACK's length (0: none asked
 * for), or -1 for a bad value. */
static int options(struct xfer *x, const char *o, const char *end, uint32_t size, char *oack, size_t room)
{
	int n = 0;

	/* Each echoed option is a known name (7 bytes at most) and a number. */
	while (o < end && (size_t)n + 32 < room) {
		const char *name = o, *value = name + strlen(name) + 1;
		if (value >= end)
			break;
		o = value + strlen(value) + 1;
		char *stop;
		unsigned long v = strtoul(value, &stop, 10);
		if (*stop || !*value)
			continue; /* not a number: ignored, as an unknown option is */
		if (strcasecmp(name, "blksize") == 0) {
			if (v < 8)
				return -1;
			x->blksize = (uint16_t)(v > BLKSIZE_MAX ? BLKSIZE_MAX : v);
			v = x->blksize;
		} else if (strcasecmp(name, "timeout") == 0) {
			if (v < 1 || v > 255)
				return -1;
			x->timeout_ms = (uint32_t)v * 1000;
		} else if (strcasecmp(name, "tsize") == 0) {
			if (!x->writing)
				v = size; /* a read asks for the size: we say it */
		} else {
			continue;
		}
		n += snprintf(oack + n, room - (size_t)n, "%s%c%lu%c", name, 0, v, 0);
	}
	return n;
}

/* Makes "/name" of a TFTP file name (taken from the root of the volumes
 * when relative); "." and ".." segments and control bytes are refused. */
static int tftp_path(const char *name, char *out, size_t size)
{
	if (snprintf(out, size, "%s%s", name[0] == '/' ? "" : "/", name) >= (int)size)
		return -1;
	return http_path_check(out) < 0 ? -1 : 0;
}

static void start_read(struct xfer *x, const char *path, const char *opts, const char *end)
{
	struct fat_volume *v;
	const char *rel;
	struct fat_stat st;
	char oack[256];
	int err = netfs_resolve(path, &v, &rel);

	if (err == 0)
		err = fat_stat(v, rel, &st);
	if (err == 0 && st.is_dir)
		err = -EISDIR;
	if (err == 0)
		err = fat_open(v, rel, 0, &x->file);
	if (err < 0) {
		fail(x, err == -ENOENT || err == -ENOTDIR || err == -ENODEV ? E_NOT_FOUND : E_ACCESS,
		     err == -EISDIR ? "is a directory" : "file not found");
		return;
	}
	int n = options(x, opts, end, x->file.size, oack, sizeof(oack));
	if (n < 0) {
		fail(x, E_OPTION, "bad option value");
		return;
	}
	x->block = n ? 0 : 1; /* an OACK is answered with ACK 0 */
	x->off = 0;
	if (n) {
		struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)(2 + n), PBUF_RAM);
		if (!p) {
			fail(x, E_UNDEF, "out of memory");
			return;
		}
		((uint8_t *)p->payload)[0] = 0;
		((uint8_t *)p->payload)[1] = OP_OACK;
		memcpy((uint8_t *)p->payload + 2, oack, (size_t)n);
		x->off = -(uint32_t)x->blksize; /* so that ACK 0 moves to block 1 at offset 0 */
		send_kept(x, p);
		return;
	}
	send_block(x);
}

static void start_write(struct xfer *x, const char *path, const char *opts, const char *end, int slot)
{
	char oack[256];
	int err = netfs_upload_begin(&x->up, path, "tftpd", (unsigned)slot);

	if (err < 0) {
		fail(x, err == -ENOENT || err == -ENOTDIR || err == -ENODEV ? E_NOT_FOUND : E_ACCESS,
		     err == -EISDIR   ? "is a directory"
		     : err == -ENOENT ? "no such directory"
				      : "cannot create");
		return;
	}
	x->uploading = 1;
	int n = options(x, opts, end, 0, oack, sizeof(oack));
	if (n < 0) {
		fail(x, E_OPTION, "bad option value");
		return;
	}
	x->block = 0;
	x->written = 0;
	struct pbuf *p =
		n ? pbuf_alloc(PBUF_TRANSPORT, (u16_t)(2 + n), PBUF_RAM) : packet(OP_ACK, 0, NULL, 0);
	if (!p) {
		fail(x, E_UNDEF, "out of memory");
		return;
	}
	if (n) {
		((uint8_t *)p->payload)[0] = 0;
		((uint8_t *)p->payload)[1] = OP_OACK;
		memcpy((uint8_t *)p->payload + 2, oack, (size_t)n);
	}
	send_kept(x, p);
}

/* A request on the server's port. */
static void server_recv(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr, u16_t port)
{
	char req[REQUEST_MAX + 1];
	(void)arg;

	u16_t len = pbuf_copy_partial(p, req, REQUEST_MAX, 0);
	pbuf_free(p);
	req[len] = '\0';
	if (len < 4)
		return;
	uint16_t op = (uint16_t)((uint8_t)req[0] << 8 | (uint8_t)req[1]);
	const char *end = req + len, *name = req + 2;
	const char *mode = memchr(name, 0, (size_t)(end - name));
	if (op != OP_RRQ && op != OP_WRQ) {
		send_error(pcb, addr, port, E_ILLEGAL, "not a request");
		return;
	}
	if (!mode || ++mode >= end || !memchr(mode, 0, (size_t)(end - mode))) {
		send_error(pcb, addr, port, E_ILLEGAL, "malformed request");
		return;
	}
	if (strcasecmp(mode, "octet") != 0) {
		send_error(pcb, addr, port, E_UNDEF, "only octet mode");
		return;
	}
	if (op == OP_WRQ && !writable) {
		send_error(pcb, addr, port, E_ACCESS, "read-only server");
		return;
	}
	char path[HTTP_PATH_MAX];
	if (tftp_path(name, path, sizeof(path)) < 0) {
		send_error(pcb, addr, port, E_ACCESS, "bad file name");
		return;
	}
	/* A free slot, or one whose write is in and only listens for a lost
	 * last ACK's sake. */
	int slot = 0;
	while (slot < TFTP_XFERS && xfers[slot].pcb)
		slot++;
	for (int i = 0; slot == TFTP_XFERS && i < TFTP_XFERS; i++)
		if (xfers[i].writing && xfers[i].last) {
			xfer_end(&xfers[i]);
			slot = i;
		}
	struct udp_pcb *t = slot < TFTP_XFERS ? udp_new() : NULL;
	if (t && (udp_bind(t, IP_ANY_TYPE, 0) != ERR_OK || udp_connect(t, addr, port) != ERR_OK)) {
		udp_remove(t);
		t = NULL;
	}
	if (!t) {
		send_error(pcb, addr, port, E_UNDEF, "server busy");
		return;
	}
	struct xfer *x = &xfers[slot];
	memset(x, 0, sizeof(*x));
	x->pcb = t;
	x->writing = op == OP_WRQ;
	x->blksize = BLKSIZE_DEFAULT;
	x->timeout_ms = TFTP_TIMEOUT_MS;
	udp_recv(t, xfer_recv, x);
	const char *opts = mode + strlen(mode) + 1;
	if (x->writing)
		start_write(x, path, opts, end, slot);
	else
		start_read(x, path, opts, end);
	if (!ticking && x->pcb) {
		ticking = 1;
		sys_timeout(TFTP_TICK_MS, tick, NULL);
	}
}

int tftpd_start(uint16_t port, int rw)
{
	if (server)
		return -EBUSY;
	struct udp_pcb *pcb = udp_new();
	if (!pcb)
		return -ENOMEM;
	if (udp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		udp_remove(pcb);
		return -EADDRINUSE;
	}
	udp_recv(pcb, server_recv, NULL);
	server = pcb;
	writable = rw;
	return 0;
}

int tftpd_stop(void)
{
	if (!server)
		return -ENOENT;
	udp_remove(server);
	server = NULL;
	for (int i = 0; i < TFTP_XFERS; i++)
		if (xfers[i].pcb)
			fail(&xfers[i], E_UNDEF, "server stopped");
	return 0;
}
