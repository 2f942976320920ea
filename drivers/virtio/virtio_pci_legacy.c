/*
 * Legacy virtio-pci (virtio 0.9.5): every register in I/O BAR 0.
 *
 *   0x00 device features (32 bits)   0x0E queue select
 *   0x04 driver features             0x10 queue notify
 *   0x08 queue address (PFN, 4 KiB)  0x12 device status
 *   0x0C queue size (read-only)      0x13 ISR status (read clears)
 *   0x14 config vector, 0x16 queue vector: only while MSI-X is on, and then
 *   the device configuration starts at 0x18 instead of 0x14.
 *
 * The queue must use the legacy layout: descriptors, available ring, then
 * the used ring at the next 4096-byte boundary, all from one page number.
 */
#include <errno.h>

#include "drivers/platform.h"
#include "drivers/virtio/virtio.h"

#define REG_DEVICE_FEATURES 0x00
#define REG_DRIVER_FEATURES 0x04
#define REG_QUEUE_PFN 0x08
#define REG_QUEUE_SIZE 0x0C
#define REG_QUEUE_SELECT 0x0E
#define REG_QUEUE_NOTIFY 0x10
#define REG_STATUS 0x12
#define REG_ISR 0x13
#define REG_CONFIG_VECTOR 0x14
#define REG_QUEUE_VECTOR 0x16

static uint8_t get_status(struct virtio_dev *d) { return plat_inb(d->io + REG_STATUS); }
static void set_status(struct virtio_dev *d, uint8_t s) { plat_outb(d->io + REG_STATUS, s); }
static uint64_t get_features(struct virtio_dev *d) { return plat_inl(d->io + REG_DEVICE_FEATURES); }
static void set_features(struct virtio_dev *d, uint64_t f)
{
	plat_outl(d->io + REG_DRIVER_FEATURES, (uint32_t)f);
}
static uint8_t config_generation(struct virtio_dev *d)
{
	(void)d;
	return 0; /* legacy has none; the device config of virtio-blk is stable */
}

/* The device configuration follows the registers, in the same I/O BAR. */
static int read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width)
{
	uint32_t at = (d->legacy_msix ? 0x18 : 0x14) + off;

	if (at + width > d->io_len)
		return -EINVAL;
	uint16_t port = (uint16_t)(d->io + at);
	switch (width) {
	case 1:
		*(uint8_t *)buf = plat_inb(port);
		break;
	case 2:
		*(uint16_t *)buf = plat_inw(port);
		break;
	case 4:
		*(uint32_t *)buf = plat_inl(port);
		break;
	default: /* 8: two 32-bit halves, read twice by virtio_read_config */
		*(uint64_t *)buf = plat_inl(port) | (uint64_t)plat_inl((uint16_t)(port + 4)) << 32;
		break;
	}
	return 0;
}

static unsigned queue_max(struct virtio_dev *d, unsigned q)
{
	plat_outw(d->io + REG_QUEUE_SELECT, (uint16_t)q);
	return plat_inw(d->io + REG_QUEUE_SIZE);
}

static int queue_setup(struct virtio_dev *d, unsigned q, unsigned size, uint64_t desc, uint64_t driver,
		       uint64_t device, uint16_t vector)
{
	/* The size is the device's and the areas must be contiguous. */
	if (size != queue_max(d, q) || (desc & 4095) || driver != desc + 16ull * size ||
	    device != ((driver + 6 + 2ull * size + 4095) & ~4095ull) || (desc >> 12) > 0xFFFFFFFFull)
		return -EINVAL;
	if (d->legacy_msix) {
		plat_outw(d->io + REG_QUEUE_VECTOR, vector);
		if (plat_inw(d->io + REG_QUEUE_VECTOR) != vector)
			return -EIO;
	}
	plat_outl(d->io + REG_QUEUE_PFN, (uint32_t)(desc >> 12));
	return 0;
}

static int set_config_vector(struct virtio_dev *d, uint16_t vector)
{
	if (!d->legacy_msix)
		return vector == VIRTIO_NO_VECTOR ? 0 : -EIO;
	plat_outw(d->io + REG_CONFIG_VECTOR, vector);
	return plat_inw(d->io + REG_CONFIG_VECTOR) == vector ? 0 : -EIO;
}

static void notify(struct virtio_dev *d, unsigned q) { plat_outw(d->io + REG_QUEUE_NOTIFY, (uint16_t)q); }
static uint8_t isr(struct virtio_dev *d) { return plat_inb(d->io + REG_ISR); }
static void msix_changed(struct virtio_dev *d, int on) { d->legacy_msix = on; }

static const struct virtio_transport legacy = {
	.name = "legacy",
	.modern = 0,
	.get_status = get_status,
	.set_status = set_status,
	.get_features = get_features,
	.set_features = set_features,
	.read_config = read_config,
	.config_generation = config_generation,
	.queue_max = queue_max,
	.queue_setup = queue_setup,
	.set_config_vector = set_config_vector,
	.notify = notify,
	.isr = isr,
	.msix_changed = msix_changed,
};

int virtio_pci_legacy_bind(struct virtio_dev *d, struct pci_device *pci)
{
	if (!pci->bar[0].is_io || pci->bar[0].size < 0x14)
		return -ENODEV;
	d->t = &legacy;
	d->pci = pci;
	d->io = (uint16_t)pci->bar[0].addr;
	d->io_len = pci->bar[0].size > 0xFFFF ? 0xFFFF : (uint32_t)pci->bar[0].size;
	d->legacy_msix = 0;
	return 0;
}
