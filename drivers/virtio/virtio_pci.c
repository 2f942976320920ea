/*
 * Finding virtio functions on PCI: the loop both drivers share.  Each
 * function of the driver's type, in PCI order, gets the next free slot of
 * the driver's static devices, is bound to its modern interface (or, a
 * transitional function without one, to its legacy I/O BAR) and started.
 */
#include <errno.h>
#include <string.h>

#include "drivers/virtio/virtio.h"

int virtio_pci_probe(const struct virtio_probe *p, const void *arg,
		     void (*report)(const struct pci_device *pci, int err, const char *why))
{
	int started = 0;

	for (int i = 0; i < pci_count(); i++) {
		struct pci_device *pci = pci_get(i);
		if (pci->vendor != 0x1AF4 ||
		    (pci->device != p->transitional_id && pci->device != p->modern_id))
			continue;
		if (*p->used == p->slots) {
			report(pci, -ENOSPC, p->too_many);
			continue;
		}
		const char *why = "no usable transport";
		struct virtio_dev *d = p->dev(*p->used);
		pci_enable(pci);
		int err = virtio_pci_modern_bind(d, pci);
		if (err < 0 && pci->device == p->transitional_id)
			err = virtio_pci_legacy_bind(d, pci);
		if (err == 0)
			err = p->start(*p->used, arg, &why);
		/* Once its interrupts are set up their handlers point at this
		 * slot, so it is not used again, even for a device that failed:
		 * on a shared line its handler still quiets it. */
		if (p->keep(*p->used))
			++*p->used;
		if (err < 0) {
			report(pci, err, why);
			continue;
		}
		started++;
	}
	return started;
}
