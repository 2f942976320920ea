/* Host unit tests for the virtqueue notification rules (VIRTIO_F_EVENT_IDX
 * and the flags), split and packed, with the device side of
 * tests/unit/vsim_ring.c.  The expected answers are worked out from the
 * specification's wording ("notify if the event index is among the entries
 * just published"), not from vring_need_event itself. */
// clang-format off
// SOURCES: drivers/virtio/virtq.c drivers/virtio/virtq_split.c drivers/virtio/virtq_packed.c tests/unit/vsim_platform.c tests/unit/vsim_ring.c
// clang-format on
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "drivers/virtio/virtq.h"
#include "tests/unit/vsim.h"

static _Alignas(4096) uint8_t mem[VIRTQ_MEM_MAX];
static uint8_t data[64];
static struct virtq vq;
static struct vsim_ring dev;
static struct vsim_chain chain;

static void setup_queue(unsigned size, int packed, int event_idx)
{
	uint64_t d, drv, devc;
	assert_int_equal(virtq_init(&vq, size, packed, event_idx, 0, mem, (uintptr_t)mem), 0);
	virtq_addrs(&vq, &d, &drv, &devc);
	vsim_ring_init(&dev, size, packed, event_idx, d, drv, devc);
}

static uint16_t add_one(void)
{
	struct virtq_buf b = {(uintptr_t)data, sizeof(data), 1};
	uint16_t id;
	assert_int_equal(virtq_add(&vq, &b, 1, &id), 0);
	return id;
}

/* The device takes everything and hands it all back; the driver reaps it. */
static void drain(void)
{
	uint16_t id;
	uint32_t len;
	while (vsim_ring_pop(&dev, &chain))
		vsim_ring_push(&dev, chain.id, 1, chain.ndescs);
	while (virtq_get_used(&vq, &id, &len) == 1)
		;
	assert_int_equal(vq.num_free, vq.size);
}

static void test_need_event_rule_across_wrap(void **state)
{
	(void)state;
	/* Published (old, new] = {old+1 .. new} as indices; event e asks for a
	 * notification once the index passes e, i.e. when e+1 is in the window. */
	static const uint16_t olds[] = {0, 100, 0xFFFE, 0xFFFF, 0x7FFF};
	for (unsigned i = 0; i < 5; i++)
		for (uint16_t k = 1; k <= 4; k++)
			for (int de = -6; de <= 6; de++) {
				uint16_t old = olds[i], nw = (uint16_t)(old + k), e = (uint16_t)(old + de);
				int want = 0;
				for (uint16_t j = 0; j < k; j++)
					want |= (uint16_t)(old + j) == e;
				assert_int_equal(vring_need_event(e, nw, old), want);
			}
}

static void test_split_kick_thresholds_near_2_16(void **state)
{
	(void)state;
	setup_queue(8, 0, 1);
	/* Walk the indices up to just short of 2^16. */
	for (unsigned i = 0; i < 65530; i++) {
		add_one();
		virtq_kick_prepare(&vq);
		drain();
	}
	uint16_t *avail_event = (uint16_t *)&vq.used->ring[vq.size];
	for (int de = -4; de <= 8; de++) {
		uint16_t old = vq.avail_idx, e = (uint16_t)(old + de);
		for (int k = 0; k < 3; k++)
			add_one();
		*avail_event = e;
		int want = de >= 0 && de < 3;
		assert_int_equal(virtq_kick_prepare(&vq), want);
		drain();
	}
	assert_true(vq.avail_idx < 100); /* it did wrap */
}

/* More than a ring's worth added since the last kick decision (a device
 * that works unasked, a driver that batches long): the indices no longer
 * say whether the device's event index was passed, so the driver notifies.
 * After exactly 2^16 additions the window would look empty. */
static void test_more_than_a_lap_without_a_decision_notifies(void **state)
{
	(void)state;
	for (int packed = 0; packed < 2; packed++) {
		setup_queue(8, packed, 1);
		virtq_kick_prepare(&vq);
		for (unsigned i = 0; i < 65536; i++) {
			add_one();
			drain();
		}
		if (packed) { /* the device asks for a notification at a descriptor far off */
			vq.device_event->off_wrap =
				(uint16_t)((vq.next_avail + 4) % vq.size | !vq.avail_wrap << 15);
			vq.device_event->flags = PVIRTQ_EVENT_DESC;
		} else { /* or at the index the driver already had at its last decision */
			*(uint16_t *)&vq.used->ring[vq.size] = (uint16_t)(vq.avail_idx - 1);
		}
		assert_int_equal(virtq_kick_prepare(&vq), 1);
	}
}

