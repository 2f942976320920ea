/*
 * Shell commands on the network: net, netstat, ip, dhcp, ping, bench net
 * ping.  They go through lib/net/netstack.h (and, for what the driver
 * says of itself, the virtio-net driver's state).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "drivers/net/net.h"
#include "drivers/platform.h"
#include "drivers/virtio/virtio_net.h"
#include "kernel/commands.h"
#include "kernel/console.h"
#include "kernel/errstr.h"
#include "kernel/latency.h"
#include "lib/net/addr.h"
#include "lib/net/netstack.h"
#include "lib/net/services.h"

#define DHCP_WAIT_NS 10000000000ull
#define PING_INTERVAL_NS 1000000000ull /* one echo a second, and as long for its reply */
#define PING_SIZE 56 /* payload bytes, as ping(8) sends */
#define PING_MAX_COUNT 100000
#define BENCH_PING_GIVE_UP 3 /* echoes lost in a row that end a bench run */

static struct net_device *find_dev(const char *name)
{
	struct net_device *d = net_find(name);

	if (!d)
		shell_error("%s: no such interface", name);
	return d;
}

/* "A.B.C.D/P" or "none", and "A.B.C.D" or "none", into the two buffers. */
static void addr_text(const struct netstack_info *i, char *ip, size_t ipn, char *gw)
{
	char a[IP4_TEXT_MAX];

	if (i->ip)
		snprintf(ip, ipn, "%s/%u", ip4_format(i->ip, a), i->prefix);
	else
		snprintf(ip, ipn, "none");
	if (i->gw)
		ip4_format(i->gw, gw);
	else
		strcpy(gw, "none");
}

int cmd_net(struct args *a)
{
	(void)a;
	for (int n = 0; n < net_count(); n++) {
		struct net_device *d = net_get(n);
		struct virtio_net *vn = virtio_net_of(d);
		struct netstack_info info = {0};
		char ip[24], gw[IP4_TEXT_MAX];
		const uint8_t *m = d->mac;
		netstack_info(d, &info);
		addr_text(&info, ip, sizeof(ip), gw);
		kprintf("%s mac=%02x:%02x:%02x:%02x:%02x:%02x link=%s mtu=%u ip=%s gw=%s", d->name, m[0],
			m[1], m[2], m[3], m[4], m[5], d->link_up ? "up" : "down", d->mtu, ip, gw);
		if (vn)
			kprintf(" transport=%s ring=%s queues=1 qsize=%u mode=%s features=%" PRIx64,
				vn->vdev.t->name, vn->rxq.packed ? "packed" : "split", vn->rxq.size, vn->mode,
				vn->vdev.features);
		kprintf("\n");
	}
	return 0;
}

int cmd_netstat(struct args *a)
{
	int clear = a->argc > 1 && strcmp(a->argv[a->argc - 1], "clear") == 0;
	const char *only = a->argc > 1 + clear ? a->argv[1] : NULL;

	if (a->argc > 2 + clear)
		return shell_error("usage: netstat [DEV] [clear]");
	if (only && !find_dev(only))
		return -1;
	for (int n = 0; n < net_count(); n++) {
		struct net_device *d = net_get(n);
		if (only && strcmp(only, d->name) != 0)
			continue;
		const struct net_stats *s = &d->stats;
		kprintf("%s rx_frames=%" PRIu64 " rx_bytes=%" PRIu64 " tx_frames=%" PRIu64
			" tx_bytes=%" PRIu64 " rx_dropped=%" PRIu64 " tx_dropped=%" PRIu64
			" rx_copied=%" PRIu64 " device_errors=%" PRIu64 " notifies=%" PRIu64
			" interrupts=%" PRIu64 " config_changes=%" PRIu64 " resets=%" PRIu64 "\n",
			d->name, s->rx_frames, s->rx_bytes, s->tx_frames, s->tx_bytes, s->rx_dropped,
			s->tx_dropped, s->rx_copied, s->device_errors, s->notifies, s->interrupts,
			s->config_changes, s->resets);
		if (clear)
			memset(&d->stats, 0, sizeof(d->stats));
	}
	return 0;
}

