/*
 * A simulated virtio-blk device behind a struct virtio_transport.  It takes
 * requests when the driver notifies (or, told not to want notifications,
 * whenever the CPU waits), executes them at once against a RAM disk, and
 * hands them back the next time the CPU waits, in order or reversed, or
 * when the test releases them.  It checks what QEMU checks and more: the
 * header is 16 device-readable bytes that do not cross a page, the status
 * byte is device-writable and last, segments respect SIZE_MAX and SEG_MAX,
 * sectors are aligned to the logical block, nothing past the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "drivers/virtio/virtio_blk.h"
#include "tests/unit/vsim.h"

/* One disk at a time; static, so a failing test leaks nothing. */
static uint8_t disk_store[4 << 20];

static struct vsim_blk *sim_of(struct virtio_dev *d) { return d->sim; }

void vsim_blk_init(struct vsim_blk *s, uint64_t sectors, uint32_t blk_size, uint64_t features, int modern)
{
	memset(s, 0, sizeof(*s));
	s->modern = modern;
	s->offered = features | (modern ? 1ull << VIRTIO_F_VERSION_1 : 0);
	s->queue_max = 256;
	s->disk_bytes = sectors * 512;
	if (s->disk_bytes > sizeof(disk_store))
		fail_msg("simulated disk larger than %zu bytes", sizeof(disk_store));
	memset(disk_store, 0, s->disk_bytes);
	s->disk = disk_store;
	s->blk_size = blk_size;
	s->fail_type = -1;
	s->queue_vector = s->config_vector = VIRTIO_NO_VECTOR;
	memcpy(&s->cfg[VIRTIO_BLK_CFG_CAPACITY], &sectors, 8);
	memcpy(&s->cfg[VIRTIO_BLK_CFG_BLK_SIZE], &blk_size, 4);
	s->cfg[VIRTIO_BLK_CFG_WRITEBACK] = 1;
	uint16_t nq = 1;
	memcpy(&s->cfg[VIRTIO_BLK_CFG_NUM_QUEUES], &nq, 2);
	/* As QEMU: one segment, the logical block as discard alignment. */
	vsim_blk_set_discard(s, (uint32_t)sectors, 1, blk_size / 512);
	vsim_blk_set_write_zeroes(s, (uint32_t)sectors, 1, 1);
}

void vsim_blk_set_size_max(struct vsim_blk *s, uint32_t size_max, uint32_t seg_max)
{
	memcpy(&s->cfg[VIRTIO_BLK_CFG_SIZE_MAX], &size_max, 4);
	memcpy(&s->cfg[VIRTIO_BLK_CFG_SEG_MAX], &seg_max, 4);
}

void vsim_blk_set_discard(struct vsim_blk *s, uint32_t max_sectors, uint32_t max_seg, uint32_t alignment)
{
	memcpy(&s->cfg[VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS], &max_sectors, 4);
	memcpy(&s->cfg[VIRTIO_BLK_CFG_MAX_DISCARD_SEG], &max_seg, 4);
	memcpy(&s->cfg[VIRTIO_BLK_CFG_DISCARD_SECTOR_ALIGNMENT], &alignment, 4);
}

void vsim_blk_set_write_zeroes(struct vsim_blk *s, uint32_t max_sectors, uint32_t max_seg, uint8_t may_unmap)
{
	memcpy(&s->cfg[VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS], &max_sectors, 4);
	memcpy(&s->cfg[VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG], &max_seg, 4);
	s->cfg[VIRTIO_BLK_CFG_WRITE_ZEROES_MAY_UNMAP] = may_unmap;
}

static void device_reset(struct vsim_blk *s)
{
	s->resets++;
	s->status = 0;
	s->negotiated = 0;
	s->queue_enabled = 0;
	s->npending = 0;
	s->in_flight = 0;
	s->isr = 0;
	s->queue_vector = s->config_vector = VIRTIO_NO_VECTOR;
	s->stopped = 0;
	memset(&s->ring, 0, sizeof(s->ring));
}

/* ---- the transport ---- */

static uint8_t t_get_status(struct virtio_dev *d)
{
	struct vsim_blk *s = sim_of(d);
	return s->stuck_in_reset && s->status == 0 ? VIRTIO_STATUS_ACKNOWLEDGE : s->status;
}