static void test_split_flags_without_event_idx(void **state)
{
	(void)state;
	setup_queue(8, 0, 0);
	add_one();
	assert_int_equal(virtq_kick_prepare(&vq), 1);
	vq.used->flags = VIRTQ_USED_F_NO_NOTIFY;
	add_one();
	assert_int_equal(virtq_kick_prepare(&vq), 0);
	/* Interrupt suppression is the mirror: the avail flags. */
	virtq_disable_irq(&vq);
	assert_int_equal(vq.avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_int_equal(virtq_enable_irq(&vq), 0);
	assert_int_equal(vq.avail->flags, 0);
	vsim_ring_pop(&dev, &chain);
	assert_int_equal(vsim_ring_push(&dev, chain.id, 1, 1), 1);
	assert_int_equal(virtq_enable_irq(&vq), 1); /* already there: do not sleep */
}

static void test_split_used_event_asks_for_the_next_completion(void **state)
{
	(void)state;
	setup_queue(8, 0, 1);
	for (int i = 0; i < 3; i++)
		add_one();
	while (vsim_ring_pop(&dev, &chain))
		;
	virtq_disable_irq(&vq);
	assert_int_equal(vsim_ring_push(&dev, 0, 1, 1), 0); /* suppressed */
	uint16_t id;
	uint32_t len;
	assert_int_equal(virtq_get_used(&vq, &id, &len), 1);
	assert_int_equal(virtq_enable_irq(&vq), 0);
	assert_int_equal(vsim_ring_push(&dev, 1, 1, 1), 1); /* the next one interrupts */
	assert_int_equal(vsim_ring_push(&dev, 2, 1, 1), 0); /* and only that one */
}

static void test_packed_kick_thresholds_across_laps(void **state)
{
	(void)state;
	setup_queue(8, 1, 1);
	for (unsigned start = 0; start < 24; start++) {
		/* Positions (and their wrap counters) the next 3 chains will take. */
		unsigned pos[3];
		int wrap[3];
		for (int k = 0; k < 3; k++) {
			unsigned lap = (start + k) / 8;
			pos[k] = (start + k) % 8;
			wrap[k] = !(lap & 1); /* the driver's counter starts at 1 */
		}
		for (unsigned off = 0; off < 8; off++)
			for (int w = 0; w < 2; w++) {
				for (int k = 0; k < 3; k++)
					add_one();
				vq.device_event->off_wrap = (uint16_t)(off | w << 15);
				vq.device_event->flags = PVIRTQ_EVENT_DESC;
				int want = 0;
				for (int k = 0; k < 3; k++)
					want |= pos[k] == off && wrap[k] == w;
				if (virtq_kick_prepare(&vq) != want)
					fail_msg("start %u: event offset %u wrap %d: wrong kick decision",
						 start, off, w);
				drain();
				/* Back to where this start began: 16 chains = two laps. */
				for (int k = 0; k < 13; k++) {
					add_one();
					virtq_kick_prepare(&vq); /* a kick decision closes each batch */
					drain();
				}
			}
		add_one();
		virtq_kick_prepare(&vq);
		drain();
	}
}

static void test_packed_event_flags(void **state)
{
	(void)state;
	setup_queue(8, 1, 0);
	add_one();
	vq.device_event->flags = PVIRTQ_EVENT_DISABLE;
	assert_int_equal(virtq_kick_prepare(&vq), 0);
	vq.device_event->flags = PVIRTQ_EVENT_ENABLE;
	add_one();
	assert_int_equal(virtq_kick_prepare(&vq), 1);
	virtq_disable_irq(&vq);
	assert_int_equal(vq.driver_event->flags, PVIRTQ_EVENT_DISABLE);
	assert_int_equal(virtq_enable_irq(&vq), 0);
	assert_int_equal(vq.driver_event->flags, PVIRTQ_EVENT_ENABLE);
}

static void test_packed_driver_event_points_at_next_used(void **state)
{
	(void)state;
	setup_queue(4, 1, 1);
	for (int round = 0; round < 10; round++) {
		uint16_t ids[2];
		add_one();
		add_one();
		for (int k = 0; k < 2; k++) {
			assert_int_equal(vsim_ring_pop(&dev, &chain), 1);
			ids[k] = chain.id;
		}
		assert_int_equal(virtq_enable_irq(&vq), 0);
		assert_int_equal(vq.driver_event->off_wrap, (uint16_t)(vq.next_used | vq.used_wrap << 15));
		/* Out of order: the interrupt comes for the first used slot only. */
		assert_int_equal(vsim_ring_push(&dev, ids[1], 1, 1), 1);
		assert_int_equal(vsim_ring_push(&dev, ids[0], 1, 1), 0);
		uint16_t id;
		uint32_t len;
		while (virtq_get_used(&vq, &id, &len) == 1)
			;
		assert_int_equal(vq.num_free, 4);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_need_event_rule_across_wrap),
		cmocka_unit_test(test_split_kick_thresholds_near_2_16),
		cmocka_unit_test(test_more_than_a_lap_without_a_decision_notifies),
		cmocka_unit_test(test_split_flags_without_event_idx),
		cmocka_unit_test(test_split_used_event_asks_for_the_next_completion),
		cmocka_unit_test(test_packed_kick_thresholds_across_laps),
		cmocka_unit_test(test_packed_event_flags),
		cmocka_unit_test(test_packed_driver_event_points_at_next_used),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
