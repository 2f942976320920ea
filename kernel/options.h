/* Kernel command-line options (-append), as the console contract lists them. */
#ifndef KERNEL_OPTIONS_H
#define KERNEL_OPTIONS_H

#include <stdint.h>

enum virtio_mode { VIRTIO_MODE_IRQ, VIRTIO_MODE_POLL };

/* net.serve: services started at boot. */
enum net_service { NET_SERVE_HTTP, NET_SERVE_TFTP, NET_SERVE_IPERF, NET_SERVICES };

/* net.ip: how eth0 gets its address. */
enum net_ip_how { NET_IP_DHCP, NET_IP_STATIC, NET_IP_NONE };

struct kernel_options {
	enum virtio_mode virtio_mode; /* virtio.mode=irq|poll, default irq */
	int virtio_packed; /* virtio.packed=1|0, default 1 */
	char test_fault[8]; /* test.fault=de|ud|gp|pf|df: fault before the prompt */
	enum virtio_mode net_mode; /* net.mode=irq|poll, default irq */
	struct {
		enum net_ip_how how; /* net.ip=dhcp (default), A.B.C.D/P[,GW] or none */
		uint32_t ip, gw; /* static: host order; gw 0 for none */
		unsigned prefix;
	} net_ip;
	uint16_t net_serve[NET_SERVICES]; /* net.serve=http:PORT,tftp:PORT,iperf:PORT: the port, 0 for none */
};

/* Parses space-separated NAME=VALUE words into o (which starts at the
 * defaults).  Each unknown NAME or bad VALUE is reported through
 * warn(line), with line "warning: unknown option NAME" or "warning: bad
 * value for NAME: VALUE", and otherwise ignored.  Returns the number of
 * warnings. */
int options_parse(const char *cmdline, struct kernel_options *o, void (*warn)(const char *line));

#endif
