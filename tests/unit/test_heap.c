/* Host unit tests for kernel/heap.c (heap_sbrk). */
// SOURCES: kernel/heap.c
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/heap.h"

#define ARENA_SIZE 4096

static char arena[ARENA_SIZE];
static struct heap h;

static int setup(void **state)
{
	(void)state;
	h.base = arena;
	h.size = sizeof(arena);
	h.brk = 0;
	return 0;
}

static void assert_heap(size_t brk)
{
	assert_ptr_equal(h.base, arena);
	assert_int_equal(h.size, ARENA_SIZE);
	assert_int_equal(h.brk, brk);
}

static void test_grow_returns_old_break(void **state)
{
	(void)state;

	assert_ptr_equal(heap_sbrk(&h, 100), arena);
	assert_heap(100);
	assert_ptr_equal(heap_sbrk(&h, 28), arena + 100);
	assert_heap(128);
	/* The memory handed out is usable. */
	memset(arena, 0xab, 128);
}

static void test_zero_increment_returns_break(void **state)
{
	(void)state;

	assert_ptr_equal(heap_sbrk(&h, 0), arena);
	assert_heap(0);
	assert_non_null(heap_sbrk(&h, 300));
	assert_ptr_equal(heap_sbrk(&h, 0), arena + 300);
	assert_heap(300);
}

static void test_exact_fill(void **state)
{
	(void)state;

	assert_ptr_equal(heap_sbrk(&h, ARENA_SIZE), arena);
	assert_heap(ARENA_SIZE);
	assert_ptr_equal(heap_sbrk(&h, 0), arena + ARENA_SIZE);
}

static void test_exact_fill_in_steps(void **state)
{
	(void)state;

	assert_ptr_equal(heap_sbrk(&h, ARENA_SIZE - 1), arena);
	assert_ptr_equal(heap_sbrk(&h, 1), arena + ARENA_SIZE - 1);
	assert_heap(ARENA_SIZE);
}

static void test_one_byte_too_many(void **state)
{
	(void)state;

	assert_null(heap_sbrk(&h, ARENA_SIZE + 1));
	assert_heap(0);
	assert_non_null(heap_sbrk(&h, 1000));
	assert_null(heap_sbrk(&h, ARENA_SIZE - 1000 + 1));
	assert_heap(1000);
	assert_non_null(heap_sbrk(&h, ARENA_SIZE - 1000));
	assert_null(heap_sbrk(&h, 1));
	assert_heap(ARENA_SIZE);
}

static void test_shrink(void **state)
{
	(void)state;

	assert_non_null(heap_sbrk(&h, 1000));
	assert_ptr_equal(heap_sbrk(&h, -400), arena + 1000);
	assert_heap(600);
	assert_ptr_equal(heap_sbrk(&h, -600), arena + 600);
	assert_heap(0);
}

static void test_shrink_below_base(void **state)
{
	(void)state;

	assert_null(heap_sbrk(&h, -1));
	assert_heap(0);
	assert_non_null(heap_sbrk(&h, 100));
	assert_null(heap_sbrk(&h, -101));
	assert_heap(100);
}

static void test_huge_increments(void **state)
{
	(void)state;

	assert_null(heap_sbrk(&h, (intptr_t)(SIZE_MAX / 2)));
	assert_heap(0);
	assert_null(heap_sbrk(&h, INTPTR_MAX));
	assert_heap(0);
	/* Also from a non-zero break, where old + incr would wrap. */
	assert_non_null(heap_sbrk(&h, 100));
	assert_null(heap_sbrk(&h, INTPTR_MAX));
	assert_null(heap_sbrk(&h, (intptr_t)(SIZE_MAX / 2)));
	assert_heap(100);
}

static void test_huge_negative_increment(void **state)
{
	(void)state;

	assert_non_null(heap_sbrk(&h, 100));
	assert_null(heap_sbrk(&h, -INTPTR_MAX));
	assert_null(heap_sbrk(&h, -(intptr_t)(SIZE_MAX / 2)));
	assert_heap(100);
}

static void test_intptr_min_increment(void **state)
{
	(void)state;

	/* Run in a child: a sanitizer report ends that process, not the group. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		h.brk = 100;
		void *p = heap_sbrk(&h, INTPTR_MIN);
		_exit(p == NULL && h.brk == 100 ? 0 : 2);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_grow_returns_old_break, setup),
		cmocka_unit_test_setup(test_zero_increment_returns_break, setup),
		cmocka_unit_test_setup(test_exact_fill, setup),
		cmocka_unit_test_setup(test_exact_fill_in_steps, setup),
		cmocka_unit_test_setup(test_one_byte_too_many, setup),
		cmocka_unit_test_setup(test_shrink, setup),
		cmocka_unit_test_setup(test_shrink_below_base, setup),
		cmocka_unit_test_setup(test_huge_increments, setup),
		cmocka_unit_test_setup(test_huge_negative_increment, setup),
		cmocka_unit_test_setup(test_intptr_min_increment, setup),
	};

	return cmocka_run_group_tests_name("heap", tests, NULL, NULL);
}
