/*
 * The HTTP/1.1 server: GET and HEAD of files and of directories (an HTML
 * listing) over the mounted volumes, and with rw, PUT (streamed to the
 * disk, in place only when complete) and DELETE.  Our own, on lwIP's raw
 * TCP API: lwIP's httpd has neither PUT nor DELETE, nor listings, and
 * misreads some paths (README, "Network services").
 *
 * One struct conn per connection, HTTPD_CONNS of them (one more is
 * refused with a reset).  A connection reads a request head (C_HEAD), then
 * sends the answer (C_SEND): a status line and headers, then the body,
 * pumped from the file HTTPD_CHUNK bytes at a time as lwIP's send buffer
 * empties (pump(), from the sent and poll callbacks), so a file of any
 * size streams through a fixed buffer.  A PUT first takes its body to the
 * disk (C_BODY): received data is held, unacknowledged, until a chunk's
 * worth is there, then written and only then acknowledged, so the TCP
 * window follows the disk.  With keep-alive the next request is then read,
 * possibly already waiting in the buffer.
 *
 * Everything is bounded: the head (HTTP_HEAD_MAX) and the time it may take
 * to come (HTTPD_HEAD_S), the connections, the time a client may stay
 * silent (HTTPD_IDLE_S).  A disk error before the
 * status line is sent answers 500 (507 for a full disk); after it, the
 * connection is reset, so the client sees the body cut short.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/net/http_parse.h"
#include "lib/net/netfs.h"
#include "lib/net/listen.h"
#include "lib/net/services.h"
#include "lwip/tcp.h"

#define HTTPD_CONNS 32
/* File bytes read, or body bytes written, at a time (pbufs count in 16 bits). */
#define HTTPD_CHUNK (60 * 1024)
#define HTTPD_BUFS 8 /* read-ahead buffers, lent to connections sending a file */
#define HTTPD_IDLE_S 15 /* a connection without progress this long is dropped */
#define HTTPD_HEAD_S 30 /* and one whose request head, begun, is not complete this long */
#define POLL_TICKS 2 /* lwIP polls each connection every 2 x 500 ms: once a second */
#define TEXT_MAX 768 /* status line, headers, an error's short body */
#define LISTING_LINE_MAX (12 * 1024) /* one listing line: a 255-character name, escaped */

enum conn_state { C_FREE, C_HEAD, C_BODY, C_SEND, C_DRAIN };
enum body_kind { B_NONE, B_FILE, B_DIR };
enum listing_part { L_HEAD, L_ENTRIES, L_FOOT, L_DONE };

struct conn {
	enum conn_state state;
	struct tcp_pcb *pcb;
	unsigned idle; /* seconds without progress */
	unsigned head_age; /* seconds a begun head has been coming (a byte at a time keeps idle at 0) */
	char head[HTTP_HEAD_MAX]; /* a request head, and what came after it */
	size_t head_len;
	struct http_request req;
	int keep; /* read the next request after this answer */
	uint64_t discard; /* body bytes still coming that are thrown away (an answer came first) */

	/* The answer: text first, then the body. */
	char text[TEXT_MAX];
	size_t text_len, text_off;
	enum body_kind body;
	uint64_t left; /* body bytes not yet queued */
	struct fat_file file; /* B_FILE */
	uint32_t off; /* the file offset read next */
	uint8_t *rbuf; /* what was read and is not yet queued: rbuf[rpos..rlen) */
	uint32_t rpos, rlen;
	int lent; /* rbuf is a buffer of the pool, this connection's until the file is sent */
	struct fat_volume *vol; /* B_DIR */
	struct fat_dir dir;
	enum listing_part part;
	struct fat_dirent entry;
	int entry_pending; /* read, not yet sent */

	/* PUT */
	struct netfs_upload up;
	int uploading;
	struct pbuf *held; /* body bytes received, not yet written */
	uint32_t held_len, written;
};

