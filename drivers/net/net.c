/* Network-device registry: eth0, eth1, ... in the order drivers register. */
#include "drivers/net/net.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct net_device *devices[NET_MAX_DEVICES];
static int ndevices;

int net_register(struct net_device *dev)
{
	if (ndevices == NET_MAX_DEVICES)
		return -ENOSPC;
	snprintf(dev->name, sizeof(dev->name), "eth%d", ndevices);
	devices[ndevices++] = dev;
	return 0;
}

int net_count(void) { return ndevices; }

struct net_device *net_get(int i) { return i >= 0 && i < ndevices ? devices[i] : NULL; }

struct net_device *net_find(const char *name)
{
	for (int i = 0; i < ndevices; i++)
		if (strcmp(devices[i]->name, name) == 0)
			return devices[i];
	return NULL;
}