static void t_set_status(struct virtio_dev *d, uint8_t v)
{
	struct vsim_blk *s = sim_of(d);

	if (v == 0) {
		device_reset(s);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK)) {
		if (!s->modern)
			fail_msg("FEATURES_OK written to a legacy device");
		if (s->refuse_features_ok)
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FAILED) && s->modern &&
	    !(v & VIRTIO_STATUS_FEATURES_OK))
		fail_msg("DRIVER_OK without FEATURES_OK");
	s->status = v;
}

static uint64_t t_get_features(struct virtio_dev *d)
{
	struct vsim_blk *s = sim_of(d);
	return s->modern ? s->offered : s->offered & 0xFFFFFFFFull;
}

static void t_set_features(struct virtio_dev *d, uint64_t f)
{
	struct vsim_blk *s = sim_of(d);

	if (f & ~t_get_features(d))
		fail_msg("driver accepted features %#llx that were not offered",
			 (unsigned long long)(f & ~t_get_features(d)));
	s->negotiated = f;
}

static int t_read_config(struct virtio_dev *d, unsigned off, void *buf, unsigned width)
{
	struct vsim_blk *s = sim_of(d);

	if ((width != 1 && width != 2 && width != 4 && width != 8) || off % width)
		fail_msg("config field read with width %u at %u (spec 4.1.3.1)", width, off);
	if (off + width > sizeof(s->cfg))
		fail_msg("config read past the virtio-blk config");
	memcpy(buf, &s->cfg[off], width);
	s->config_reads++;
	if (s->config_churn) { /* the device changes its configuration under the read */
		s->config_churn--;
		s->generation++;
	}
	return 0;
}

static uint8_t t_config_generation(struct virtio_dev *d) { return sim_of(d)->generation; }
static unsigned t_queue_max(struct virtio_dev *d, unsigned q) { return q == 0 ? sim_of(d)->queue_max : 0; }

static int t_queue_setup(struct virtio_dev *d, unsigned q, unsigned size, uint64_t desc, uint64_t driver,
			 uint64_t device, uint16_t vector)
{
	struct vsim_blk *s = sim_of(d);

	if (q != 0 || size == 0 || size > s->queue_max || (!s->modern && size != s->queue_max))
		return -22;
	int packed = (s->negotiated >> VIRTIO_F_RING_PACKED) & 1;
	if (desc % 16 || driver % (packed ? 4 : 2) || device % 4)
		fail_msg("queue areas misaligned (spec 2.7.2 / 2.8.10)");
	s->queue_size = size;
	s->queue_vector = vector;
	s->q_desc = desc, s->q_driver = driver, s->q_device = device;
	vsim_ring_init(&s->ring, size, packed, (s->negotiated >> VIRTIO_F_EVENT_IDX) & 1, desc, driver,
		       device);
	s->ring.no_notify = s->device_polls;
	if (s->device_polls)
		vsim_ring_arm_notify(&s->ring);
	s->queue_enabled = 1;
	if (s->resize_at_queue_setup) { /* not live: nothing to announce to */
		memcpy(&s->cfg[VIRTIO_BLK_CFG_CAPACITY], &s->resize_at_queue_setup, 8);
		s->generation++;
		s->resize_at_queue_setup = 0;
	}
	return 0;
}

static int t_set_config_vector(struct virtio_dev *d, uint16_t vector)
{
	struct vsim_blk *s = sim_of(d);

	s->config_vector = s->refuse_config_vector ? VIRTIO_NO_VECTOR : vector;
	return s->config_vector == vector ? 0 : -EIO; /* as the transports, which read it back */
}

/* ---- requests ---- */

static uint8_t *status_byte(struct vsim_chain *c) { return &c->seg[c->n - 1].p[c->seg[c->n - 1].len - 1]; }

static int range_ok(struct vsim_blk *s, uint64_t sector, uint64_t bytes)
{
	uint32_t per = s->blk_size / 512;
	return bytes % s->blk_size == 0 && sector % per == 0 && sector <= s->disk_bytes / 512 &&
	       bytes <= s->disk_bytes - sector * 512;
}

/* Copies between the disk and the data segments (1..n-2). */
static void move_data(struct vsim_blk *s, struct vsim_chain *c, uint64_t sector, int to_guest)
{
	uint8_t *disk = s->disk + sector * 512;
	uint64_t done = 0;

	for (unsigned i = 1; i + 1 < c->n; i++) {
		if (to_guest)
			memcpy(c->seg[i].p, disk + done, c->seg[i].len);
		else
			memcpy(disk + done, c->seg[i].p, c->seg[i].len);
		done += c->seg[i].len;
	}
}

