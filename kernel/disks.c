#include "kernel/disks.h"

#include "drivers/pci/pci.h"
#include "drivers/virtio/virtio_blk.h"
#include "kernel/acpi.h"
#include "kernel/console.h"
#include "kernel/errstr.h"

static void report(const struct pci_device *pci, int err, const char *why)
{
	kprintf("warning: virtio-blk at %02x:%02x.%x: %s (%s); device left alone\n", pci->bus, pci->dev,
		pci->fn, why, errstr(err));
}

void disks_init(const struct kernel_options *o)
{
	struct virtio_blk_options opt = {
		.use_irq = o->virtio_mode == VIRTIO_MODE_IRQ,
		.allow_packed = o->virtio_packed,
	};

	pci_init(acpi.ecam_base, acpi.ecam_bus_start, acpi.ecam_bus_end);
	virtio_blk_probe_all(&opt, report);
	for (int i = 0; i < blk_count(); i++) {
		struct blk_device *b = blk_get(i);
		struct virtio_blk *vb = virtio_blk_of(b);
		kprintf("tinyvio: %s: %llu MiB, %u-byte sectors, virtio %s, %s ring, %s%s\n", b->name,
			(unsigned long long)(b->sectors * b->sector_size >> 20), b->sector_size,
			vb->vdev.t->name, vb->vq.packed ? "packed" : "split", vb->mode,
			b->read_only ? ", read-only" : "");
	}
}
