/*
 * The network services over the mounted volumes (netfs.h): an HTTP/1.1
 * server, a TFTP server, an iperf 2 server, and an HTTP client.  Nothing
 * listens until started; nothing is written without rw.  They run inside
 * the network loop (netstack.h) and never print.
 */
#ifndef LIB_NET_SERVICES_H
#define LIB_NET_SERVICES_H

#include <stdint.h>

/* Start listening on port (rw: PUT/DELETE, TFTP write requests), or stop
 * (open connections and transfers are cut).  start returns 0, -EBUSY
 * (already running), -EADDRINUSE, -ENOMEM; stop 0 or -ENOENT (not
 * running). */
int httpd_start(uint16_t port, int rw);
int httpd_stop(void);
int tftpd_start(uint16_t port, int rw);
int tftpd_stop(void);
int iperfd_start(uint16_t port);
int iperfd_stop(void);

struct http_get_result {
	int status; /* the server's status code (0: none came) */
	uint64_t size; /* body bytes written */
	uint64_t ns; /* from connect to the file on disk */
};

/* Fetches url ("http://A.B.C.D[:PORT]/path") into path, serving the network
 * meanwhile.  The body goes into a temporary file that takes path's name
 * only when complete (replacing a file there).  Returns 0, or -EINVAL (a
 * URL of another form), -ECONNREFUSED, -ECONNRESET, -ETIMEDOUT (no
 * progress for 10 s), -EPROTO (a reply we cannot read, or a status other
 * than 2xx: r->status says which), or a file error; on any error no file is
 * left at path (and one that was there is untouched). */
int http_get(const char *url, const char *path, struct http_get_result *r);

#endif