static struct conn conns[HTTPD_CONNS];
static struct tcp_pcb *listener;
static int aborted; /* a callback aborted its pcb: lwIP must hear ERR_ABRT */
static int writable;
static uint8_t chunk[HTTPD_CHUNK]; /* shared: used and done with inside one call */
static uint8_t pool[HTTPD_BUFS][HTTPD_CHUNK];
static struct conn *pool_owner[HTTPD_BUFS];
static char line[LISTING_LINE_MAX];

/* ---- connections ---- */

/* Drops what is held of a body (acknowledged now: the window opens). */
static void release_held(struct conn *c)
{
	if (c->held) {
		if (c->pcb)
			tcp_recved(c->pcb, (u16_t)c->held_len);
		pbuf_free(c->held);
	}
	c->held = NULL;
	c->held_len = 0;
}

/* A read-ahead buffer for c, or NULL when all are lent. */
static uint8_t *borrow(struct conn *c)
{
	for (int i = 0; i < HTTPD_BUFS; i++)
		if (!pool_owner[i]) {
			pool_owner[i] = c;
			c->lent = 1;
			return pool[i];
		}
	return NULL;
}

static void give_back(struct conn *c)
{
	for (int i = 0; i < HTTPD_BUFS && c->lent; i++)
		if (pool_owner[i] == c) {
			pool_owner[i] = NULL;
			c->lent = 0;
		}
	c->rbuf = NULL;
	c->rpos = c->rlen = 0;
}

/* Forgets the connection: its pcb is gone (err callback) or handed to
 * lwIP to close.  An upload not committed leaves no file. */
static void conn_free(struct conn *c)
{
	give_back(c);
	if (c->pcb) {
		tcp_arg(c->pcb, NULL);
		tcp_recv(c->pcb, NULL);
		tcp_sent(c->pcb, NULL);
		tcp_err(c->pcb, NULL);
		tcp_poll(c->pcb, NULL, 0);
	}
	release_held(c);
	if (c->uploading)
		netfs_upload_abort(&c->up);
	c->uploading = 0;
	c->pcb = NULL;
	c->state = C_FREE;
}

/* Graceful: what is queued still goes out, then FIN. */
static void conn_close(struct conn *c)
{
	struct tcp_pcb *pcb = c->pcb;

	conn_free(c);
	if (pcb && tcp_close(pcb) != ERR_OK)
		tcp_abort(pcb);
}

/* At once, with a reset: the client must not take what it got as whole. */
static void conn_abort(struct conn *c)
{
	struct tcp_pcb *pcb = c->pcb;

	conn_free(c);
	if (pcb) {
		tcp_abort(pcb);
		aborted = 1;
	}
}

/* ---- answers ---- */

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 507:
		return "Insufficient Storage";
	default:
		return "Internal Server Error";
	}
}

/* The status line and headers into c->text; a body of `length` bytes
 * follows (or, for HEAD, is only announced). */
static void start_answer(struct conn *c, int status, uint64_t length, const char *type)
{
	int n = snprintf(c->text, sizeof(c->text), "HTTP/1.1 %d %s\r\nServer: tinyvio\r\n", status,
			 reason(status));
	if (status != 204)
		n += snprintf(c->text + n, sizeof(c->text) - (size_t)n, "Content-Length: %" PRIu64 "\r\n",
			      length);
	if (type)
		n += snprintf(c->text + n, sizeof(c->text) - (size_t)n, "Content-Type: %s\r\n", type);
	if (status == 405)
		n += snprintf(c->text + n, sizeof(c->text) - (size_t)n, "Allow: GET, HEAD%s\r\n",
			      writable ? ", PUT, DELETE" : "");
	n += snprintf(c->text + n, sizeof(c->text) - (size_t)n, "Connection: %s\r\n\r\n",
		      c->keep ? "keep-alive" : "close");
	c->text_len = (size_t)n;
	c->text_off = 0;
	c->body = B_NONE;
	c->left = c->req.method == HTTP_HEAD ? 0 : length;
	c->state = C_SEND;
}

