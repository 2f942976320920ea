/*
 * Modern virtio-pci (virtio 1.x section 4.1): the registers live in memory
 * BARs that vendor capabilities point at.
 *
 *   common config (type 1): features, status, queue set-up (layout below)
 *   notify (type 2): queue q is kicked by writing q at
 *                    notify base + queue_notify_off(q) * notify_off_multiplier
 *   ISR (type 3): one byte, read clears
 *   device config (type 4): the virtio-blk fields
 *
 * Each register is accessed with its own width; 64-bit queue addresses are
 * written as two 32-bit halves, which the specification allows.
 */
#include <errno.h>
#include <stddef.h>

#include "drivers/platform.h"
#include "drivers/virtio/virtio.h"

#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* struct virtio_pci_common_cfg offsets */
#define C_DEVICE_FEATURE_SELECT 0x00
#define C_DEVICE_FEATURE 0x04
#define C_DRIVER_FEATURE_SELECT 0x08
#define C_DRIVER_FEATURE 0x0C
#define C_CONFIG_MSIX_VECTOR 0x10
#define C_NUM_QUEUES 0x12
#define C_DEVICE_STATUS 0x14
#define C_CONFIG_GENERATION 0x15
#define C_QUEUE_SELECT 0x16
#define C_QUEUE_SIZE 0x18
#define C_QUEUE_MSIX_VECTOR 0x1A
#define C_QUEUE_ENABLE 0x1C
#define C_QUEUE_NOTIFY_OFF 0x1E
#define C_QUEUE_DESC 0x20
#define C_QUEUE_DRIVER 0x28
#define C_QUEUE_DEVICE 0x30
#define COMMON_LEN 0x38

#define R8(d, off) (*(volatile uint8_t *)((d)->common + (off)))
#define R16(d, off) (*(volatile uint16_t *)((d)->common + (off)))
#define R32(d, off) (*(volatile uint32_t *)((d)->common + (off)))

static uint8_t get_status(struct virtio_dev *d) { return R8(d, C_DEVICE_STATUS); }
static void set_status(struct virtio_dev *d, uint8_t s) { R8(d, C_DEVICE_STATUS) = s; }

static uint64_t get_features(struct virtio_dev *d)
{
	R32(d, C_DEVICE_FEATURE_SELECT) = 0;
	uint64_t lo = R32(d, C_DEVICE_FEATURE);
	R32(d, C_DEVICE_FEATURE_SELECT) = 1;
	return lo | (uint64_t)R32(d, C_DEVICE_FEATURE) << 32;
}

static void set_features(struct virtio_dev *d, uint64_t f)
{
	R32(d, C_DRIVER_FEATURE_SELECT) = 0;
	R32(d, C_DRIVER_FEATURE) = (uint32_t)f;
	R32(d, C_DRIVER_FEATURE_SELECT) = 1;
	R32(d, C_DRIVER_FEATURE) = (uint32_t)(f >> 32);
}

static uint8_t config_generation(struct virtio_dev *d) { return R8(d, C_CONFIG_GENERATION); }

static int read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width)
{
	volatile uint8_t *p = d->device_cfg + off;

	if (!d->device_cfg || off + width > d->device_cfg_len)
		return -EINVAL;
	switch (width) {
	case 1:
		*(uint8_t *)buf = *p;
		break;
	case 2:
		*(uint16_t *)buf = *(volatile uint16_t *)p;
		break;
	case 4:
		*(uint32_t *)buf = *(volatile uint32_t *)p;
		break;
	default: { /* 8: two 32-bit halves, low then high; the generation loop
		    * makes them one value */
		uint32_t lo = *(volatile uint32_t *)p;
		uint32_t hi = *(volatile uint32_t *)(p + 4);
		*(uint64_t *)buf = lo | (uint64_t)hi << 32;
		break;
	}
	}
	return 0;
}

static unsigned num_queues(struct virtio_dev *d) { return R16(d, C_NUM_QUEUES); }

static unsigned queue_max(struct virtio_dev *d, unsigned q)
{
	if (q >= num_queues(d))
		return 0;
	R16(d, C_QUEUE_SELECT) = (uint16_t)q;
	return R16(d, C_QUEUE_SIZE);
}

static void write64(struct virtio_dev *d, unsigned off, uint64_t v)
{
	R32(d, off) = (uint32_t)v;
	R32(d, off + 4) = (uint32_t)(v >> 32);
}