static uint32_t cfg32(struct vsim_blk *s, unsigned off)
{
	uint32_t v;
	memcpy(&v, &s->cfg[off], 4);
	return v;
}

/* The segments of a DISCARD or WRITE_ZEROES request (spec 5.2.6): checks
 * what a driver must get right, then deallocates (fills with
 * VSIM_DISCARDED) or zeroes. */
static uint8_t discard_write_zeroes(struct vsim_blk *s, struct vsim_chain *c, uint32_t type)
{
	int wz = type == VIRTIO_BLK_T_WRITE_ZEROES;
	unsigned feature = wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;
	uint32_t max =
		cfg32(s, wz ? VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SECTORS : VIRTIO_BLK_CFG_MAX_DISCARD_SECTORS);
	uint32_t max_seg =
		cfg32(s, wz ? VIRTIO_BLK_CFG_MAX_WRITE_ZEROES_SEG : VIRTIO_BLK_CFG_MAX_DISCARD_SEG);
	uint32_t per = s->blk_size / 512;
	unsigned nseg = 0;

	if (!(s->negotiated >> feature & 1))
		return VIRTIO_BLK_S_UNSUPP;
	for (unsigned i = 1; i + 1 < c->n; i++) {
		struct virtio_blk_discard_write_zeroes seg;
		if (c->seg[i].len % sizeof(seg))
			fail_msg("discard/write-zeroes buffer of %u bytes", c->seg[i].len);
		for (uint32_t off = 0; off < c->seg[i].len; off += sizeof(seg)) {
			memcpy(&seg, c->seg[i].p + off, sizeof(seg));
			if (++nseg > max_seg)
				fail_msg("%u segments > max %u", nseg, max_seg);
			if (seg.num_sectors == 0 || seg.num_sectors > max)
				fail_msg("segment of %u sectors, max %u", seg.num_sectors, max);
			if (!wz && seg.flags)
				fail_msg("discard with flags %#x (unmap is for write zeroes)", seg.flags);
			if (seg.flags & ~VIRTIO_BLK_WZ_UNMAP)
				fail_msg("reserved segment flags %#x", seg.flags);
			if (seg.sector % per || seg.num_sectors % per)
				fail_msg("segment not in whole logical blocks");
			if (!range_ok(s, seg.sector, (uint64_t)seg.num_sectors * 512)) {
				s->bad_requests++;
				return VIRTIO_BLK_S_IOERR;
			}
			if (s->nranges < sizeof(s->ranges) / sizeof(s->ranges[0]))
				s->ranges[s->nranges++] =
					(struct vsim_range){type, seg.sector, seg.num_sectors, seg.flags};
			memset(s->disk + seg.sector * 512, wz ? 0 : VSIM_DISCARDED,
			       (size_t)seg.num_sectors * 512);
		}
	}
	if (nseg == 0)
		fail_msg("discard/write-zeroes request without a segment");
	return VIRTIO_BLK_S_OK;
}