/* An answer with no more than a line of text as its body. */
static void answer(struct conn *c, int status)
{
	char body[64];
	int n = status == 204 ? 0 : snprintf(body, sizeof(body), "%d %s\n", status, reason(status));

	start_answer(c, status, (uint64_t)n, n ? "text/plain; charset=utf-8" : NULL);
	if (c->req.method != HTTP_HEAD && c->text_len + (size_t)n < sizeof(c->text)) {
		memcpy(c->text + c->text_len, body, (size_t)n);
		c->text_len += (size_t)n;
	}
	c->left = 0;
}

static int status_of(int err)
{
	switch (err) {
	case -ENOENT:
	case -ENOTDIR:
	case -ENODEV:
		return 404;
	case -EINVAL:
	case -ENAMETOOLONG:
		return 400;
	case -EISDIR:
	case -ENOTEMPTY:
	case -EEXIST:
		return 409;
	case -EFBIG:
		return 413;
	case -ENOSPC:
		return 507;
	default:
		return 500;
	}
}

/* The request's body (or what follows a bad head) is not read: the rest
 * of it is thrown away as it comes, and after the answer our side of the
 * connection is shut (FIN), the rest drained until the client closes, it
 * is all in, or the idle timeout.  (Closing at once, with the client still
 * sending, would reset the connection, and the client could lose the
 * answer.) */
static void skip_body(struct conn *c, uint64_t unread)
{
	c->keep = 0;
	c->discard = unread;
	c->head_len = 0;
}

/* An error answer to a request whose body is not read. */
static void refuse(struct conn *c, int status)
{
	if (c->req.chunked)
		skip_body(c, UINT64_MAX); /* until the client closes, or the idle timeout */
	else if (c->req.has_length && c->req.length)
		skip_body(c, c->req.length > c->head_len ? c->req.length - c->head_len : 0);
	answer(c, status);
}

/* ---- directory listings ---- */

/* Text for HTML: & < > " escaped. */
static size_t html(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		const char *e = *s == '&'   ? "&amp;"
				: *s == '<' ? "&lt;"
				: *s == '>' ? "&gt;"
				: *s == '"' ? "&quot;"
					    : NULL;
		size_t k = e ? strlen(e) : 1;
		if (n + k < size)
			memcpy(out + n, e ? e : s, k);
		n += k;
	}
	return n;
}

/* A path for a URL: everything but unreserved bytes and '/' %-escaped. */
static size_t url(char *out, size_t size, const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    (c && strchr("/-._~", c));
		if (plain && n + 1 < size)
			out[n] = (char)c;
		else if (!plain && n + 3 < size)
			snprintf(out + n, 4, "%%%02X", c);
		n += plain ? 1 : 3;
	}
	return n;
}

/* One part of the listing of c->req.path into line[]: its length (the
 * same in the counting pass and the sending pass). */