static int queue_setup(struct virtio_dev *d, unsigned q, unsigned size, uint64_t desc, uint64_t driver,
		       uint64_t device, uint16_t vector)
{
	unsigned slot = 0;

	while (slot < d->nnotify && d->notify_q[slot] != q)
		slot++; /* the queue's doorbell, if it was set up before a reset */
	if (slot == VIRTIO_MAX_QUEUES || size == 0 || size > queue_max(d, q))
		return -EINVAL;
	R16(d, C_QUEUE_SELECT) = (uint16_t)q;
	/* 64 bits: a device's 16-bit offset times its 32-bit multiplier must
	 * not wrap past the check into memory outside the capability. */
	uint64_t off = (uint64_t)R16(d, C_QUEUE_NOTIFY_OFF) * d->notify_mult;
	if (off + 2 > d->notify_len)
		return -EINVAL;
	d->notify_q[slot] = (uint16_t)q;
	d->notify_at[slot] = (volatile uint16_t *)(d->notify_base + off);
	if (slot == d->nnotify)
		d->nnotify++;
	R16(d, C_QUEUE_SIZE) = (uint16_t)size;
	R16(d, C_QUEUE_MSIX_VECTOR) = vector;
	if (R16(d, C_QUEUE_MSIX_VECTOR) != vector)
		return -EIO; /* the device could not allocate the vector */
	write64(d, C_QUEUE_DESC, desc);
	write64(d, C_QUEUE_DRIVER, driver);
	write64(d, C_QUEUE_DEVICE, device);
	R16(d, C_QUEUE_ENABLE) = 1;
	return 0;
}

static int set_config_vector(struct virtio_dev *d, uint16_t vector)
{
	R16(d, C_CONFIG_MSIX_VECTOR) = vector;
	return R16(d, C_CONFIG_MSIX_VECTOR) == vector ? 0 : -EIO;
}

/* Queue 0 is in the first slot: the block driver's doorbell is found at once. */
static void notify(struct virtio_dev *d, unsigned q)
{
	for (unsigned i = 0; i < d->nnotify; i++)
		if (d->notify_q[i] == q) {
			*d->notify_at[i] = (uint16_t)q;
			return;
		}
}
static uint8_t isr(struct virtio_dev *d) { return *d->isr_reg; }
static void msix_changed(struct virtio_dev *d, int on) { (void)d, (void)on; }

static const struct virtio_transport modern = {
	.name = "modern",
	.modern = 1,
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

int virtio_pci_modern_bind(struct virtio_dev *d, struct pci_device *pci)
{
	d->common = d->notify_base = d->isr_reg = d->device_cfg = NULL;
	d->nnotify = 0;
	for (unsigned cap = pci_find_cap(pci, PCI_CAP_VENDOR, 0); cap;
	     cap = pci_find_cap(pci, PCI_CAP_VENDOR, cap)) {
		uint8_t type = pci_read8(pci, cap + 3);
		uint8_t bar = pci_read8(pci, cap + 4);
		uint32_t off = pci_read32(pci, cap + 8);
		uint32_t len = pci_read32(pci, cap + 12);
		uint8_t cap_len = pci_read8(pci, cap + 2);
		if (bar > 5 || pci->bar[bar].is_io || cap_len < 16)
			continue;
		/* The first capability of each type is the preferred one. */
		if (type == CAP_COMMON && !d->common && len >= COMMON_LEN) {
			d->common = pci_map_bar(pci, bar, off, len);
		} else if (type == CAP_NOTIFY && !d->notify_base && cap_len >= 20) {
			/* The multiplier is 0 or an even power of 2 (spec 4.1.4.4). */
			uint32_t mult = pci_read32(pci, cap + 16);
			if (mult == 1 || (mult & (mult - 1)))
				continue;
			d->notify_base = pci_map_bar(pci, bar, off, len);
			d->notify_mult = mult;
			d->notify_len = len;
		} else if (type == CAP_ISR && !d->isr_reg && len >= 1) {
			d->isr_reg = pci_map_bar(pci, bar, off, len);
		} else if (type == CAP_DEVICE && !d->device_cfg) {
			d->device_cfg = pci_map_bar(pci, bar, off, len);
			d->device_cfg_len = len;
		}
	}
	if (!d->common || !d->notify_base || !d->isr_reg)
		return -ENODEV;
	d->t = &modern;
	d->pci = pci;
	return 0;
}