static void execute(struct vsim_blk *s, struct vsim_chain *c)
{
	struct virtio_blk_outhdr h;

	if (c->n < 2)
		fail_msg("request of %u buffers: header and status at least", c->n);
	if (c->seg[0].writable || c->seg[0].len != sizeof(h))
		fail_msg("first buffer is not the 16-byte device-readable header");
	if (((uintptr_t)c->seg[0].p & 4095) + sizeof(h) > 4096)
		fail_msg("request header straddles a page");
	if (!c->seg[c->n - 1].writable || c->seg[c->n - 1].len != 1)
		fail_msg("last buffer is not the 1-byte device-writable status");
	memcpy(&h, c->seg[0].p, sizeof(h));

	uint64_t bytes = 0;
	unsigned segs = c->n - 2;
	int want_writable = h.type == VIRTIO_BLK_T_IN || h.type == VIRTIO_BLK_T_GET_ID;
	uint32_t size_max, seg_max;
	memcpy(&size_max, &s->cfg[VIRTIO_BLK_CFG_SIZE_MAX], 4);
	memcpy(&seg_max, &s->cfg[VIRTIO_BLK_CFG_SEG_MAX], 4);
	for (unsigned i = 1; i + 1 < c->n; i++) {
		if (c->seg[i].writable != want_writable)
			fail_msg("data buffer %u has the wrong direction for type %u", i, h.type);
		if ((s->negotiated >> VIRTIO_BLK_F_SIZE_MAX & 1) && c->seg[i].len > size_max)
			fail_msg("segment of %u bytes > SIZE_MAX %u", c->seg[i].len, size_max);
		if (c->seg[i].len > s->max_seg_bytes)
			s->max_seg_bytes = c->seg[i].len;
		bytes += c->seg[i].len;
	}
	if ((s->negotiated >> VIRTIO_BLK_F_SEG_MAX & 1) && segs > seg_max)
		fail_msg("%u data segments > SEG_MAX %u", segs, seg_max);
	if (segs > s->max_segs)
		s->max_segs = segs;
	s->requests++;
	s->last_sector = h.sector;

	uint8_t status = VIRTIO_BLK_S_OK;
	/* Like QEMU, the used length is every device-writable byte, the status
	 * last: a failed read still claims its data buffers. */
	uint32_t written = (want_writable ? (uint32_t)bytes : 0) + 1;
	int hit = s->fail_type == (int)h.type &&
		  (h.type == VIRTIO_BLK_T_FLUSH ||
		   (h.sector < s->fail_hi && h.sector + (bytes + 511) / 512 > s->fail_lo));
	if (hit) {
		status = s->fail_status;
	} else if (h.type == VIRTIO_BLK_T_IN || h.type == VIRTIO_BLK_T_OUT) {
		if (!range_ok(s, h.sector, bytes)) {
			s->bad_requests++;
			status = VIRTIO_BLK_S_IOERR;
		} else if (h.type == VIRTIO_BLK_T_IN) {
			s->reads++;
			move_data(s, c, h.sector, 1);
		} else if (s->negotiated >> VIRTIO_BLK_F_RO & 1) {
			s->bad_requests++;
			status = VIRTIO_BLK_S_IOERR;
		} else {
			s->writes++;
			move_data(s, c, h.sector, 0);
		}
	} else if (h.type == VIRTIO_BLK_T_DISCARD || h.type == VIRTIO_BLK_T_WRITE_ZEROES) {
		status = discard_write_zeroes(s, c, h.type);
	} else if (h.type == VIRTIO_BLK_T_FLUSH) {
		s->flushes++;
	} else if (h.type == VIRTIO_BLK_T_GET_ID) {
		uint32_t n = bytes < sizeof(s->serial) ? (uint32_t)bytes : sizeof(s->serial);
		memcpy(c->seg[1].p, s->serial, n);
	} else {
		status = VIRTIO_BLK_S_UNSUPP;
	}
	*status_byte(c) = status;
	s->in_flight++;
	if (s->in_flight > s->max_in_flight)
		s->max_in_flight = s->in_flight;
	if (s->mode != VSIM_SILENT)
		s->pending[s->npending++] = (struct vsim_pending){c->id, c->ndescs, written};
}

/* The function may read and write memory only while bus mastering is on. */
static int dma_allowed(void) { return (vsim_plat.cfg[4] & 4) != 0; }

static void fetch(struct vsim_blk *s)
{
	static struct vsim_chain c;

	if (!dma_allowed())
		return;
	if (!s->queue_enabled || !(s->status & VIRTIO_STATUS_DRIVER_OK))
		return; /* a device that is not live ignores the doorbell */
	while (!s->stopped && vsim_ring_pop(&s->ring, &c)) {
		if (s->stop_at_request) { /* as QEMU's virtio_error(): keep it, answer nothing */
			s->stop_at_request = 0;
			s->stopped = 1;
			break;
		}
		execute(s, &c);
	}
	vsim_ring_arm_notify(&s->ring);
}

static void t_notify(struct virtio_dev *d, unsigned q)
{
	struct vsim_blk *s = sim_of(d);

	if (q != 0)
		fail_msg("notify for queue %u", q);
	s->notifies++;
	fetch(s);
}

static uint8_t t_isr(struct virtio_dev *d)
{
	struct vsim_blk *s = sim_of(d);
	uint8_t v = s->isr;

	s->isr = 0;
	return v;
}

static void t_msix_changed(struct virtio_dev *d, int on) { (void)d, (void)on; }

/* The simulated device answers both interfaces the same way; only the name
 * and the modern flag (which the driver's legacy rules key on) differ. */