static size_t listing_line(struct conn *c, enum listing_part part)
{
	const char *dir = c->req.path;
	size_t n = 0;

	if (part == L_HEAD) {
		n += (size_t)snprintf(line, LISTING_LINE_MAX,
				      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
		n += html(line + n, LISTING_LINE_MAX - n, dir);
		n += (size_t)snprintf(line + n, LISTING_LINE_MAX - n, "</title></head>\n<body><h1>Index of ");
		n += html(line + n, LISTING_LINE_MAX - n, dir);
		n += (size_t)snprintf(line + n, LISTING_LINE_MAX - n, "</h1>\n<pre>\n");
	} else if (part == L_ENTRIES) {
		const struct fat_dirent *e = &c->entry;
		int slash = dir[strlen(dir) - 1] == '/';
		n += (size_t)snprintf(line, LISTING_LINE_MAX, "<a href=\"");
		n += url(line + n, LISTING_LINE_MAX - n, dir);
		n += (size_t)snprintf(line + n, LISTING_LINE_MAX - n, "%s", slash ? "" : "/");
		n += url(line + n, LISTING_LINE_MAX - n, e->name);
		n += (size_t)snprintf(line + n, LISTING_LINE_MAX - n, "%s\">", e->st.is_dir ? "/" : "");
		n += html(line + n, LISTING_LINE_MAX - n, e->name);
		n += (size_t)snprintf(line + n, LISTING_LINE_MAX - n, "%s</a> %" PRIu32 "\n",
				      e->st.is_dir ? "/" : "", e->st.is_dir ? 0 : e->st.size);
	} else {
		n += (size_t)snprintf(line, LISTING_LINE_MAX, "</pre></body></html>\n");
	}
	return n;
}

/* The listing's length: every line generated once, as it will be sent. */
static int listing_length(struct conn *c, const char *rel, uint64_t *length)
{
	int rc = fat_opendir(c->vol, rel, &c->dir);
	uint64_t total = listing_line(c, L_HEAD) + listing_line(c, L_FOOT);

	while (rc == 0 && (rc = fat_readdir(&c->dir, &c->entry)) == 1) {
		total += listing_line(c, L_ENTRIES);
		rc = 0;
	}
	*length = total;
	return rc < 0 ? rc : fat_opendir(c->vol, rel, &c->dir); /* from the start again, for sending */
}

/* ---- sending ---- */

/* Queues what lwIP's send buffer takes; 1 if all of it was queued. */
static int queue(struct conn *c, const void *data, size_t len, int more)
{
	if (len > tcp_sndbuf(c->pcb))
		return 0;
	return tcp_write(c->pcb, data, (u16_t)len, TCP_WRITE_FLAG_COPY | (more ? TCP_WRITE_FLAG_MORE : 0)) ==
	       ERR_OK;
}

/* The next piece of a listing; returns 0 when lwIP has no room now, -1 on
 * a disk error or a listing that changed length under us (the directory
 * changed between the passes). */
static int pump_listing(struct conn *c)
{
	for (;;) {
		if (c->part == L_ENTRIES && !c->entry_pending) {
			int rc = fat_readdir(&c->dir, &c->entry);
			if (rc < 0)
				return -1;
			if (rc == 0) {
				c->part = L_FOOT;
				continue;
			}
			c->entry_pending = 1;
		}
		if (c->part == L_DONE)
			return c->left == 0 ? 1 : -1;
		size_t n = listing_line(c, c->part);
		if (n >= LISTING_LINE_MAX || n > c->left)
			return -1;
		if (!queue(c, line, n, 1))
			return 0;
		c->left -= n;
		c->entry_pending = 0;
		if (c->part != L_ENTRIES)
			c->part = c->part == L_HEAD ? L_ENTRIES : L_DONE;
	}
}

/* The file's bytes, as far as lwIP takes them.  A connection reads ahead
 * HTTPD_CHUNK bytes at a time into a buffer lent from the pool, and queues
 * them as lwIP's send buffer empties: one disk request per chunk, however
 * little lwIP takes at once.  Without a buffer free it reads only what
 * lwIP takes now, into the shared chunk (and reads again what lwIP then
 * refuses).  Returns 1 when all is queued, 0 to wait for room, -1 on a
 * disk error or a file that shrank under us. */
static int pump_file(struct conn *c)
{
	while (c->left) {
		uint32_t room = tcp_sndbuf(c->pcb);
		if (c->rpos == c->rlen) {
			uint32_t n = c->left < HTTPD_CHUNK ? (uint32_t)c->left : HTTPD_CHUNK;
			c->rbuf = c->lent ? c->rbuf : borrow(c);
			if (!c->rbuf) {
				c->rbuf = chunk;
				if (room < n)
					n = room & ~4095u; /* whole 4 KiB blocks: the reads stay aligned */
			}
			if (n == 0)
				return 0;
			ssize_t got = fat_read(&c->file, c->off, c->rbuf, n);
			if (got <= 0)
				return -1;
			c->off += (uint32_t)got;
			c->rpos = 0;
			c->rlen = (uint32_t)got;
		}
		uint32_t m = c->rlen - c->rpos < room ? c->rlen - c->rpos : room;
		if (m && tcp_write(c->pcb, c->rbuf + c->rpos, (u16_t)m,
				   TCP_WRITE_FLAG_COPY | TCP_WRITE_FLAG_MORE) != ERR_OK)
			m = 0; /* lwIP's memory: again from the sent or poll callback */
		c->rpos += m;
		c->left -= m;
		if (c->rpos < c->rlen) {
			if (!c->lent) { /* the shared chunk is not ours after this call */
				c->off -= c->rlen - c->rpos;
				c->rpos = c->rlen = 0;
			}
			return 0;
		}
	}
	give_back(c);
	return 1;
}

/* Sends what the answer still has, as far as lwIP takes it.  Returns 1
 * when the answer is all queued and the connection reads its next request,
 * 0 when it waits for room (or has been closed). */
static int pump(struct conn *c)
{
	if (c->text_off < c->text_len) {
		if (!queue(c, c->text + c->text_off, c->text_len - c->text_off, c->left > 0))
			goto wait;
		c->text_off = c->text_len;
	}
	if (c->left && c->body == B_FILE) {
		int rc = pump_file(c);
		if (rc < 0) {
			conn_abort(c);
			return 0;
		}
		if (rc == 0)
			goto wait;
	}
	if (c->left && c->body == B_DIR) {
		int rc = pump_listing(c);
		if (rc < 0) {
			conn_abort(c);
			return 0;
		}
		if (rc == 0)
			goto wait;
	}
	tcp_output(c->pcb);
	if (!c->keep) {
		if (!c->discard) {
			conn_close(c);
		} else if (tcp_shutdown(c->pcb, 0, 1) == ERR_OK) {
			c->state = C_DRAIN; /* closed once the client closes, or the body is all in */
		} else {
			conn_abort(c);
		}
		return 0;
	}
	c->state = C_HEAD;
	c->body = B_NONE;
	return 1;
wait:
	tcp_output(c->pcb);
	return 0;
}

/* ---- requests ---- */

static void get(struct conn *c)
{
	struct fat_stat st;
	const char *rel;
	int err = netfs_resolve(c->req.path, &c->vol, &rel);

	if (err == 0)
		err = fat_stat(c->vol, rel, &st);
	if (err == 0 && !st.is_dir)
		err = fat_open(c->vol, rel, 0, &c->file);
	if (err < 0) {
		answer(c, status_of(err));
		return;
	}
	uint64_t length = st.size;
	if (st.is_dir) {
		err = listing_length(c, rel, &length);
		if (err < 0) {
			answer(c, status_of(err));
			return;
		}
	}
	start_answer(c, 200, length,
		     st.is_dir ? "text/html; charset=utf-8" : netfs_content_type(c->req.path));
	c->body = st.is_dir ? B_DIR : B_FILE;
	c->off = 0;
	c->rpos = c->rlen = 0;
	c->part = L_HEAD;
	c->entry_pending = 0;
}

static void delete (struct conn *c)
{
	const char *rel;
	int err = netfs_resolve(c->req.path, &c->vol, &rel);

	if (err == 0)
		err = fat_remove(c->vol, rel);
	if (err == 0)
		err = fat_sync(c->vol);
	answer(c, err == 0 ? 204 : status_of(err));
}

/* Writes the first n held body bytes to the disk, then acknowledges them. */
static int flush_held(struct conn *c, uint32_t n)
{
	pbuf_copy_partial(c->held, chunk, (u16_t)n, 0);
	c->held = pbuf_free_header(c->held, (u16_t)n);
	c->held_len -= n;
	tcp_recved(c->pcb, (u16_t)n);
	int err = netfs_upload_write(&c->up, c->written, chunk, n);
	c->written += n;
	return err;
}

/* The PUT's body is all on the disk (or the disk failed: the rest of the
 * body is thrown away): answer. */
static void finish_put(struct conn *c, int err)
{
	if (err < 0)
		skip_body(c, c->req.length - c->written - c->held_len);
	release_held(c);
	if (err == 0)
		err = netfs_upload_commit(&c->up);
	else
		netfs_upload_abort(&c->up);
	c->uploading = 0;
	answer(c, err == 0 ? (c->up.existed ? 204 : 201) : status_of(err));
}

/* Body bytes: held, unacknowledged, until a chunk's worth (or the last of
 * them) is there. */
static void body_data(struct conn *c, struct pbuf *p)
{
	uint64_t want = c->req.length - c->written - c->held_len; /* not yet received */
	int err = 0;

	if (p->tot_len > want) { /* the next request follows the body */
		uint16_t extra = (uint16_t)(p->tot_len - want);
		if (c->head_len + extra > sizeof(c->head)) {
			c->keep = 0;
		} else {
			pbuf_copy_partial(p, c->head + c->head_len, extra, (u16_t)want);
			c->head_len += extra;
		}
		tcp_recved(c->pcb, extra);
		pbuf_realloc(p, (u16_t)want);
	}
	int last = p->tot_len == want;
	if (c->held_len + p->tot_len > 0xFFFF) /* a pbuf chain counts in 16 bits */
		err = flush_held(c, c->held_len);
	if (c->held)
		pbuf_cat(c->held, p);
	else
		c->held = p;
	c->held_len += p->tot_len;
	while (!err && (c->held_len >= HTTPD_CHUNK || (last && c->held_len)))
		err = flush_held(c, c->held_len < HTTPD_CHUNK ? c->held_len : HTTPD_CHUNK);
	if (err || last)
		finish_put(c, err);
}

static void put(struct conn *c)
{
	if (!c->req.has_length || c->req.chunked) {
		refuse(c, 411);
		return;
	}
	if (c->req.length > 0xFFFFFFFFull) {
		refuse(c, 413);
		return;
	}
	int err = netfs_upload_begin(&c->up, c->req.path, "httpd", (unsigned)(c - conns));
	if (err < 0) {
		refuse(c, status_of(err));
		return;
	}
	c->uploading = 1;
	c->written = 0;
	c->state = C_BODY;
	if (c->req.expect_continue && c->head_len == 0) {
		static const char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
		tcp_write(c->pcb, go_on, sizeof(go_on) - 1, 0);
		tcp_output(c->pcb);
	}
	/* Body bytes that came with the head (already acknowledged). */
	uint32_t n = c->head_len < c->req.length ? (uint32_t)c->head_len : (uint32_t)c->req.length;
	if (n)
		err = netfs_upload_write(&c->up, 0, c->head, n);
	memmove(c->head, c->head + n, c->head_len - n);
	c->head_len -= n;
	c->written = n;
	if (err < 0 || c->written == c->req.length)
		finish_put(c, err);
}

/* A complete head of head_bytes is at the start of c->head: act on it
 * (the answer is then pumped by serve()). */
static void dispatch(struct conn *c, int head_bytes)
{
	memmove(c->head, c->head + head_bytes, c->head_len - (size_t)head_bytes);
	c->head_len -= (size_t)head_bytes;
	c->keep = c->req.keep_alive;
	int has_body = (c->req.has_length && c->req.length) || c->req.chunked;
	enum http_method m = c->req.method;

	if (m == HTTP_OTHER || ((m == HTTP_PUT || m == HTTP_DELETE) && !writable))
		refuse(c, 405);
	else if (has_body && m != HTTP_PUT)
		refuse(c, 400); /* a body where none belongs */
	else if (m == HTTP_PUT)
		put(c);
	else if (m == HTTP_DELETE)
		delete (c);
	else
		get(c);
}

/* Runs the connection as far as it can go now: pumps the answer out, and
 * reads and acts on the requests already received (pipelined ones in turn,
 * without recursion). */
static void serve(struct conn *c)
{
	for (;;) {
		if (c->state == C_SEND) {
			if (!pump(c))
				return;
		} else if (c->state == C_HEAD && c->head_len) {
			int n = http_parse_request(c->head, c->head_len, &c->req);
			if (n == 0)
				return;
			if (n > 0) {
				dispatch(c, n);
			} else {
				skip_body(c, UINT64_MAX);
				c->req.method = HTTP_GET; /* for answer(): a reply with a body */
				answer(c, 400);
			}
		} else {
			return;
		}
	}
}

/* ---- lwIP's callbacks ---- */

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct conn *c = arg;
	(void)pcb;

	aborted = 0;
	if (!p || err != ERR_OK) { /* the client closed its side */
		if (p)
			pbuf_free(p);
		c->discard = 0; /* nothing more comes */
		if (c->state == C_SEND) {
			c->keep = 0; /* the answer goes out, then the close */
			serve(c);
		} else {
			conn_close(c); /* an upload not finished is dropped */
		}
		return aborted ? ERR_ABRT : ERR_OK;
	}
	c->idle = 0;
	if (c->discard) {
		uint64_t n = p->tot_len < c->discard ? p->tot_len : c->discard;
		c->discard -= n;
		tcp_recved(c->pcb, p->tot_len);
		pbuf_free(p);
		if (c->discard == 0 && c->state == C_DRAIN)
			conn_close(c);
		return aborted ? ERR_ABRT : ERR_OK;
	}
	if (c->state == C_BODY) {
		body_data(c, p);
	} else if (c->head_len + p->tot_len <= sizeof(c->head)) {
		pbuf_copy_partial(p, c->head + c->head_len, p->tot_len, 0);
		c->head_len += p->tot_len;
		tcp_recved(c->pcb, p->tot_len);
		pbuf_free(p);
	} else if (c->state == C_SEND) {
		return ERR_MEM; /* the next request: lwIP keeps it until this answer is out */
	} else { /* a head longer than HTTP_HEAD_MAX */
		tcp_recved(c->pcb, p->tot_len);
		pbuf_free(p);
		skip_body(c, UINT64_MAX);
		c->req.method = HTTP_GET;
		answer(c, 400);
	}
	serve(c);
	return aborted ? ERR_ABRT : ERR_OK;
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct conn *c = arg;
	(void)pcb, (void)len;

	aborted = 0;
	c->idle = 0;
	serve(c);
	return aborted ? ERR_ABRT : ERR_OK;
}

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct conn *c = arg;
	(void)pcb;

	aborted = 0;
	c->head_age = c->state == C_HEAD && c->head_len ? c->head_age + 1 : 0;
	if (++c->idle >= HTTPD_IDLE_S || c->head_age >= HTTPD_HEAD_S)
		conn_abort(c);
	else
		serve(c);
	return aborted ? ERR_ABRT : ERR_OK;
}

