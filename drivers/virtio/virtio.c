/*
 * The device initialisation sequence of virtio 1.x section 3.1, common to
 * every transport and device type.
 */
#include "drivers/virtio/virtio.h"

#include <errno.h>
#include <string.h>

#include "drivers/platform.h"

#define RESET_TIMEOUT_NS 1000000000ull
#define CONFIG_TRIES 100 /* a configuration that changes this often is not being updated, it is broken */

int virtio_reset(struct virtio_dev *d)
{
	d->t->set_status(d, 0);
	uint64_t deadline = plat_time_ns() + RESET_TIMEOUT_NS;
	while (d->t->get_status(d) != 0) {
		if (plat_time_ns() > deadline)
			return -ETIMEDOUT;
	}
	return 0;
}

void virtio_fail(struct virtio_dev *d) { d->t->set_status(d, d->t->get_status(d) | VIRTIO_STATUS_FAILED); }

int virtio_begin(struct virtio_dev *d, uint64_t *offered)
{
	/* Whatever the firmware left running (OVMF drives this disk too) stops here. */
	if (virtio_reset(d) < 0) {
		virtio_fail(d);
		return -ENODEV;
	}
	d->t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
	d->t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	*offered = d->t->get_features(d);
	return 0;
}

int virtio_accept(struct virtio_dev *d, uint64_t wanted)
{
	uint64_t offered = d->t->get_features(d);

	if (d->t->modern) /* a modern interface speaks virtio 1.x or nothing */
		wanted |= 1ull << VIRTIO_F_VERSION_1;
	else /* legacy: 32 feature bits, no packed ring */
		wanted &= 0xFFFFFFFFull;
	d->features = offered & wanted;
	if (d->t->modern && !virtio_has(d, VIRTIO_F_VERSION_1)) {
		virtio_fail(d);
		return -ENOTSUP;
	}
	d->t->set_features(d, d->features);
	if (d->t->modern) {
		/* Only virtio 1.x has FEATURES_OK: the device may refuse our subset. */
		d->t->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					    VIRTIO_STATUS_FEATURES_OK);
		if (!(d->t->get_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
			virtio_fail(d);
			return -ENOTSUP;
		}
	}
	return 0;
}

int virtio_negotiate(struct virtio_dev *d, uint64_t wanted)
{
	uint64_t offered;
	int err = virtio_begin(d, &offered);

	return err < 0 ? err : virtio_accept(d, wanted);
}

void virtio_driver_ok(struct virtio_dev *d)
{
	d->t->set_status(d, d->t->get_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

int virtio_read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width)
{
	if ((width != 1 && width != 2 && width != 4 && width != 8) || off % width)
		return -EINVAL;
	for (int tries = 0; tries < CONFIG_TRIES; tries++) {
		uint8_t before = d->t->config_generation(d);
		int err = d->t->read_config(d, off, buf, width);
		if (err < 0)
			return err;
		if (!d->t->modern) {
			uint64_t again;
			err = d->t->read_config(d, off, &again, width);
			if (err < 0)
				return err;
			if (memcmp(buf, &again, width) != 0)
				continue;
		}
		if (d->t->config_generation(d) == before)
			return 0;
	}
	return -EIO;
}