int cmd_ip(struct args *a)
{
	uint32_t ip, gw = 0;
	unsigned prefix;

	if (a->argc < 3 || a->argc > 4)
		return shell_error("usage: ip DEV A.B.C.D/P [GW]");
	struct net_device *d = find_dev(a->argv[1]);
	if (!d)
		return -1;
	if (ip4_parse_cidr(a->argv[2], &ip, &prefix) < 0)
		return shell_error("ip: %s: not an address with a prefix (A.B.C.D/P)", a->argv[2]);
	if (a->argc == 4 && ip4_parse(a->argv[3], &gw) < 0)
		return shell_error("ip: %s: not an address (A.B.C.D)", a->argv[3]);
	int err = netstack_set_static(d, ip, prefix, gw);
	return err < 0 ? shell_error("ip: %s: %s", d->name, errstr(err)) : 0;
}

static int lease_bound(void *arg)
{
	struct netstack_info i;

	return netstack_info(arg, &i) == 0 && i.dhcp_bound;
}

int cmd_dhcp(struct args *a)
{
	struct netstack_info i;
	char ip[24], gw[IP4_TEXT_MAX];

	if (a->argc != 2)
		return shell_error("usage: dhcp DEV");
	struct net_device *d = find_dev(a->argv[1]);
	if (!d)
		return -1;
	/* A lease asked for in the background (net.ip=dhcp) may be there already. */
	netstack_info(d, &i);
	if (!i.dhcp) {
		int err = netstack_dhcp_start(d);
		if (err < 0)
			return shell_error("dhcp: %s: %s", d->name, errstr(err));
	}
	if (netstack_wait(lease_bound, d, DHCP_WAIT_NS) < 0)
		return shell_error("dhcp: %s: no lease within 10 s%s", d->name,
				   d->link_up ? "" : " (link down)");
	netstack_info(d, &i);
	addr_text(&i, ip, sizeof(ip), gw);
	kprintf("%s ip=%s gw=%s\n", d->name, ip, gw);
	return 0;
}

static int never(void *arg)
{
	(void)arg;
	return 0;
}

static uint16_t echo_id(void) { return (uint16_t)(plat_time_ns() >> 10); }

int cmd_ping(struct args *a)
{
	uint32_t dst;
	uint64_t count = 4, received = 0, sent = 0;
	uint16_t id = echo_id();

	if (a->argc < 2 || a->argc > 3)
		return shell_error("usage: ping ADDR [COUNT]");
	if (ip4_parse(a->argv[1], &dst) < 0)
		return shell_error("ping: %s: not an address (A.B.C.D)", a->argv[1]);
	if (a->argc == 3 && (parse_u64(a->argv[2], &count) < 0 || count == 0 || count > PING_MAX_COUNT))
		return shell_error("ping: COUNT must be 1..%d", PING_MAX_COUNT);
	while (sent < count) {
		uint64_t start = plat_time_ns(), rtt;
		int err = netstack_ping(dst, id, (uint16_t)(sent + 1), PING_SIZE, PING_INTERVAL_NS, &rtt);
		sent++;
		if (err == -ENETUNREACH || err == -ENOBUFS || err == -EINVAL)
			return shell_error("ping: %s: %s", a->argv[1], errstr(err));
		if (err == 0) {
			received++;
			kprintf("reply from %s seq=%" PRIu64 " time_us=%" PRIu64 "\n", a->argv[1], sent,
				rtt / 1000);
		}
		/* At most one a second: the rest of the second serves the network. */
		uint64_t spent = plat_time_ns() - start;
		if (sent < count && spent < PING_INTERVAL_NS)
			netstack_wait(never, NULL, PING_INTERVAL_NS - spent);
	}
	if (received == 0)
		return shell_error("ping %s: no reply (sent=%" PRIu64 ")", a->argv[1], sent);
	kprintf("ping %s sent=%" PRIu64 " received=%" PRIu64 "\n", a->argv[1], sent, received);
	return 0;
}