#define SIM_TRANSPORT(nm, is_modern)                                                                         \
	{                                                                                                    \
		.name = nm, .modern = is_modern, .get_status = t_get_status, .set_status = t_set_status,     \
		.get_features = t_get_features, .set_features = t_set_features,                              \
		.read_config = t_read_config, .config_generation = t_config_generation,                      \
		.queue_max = t_queue_max, .queue_setup = t_queue_setup,                                      \
		.set_config_vector = t_set_config_vector, .notify = t_notify, .isr = t_isr,                  \
		.msix_changed = t_msix_changed,                                                              \
	}

static const struct virtio_transport sim_transport_modern = SIM_TRANSPORT("modern", 1);
static const struct virtio_transport sim_transport_legacy = SIM_TRANSPORT("legacy", 0);

void vsim_blk_bind(struct vsim_blk *s, struct virtio_dev *d, struct pci_device *pci)
{
	memset(d, 0, sizeof(*d));
	d->t = s->modern ? &sim_transport_modern : &sim_transport_legacy;
	d->sim = s;
	d->pci = pci;
}

/* ---- completions and interrupts ---- */

static int interrupt(struct vsim_blk *s)
{
	int delivered;

	if (s->queue_vector != VIRTIO_NO_VECTOR && vsim_msix_enabled()) {
		delivered = vsim_raise_msix(s->queue_vector);
	} else {
		s->isr |= 1;
		delivered = vsim_raise_intx();
		if (delivered && s->isr)
			fail_msg("INTx handler left the line high (ISR not read)");
	}
	s->interrupts += (unsigned)delivered;
	return delivered;
}

static unsigned post(struct vsim_blk *s)
{
	int irq = 0;
	unsigned n = s->npending;

	if (!dma_allowed())
		return 0; /* cannot write the used ring */
	for (unsigned k = 0; k < n; k++) {
		struct vsim_pending p = s->pending[s->reverse ? n - 1 - k : k];
		enum vsim_lie lie = s->lie;
		s->lie = VSIM_HONEST;
		if (lie == VSIM_BAD_ID)
			p.id = (uint16_t)(s->queue_size + 5);
		else if (lie == VSIM_STRAY_ID)
			p.id = (uint16_t)((p.id + 1) % s->queue_size);
		else if (lie == VSIM_LONG_LEN)
			p.len += 4096;
		else if (lie == VSIM_SHORT_LEN)
			p.len--;
		irq |= vsim_ring_push(&s->ring, p.id, p.len, p.ndescs);
		if (lie == VSIM_DOUBLE)
			irq |= vsim_ring_push(&s->ring, p.id, p.len, p.ndescs);
		s->in_flight--;
	}
	s->npending = 0;
	if (irq)
		interrupt(s);
	return n;
}

unsigned vsim_release(struct vsim_blk *s) { return post(s); }

int vsim_blk_config_change(struct vsim_blk *s)
{
	s->generation++;
	if (vsim_msix_enabled())
		return s->config_vector != VIRTIO_NO_VECTOR && vsim_raise_msix(s->config_vector);
	s->isr |= 2;
	int delivered = vsim_raise_intx();
	if (delivered && s->isr)
		fail_msg("INTx handler left the line high (ISR not read)");
	return delivered;
}

int vsim_blk_resize(struct vsim_blk *s, uint64_t sectors)
{
	if (sectors * 512 > sizeof(disk_store))
		fail_msg("simulated disk larger than %zu bytes", sizeof(disk_store));
	if (sectors * 512 > s->disk_bytes)
		memset(disk_store + s->disk_bytes, 0, sectors * 512 - s->disk_bytes);
	s->disk_bytes = sectors * 512;
	memcpy(&s->cfg[VIRTIO_BLK_CFG_CAPACITY], &sectors, 8);
	return vsim_blk_config_change(s);
}

static struct vsim_blk *idle_dev;

static int idle(void)
{
	struct vsim_blk *s = idle_dev;
	unsigned before = s->interrupts;

	if (s->stopped && !(s->status & VIRTIO_STATUS_NEEDS_RESET)) {
		s->status |= VIRTIO_STATUS_NEEDS_RESET;
		return vsim_blk_config_change(s);
	}

	if (s->ring.no_notify && s->queue_enabled) /* a polling device looks by itself */
		fetch(s);
	int slow = s->slow_while_spun || (s->slow_while_spun_deep && s->npending > 1);
	if (s->mode == VSIM_NORMAL && s->npending && (vsim_plat.halting || !slow))
		post(s);
	return s->interrupts != before;
}

void vsim_blk_attach_idle(struct vsim_blk *s)
{
	idle_dev = s;
	vsim_plat.idle = idle;
}
