/*
 * A virtio device as the drivers see it: status, features, device
 * configuration and queues, behind a transport (legacy or modern
 * virtio-pci, or a simulated device in the host tests).
 */
#ifndef DRIVERS_VIRTIO_VIRTIO_H
#define DRIVERS_VIRTIO_VIRTIO_H

#include <stdint.h>

#include "drivers/pci/pci.h"

/* Device status bits (virtio 1.x section 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Device-independent feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_PACKED 34

#define VIRTIO_NO_VECTOR 0xFFFF
#define VIRTIO_MAX_QUEUES 4 /* queues a driver may set up (their indices may be higher) */

struct virtio_dev;

struct virtio_transport {
	const char *name; /* "legacy" or "modern" */
	int modern; /* virtio 1.x: VERSION_1 required, FEATURES_OK exists */
	uint8_t (*get_status)(struct virtio_dev *d);
	void (*set_status)(struct virtio_dev *d, uint8_t status);
	uint64_t (*get_features)(struct virtio_dev *d);
	void (*set_features)(struct virtio_dev *d, uint64_t features);
	/* One device-configuration field of `width` bytes (1, 2, 4 or 8, off a
	 * multiple of width), read with accesses of its own width (an 8-byte
	 * field as two 4-byte halves, low first).  Returns 0, or -EINVAL past
	 * the configuration the device has.  virtio_read_config() adds the
	 * checks and the generation loop. */
	int (*read_config)(struct virtio_dev *d, unsigned off, void *buf, unsigned width);
	uint8_t (*config_generation)(struct virtio_dev *d);
	/* The device's largest size for queue q (0: no such queue). */
	unsigned (*queue_max)(struct virtio_dev *d, unsigned q);
	/* Gives queue q its size, areas and MSI-X entry (VIRTIO_NO_VECTOR for
	 * none) and enables it.  Returns 0, -EINVAL (a layout the transport
	 * cannot express) or -EIO (the device refused the vector). */
	int (*queue_setup)(struct virtio_dev *d, unsigned q, unsigned size, uint64_t desc, uint64_t driver,
			   uint64_t device, uint16_t vector);
	int (*set_config_vector)(struct virtio_dev *d, uint16_t vector);
	void (*notify)(struct virtio_dev *d, unsigned q);
	/* Reads (and so clears) the ISR status: bit 0 queue, bit 1 config. */
	uint8_t (*isr)(struct virtio_dev *d);
	/* Tells the transport MSI-X is on (legacy moves its device config). */
	void (*msix_changed)(struct virtio_dev *d, int on);
};

struct virtio_dev {
	const struct virtio_transport *t;
	struct pci_device *pci;
	uint64_t features; /* negotiated */

	/* legacy transport */
	uint16_t io;
	uint32_t io_len; /* bytes of the I/O BAR */
	int legacy_msix;

	/* modern transport */
	volatile uint8_t *common;
	volatile uint8_t *notify_base;
	uint32_t notify_mult;
	uint32_t notify_len;
	/* the doorbells of the queues set up: queue notify_q[i] at notify_at[i] */
	uint16_t notify_q[VIRTIO_MAX_QUEUES];
	volatile uint16_t *notify_at[VIRTIO_MAX_QUEUES];
	unsigned nnotify;
	volatile uint8_t *isr_reg;
	volatile uint8_t *device_cfg;
	uint32_t device_cfg_len;

	/* simulated transport (host tests) */
	void *sim;
};

/* Binds d to a PCI function: modern if it has the virtio 1.x capabilities,
 * else legacy (I/O BAR 0).  Returns 0 or -ENODEV. */
int virtio_pci_modern_bind(struct virtio_dev *d, struct pci_device *pci);
int virtio_pci_legacy_bind(struct virtio_dev *d, struct pci_device *pci);

/* Resets the device (status 0) and waits, bounded, for it to read back 0.
 * Returns 0 or -ETIMEDOUT. */
int virtio_reset(struct virtio_dev *d);

/* The start of the initialisation sequence: reset, ACKNOWLEDGE, DRIVER,
 * then features = offered & wanted (VERSION_1 required on modern, refused
 * on legacy), FEATURES_OK written and read back.  On failure sets FAILED
 * and returns -ENODEV (reset timed out), -ENOTSUP (FEATURES_OK refused).
 * It is virtio_begin() then virtio_accept(). */
int virtio_negotiate(struct virtio_dev *d, uint64_t wanted);

/* The same in two steps, for a driver that must read the device
 * configuration before it knows what to accept (spec 3.1.1 allows reading
 * it, not writing it, in between): virtio_begin() resets, says
 * ACKNOWLEDGE and DRIVER, and sets *offered (legacy: 32 bits); then
 * virtio_accept(wanted).  Errors as virtio_negotiate(). */
int virtio_begin(struct virtio_dev *d, uint64_t *offered);
int virtio_accept(struct virtio_dev *d, uint64_t wanted);

/* Last step: DRIVER_OK. */
void virtio_driver_ok(struct virtio_dev *d);

/* Marks the device FAILED (the driver gave up on it). */
void virtio_fail(struct virtio_dev *d);

/* Reads one device-configuration field of `width` bytes (1, 2, 4 or 8) at
 * off (a multiple of width) consistently, as virtio 1.x section 4.1.3.1
 * and 2.5.1 require: each field with accesses of its natural width,
 * retried while the configuration generation changes under the read (a
 * legacy device has no generation: the field is read twice until both
 * agree).  Returns 0, -EINVAL (bad width, alignment, or past the device's
 * configuration) or -EIO (it kept changing: the device is not sane). */
int virtio_read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width);

/* A driver's kind of virtio PCI function, for virtio_pci_probe(). */
struct virtio_probe {
	uint16_t transitional_id, modern_id; /* 0x1AF4 device ids */
	const char *too_many; /* the report when every slot is taken */
	int slots; /* devices the driver has room for */
	int *used; /* slots taken so far */
	/* Slot i's transport, zeroed. */
	struct virtio_dev *(*dev)(int i);
	/* Starts the device of slot i (bound) and hands it on (registers it);
	 * returns 0, or a negative errno with *why. */
	int (*start)(int i, const void *arg, const char **why);
	/* 1 if slot i is taken for good (its interrupts point at it). */
	int (*keep)(int i);
};

/* Binds and starts every function of p's kind, in PCI order, calling
 * report(pci, err, why) for each that fails.  Returns the number started. */
int virtio_pci_probe(const struct virtio_probe *p, const void *arg,
		     void (*report)(const struct pci_device *pci, int err, const char *why));

static inline int virtio_has(const struct virtio_dev *d, unsigned bit) { return (d->features >> bit) & 1; }

#endif