static void on_err(void *arg, err_t err)
{
	struct conn *c = arg;
	(void)err;

	c->pcb = NULL; /* lwIP has freed it */
	conn_free(c);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	for (int i = 0; i < HTTPD_CONNS; i++) {
		struct conn *c = &conns[i];
		if (c->state != C_FREE)
			continue;
		memset(c, 0, sizeof(*c));
		c->pcb = pcb;
		c->state = C_HEAD;
		tcp_arg(pcb, c);
		tcp_recv(pcb, on_recv);
		tcp_sent(pcb, on_sent);
		tcp_err(pcb, on_err);
		tcp_poll(pcb, on_poll, POLL_TICKS);
		tcp_nagle_disable(pcb);
		return ERR_OK;
	}
	tcp_abort(pcb); /* HTTPD_CONNS already: refused */
	return ERR_ABRT;
}

/* ---- start and stop ---- */

int httpd_start(uint16_t port, int rw)
{
	int err = listen_start(&listener, port, HTTPD_CONNS, on_accept);

	if (err == 0)
		writable = rw;
	return err;
}

int httpd_stop(void)
{
	int err = listen_stop(&listener);

	if (err < 0)
		return err;
	for (int i = 0; i < HTTPD_CONNS; i++)
		if (conns[i].state != C_FREE)
			conn_abort(&conns[i]);
	return 0;
}