/* bench net ping ADDR COUNT: echoes back to back, one in flight. */
int cmd_bench_net(struct args *a)
{
	uint32_t dst;
	uint64_t count, sent = 0, lost_in_row = 0, p50, p99;
	uint16_t id = echo_id();
	char p50s[24], p99s[24];

	if (a->argc != 5 || strcmp(a->argv[2], "ping") != 0)
		return shell_error("usage: bench net ping ADDR COUNT");
	if (ip4_parse(a->argv[3], &dst) < 0)
		return shell_error("bench: %s: not an address (A.B.C.D)", a->argv[3]);
	if (parse_u64(a->argv[4], &count) < 0 || count == 0 || count > LATENCY_MAX)
		return shell_error("bench: COUNT must be 1..%u", LATENCY_MAX);
	latency_reset();
	/* A peer that stops answering ends the run: each lost echo costs a second. */
	while (sent < count && lost_in_row < BENCH_PING_GIVE_UP) {
		uint64_t rtt;
		int err = netstack_ping(dst, id, (uint16_t)++sent, PING_SIZE, PING_INTERVAL_NS, &rtt);
		if (err == -ENETUNREACH || err == -ENOBUFS)
			return shell_error("bench: %s: %s", a->argv[3], errstr(err));
		lost_in_row = err == 0 ? 0 : lost_in_row + 1;
		if (err == 0)
			latency_add(rtt);
	}
	if (latency_count() == 0)
		return shell_error("bench: %s: no reply (sent=%" PRIu64 ")", a->argv[3], sent);
	latency_percentiles(&p50, &p99);
	fmt_tenths(p50s, sizeof(p50s), p50);
	fmt_tenths(p99s, sizeof(p99s), p99);
	kprintf("bench net op=ping count=%" PRIu64 " received=%u p50_us=%s p99_us=%s\n", sent,
		latency_count(), p50s, p99s);
	return 0;
}

static int iperfd_start_rw(uint16_t port, int rw)
{
	(void)rw;
	return iperfd_start(port);
}

/* NAME start [PORT] [rw] | NAME stop, for one service. */
static int service_cmd(struct args *a, const char *name, uint16_t port, int can_rw,
		       int (*start)(uint16_t port, int rw), int (*stop)(void))
{
	int rw = 0, err;
	uint64_t p;

	if (a->argc == 2 && strcmp(a->argv[1], "stop") == 0) {
		err = stop();
		return err < 0 ? shell_error("%s: not running", name) : 0;
	}
	if (a->argc < 2 || strcmp(a->argv[1], "start") != 0 || a->argc > 3 + can_rw)
		goto usage;
	for (int i = 2; i < a->argc; i++) {
		if (can_rw && strcmp(a->argv[i], "rw") == 0 && !rw)
			rw = 1;
		else if (i == 2 && parse_u64(a->argv[i], &p) == 0 && p >= 1 && p <= 65535)
			port = (uint16_t)p;
		else
			goto usage;
	}
	err = start(port, rw);
	if (err == -EBUSY)
		return shell_error("%s: already running (%s stop first)", name, name);
	if (err == -EADDRINUSE)
		return shell_error("%s: port %u is taken", name, port);
	return err < 0 ? shell_error("%s: %s", name, errstr(err)) : 0;
usage:
	return shell_error("usage: %s start [PORT]%s | %s stop", name, can_rw ? " [rw]" : "", name);
}

int cmd_httpd(struct args *a) { return service_cmd(a, "httpd", 80, 1, httpd_start, httpd_stop); }
int cmd_iperf(struct args *a) { return service_cmd(a, "iperf", 5001, 0, iperfd_start_rw, iperfd_stop); }
int cmd_tftpd(struct args *a) { return service_cmd(a, "tftpd", 69, 1, tftpd_start, tftpd_stop); }

int cmd_http(struct args *a)
{
	struct http_get_result r;
	char mibps[24];

	if (a->argc != 4 || strcmp(a->argv[1], "get") != 0)
		return shell_error("usage: http get URL PATH");
	int err = http_get(a->argv[2], a->argv[3], &r);
	if (err == -EINVAL && strncmp(a->argv[2], "http://", 7) != 0)
		return shell_error("http get: %s: not http://A.B.C.D[:PORT]/PATH", a->argv[2]);
	if (err == -EPROTO && r.status && r.status / 100 != 2)
		return shell_error("http get: %s: status %d; %s not written", a->argv[2], r.status,
				   a->argv[3]);
	if (err < 0)
		return shell_error("http get: %s: %s; %s not written", a->argv[2], errstr(err), a->argv[3]);
	fmt_tenths(mibps, sizeof(mibps),
		   r.ns ? (uint64_t)((unsigned __int128)r.size * 10 * 1000000000u / r.ns >> 20) : 0);
	kprintf("http get status=%d size=%" PRIu64 " ns=%" PRIu64 " mibps=%s\n", r.status, r.size, r.ns,
		mibps);
	return 0;
}
