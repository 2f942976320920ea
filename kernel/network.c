#include "kernel/network.h"

#include "drivers/virtio/virtio_net.h"
#include "kernel/console.h"
#include "kernel/errstr.h"
#include "kernel/volumes.h"
#include "lib/net/netfs.h"
#include "lib/net/netstack.h"
#include "lib/net/services.h"

static void report(const struct pci_device *pci, int err, const char *why)
{
	kprintf("warning: virtio-net at %02x:%02x.%x: %s (%s); device left alone\n", pci->bus, pci->dev,
		pci->fn, why, errstr(err));
}

/* net.serve: each service read-only, as its command without rw. */
static void serve_at_boot(const struct kernel_options *o)
{
	static const char *const names[NET_SERVICES] = {"httpd", "tftpd", "iperf"};

	for (int i = 0; i < NET_SERVICES; i++) {
		uint16_t port = o->net_serve[i];
		if (!port)
			continue;
		int err = i == NET_SERVE_HTTP	? httpd_start(port, 0)
			  : i == NET_SERVE_TFTP ? tftpd_start(port, 0)
						: iperfd_start(port);
		if (err < 0)
			kprintf("warning: net.serve: %s on port %u: %s\n", names[i], port, errstr(err));
		else
			kprintf("tinyvio: %s on port %u%s\n", names[i], port, i == NET_SERVE_IPERF ? "" : " (read-only)");
	}
}

void network_init(const struct kernel_options *o)
{
	struct virtio_net_options opt = {
		.use_irq = o->net_mode == VIRTIO_MODE_IRQ,
		.allow_packed = o->virtio_packed,
	};

	virtio_net_probe_all(&opt, report);
	if (net_count() == 0) {
		for (int i = 0; i < NET_SERVICES; i++)
			if (o->net_serve[i]) {
				kprintf("warning: net.serve: no network card; nothing served\n");
				break;
			}
		return;
	}
	netstack_init();
	netfs_init(volume_resolve);
	for (int i = 0; i < net_count(); i++) {
		struct net_device *d = net_get(i);
		struct virtio_net *vn = virtio_net_of(d);
		const uint8_t *m = d->mac;
		kprintf("tinyvio: %s: %02x:%02x:%02x:%02x:%02x:%02x%s, virtio %s, %s ring, %s, link %s\n",
			d->name, m[0], m[1], m[2], m[3], m[4], m[5],
			virtio_has(&vn->vdev, VIRTIO_NET_F_MAC) ? "" : " (made up: the device has no MAC)",
			vn->vdev.t->name, vn->rxq.packed ? "packed" : "split", vn->mode,
			d->link_up ? "up" : "down");
	}
	struct net_device *eth0 = net_get(0);
	if (o->net_ip.how == NET_IP_DHCP)
		netstack_dhcp_start(eth0);
	else if (o->net_ip.how == NET_IP_STATIC)
		netstack_set_static(eth0, o->net_ip.ip, o->net_ip.prefix, o->net_ip.gw);
	serve_at_boot(o);
	console_set_idle(netstack_idle);
}
