/*
 * 16550 UART driver for COM1.  Output is polled (the transmit holding
 * register drains at emulation speed).  Input is interrupt driven into a
 * ring buffer; when the buffer is full the receive interrupt is turned off
 * and the bytes stay in the UART, where QEMU stops feeding it, so input is
 * slowed down but never dropped.
 */
#include "kernel/console.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernel/apic.h"
#include "kernel/cpu.h"
#include "kernel/trap.h"

#define COM1 0x3F8
#define COM1_IRQ 4
#define UART_DATA 0
#define UART_IER 1
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20
#define IER_RX 0x01

static char rx_buf[4096];
static volatile unsigned rx_head, rx_tail; /* head: written by the ISR */
static int irq_on;

void console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80); /* divisor latch */
	outb(COM1 + 0, 1); /* 115200 baud */
	outb(COM1 + 1, 0);
	outb(COM1 + UART_LCR, 0x03); /* 8N1 */
	outb(COM1 + UART_MCR, 0x0B); /* DTR, RTS, OUT2 (gates the IRQ line) */
	/* The FIFO control register is left as the firmware set it: turning the
	 * FIFO on or off empties it (in QEMU too), which would lose input typed
	 * or piped in before we got here. */
}

static void putc_raw(char c)
{
	/* Bounded: a missing UART must not hang the kernel. */
	for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THR_EMPTY); i++)
		;
	outb(COM1 + UART_DATA, (uint8_t)c);
}

static char last_out = '\n'; /* the last byte sent */

void console_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n' && last_out != '\r')
			putc_raw('\r');
		putc_raw(s[i]);
		last_out = s[i];
	}
}

int console_at_line_start(void) { return last_out == '\n'; }

static void rx_drain(void)
{
	while (inb(COM1 + UART_LSR) & LSR_DATA_READY) {
		if (rx_head - rx_tail == sizeof(rx_buf)) {
			outb(COM1 + UART_IER, 0); /* full: leave the rest in the UART */
			return;
		}
		rx_buf[rx_head % sizeof(rx_buf)] = (char)inb(COM1 + UART_DATA);
		rx_head++;
	}
}

static void rx_interrupt(void *arg)
{
	(void)arg;
	rx_drain();
}

void console_enable_irq(void)
{
	int vec = irq_alloc_vector(rx_interrupt, NULL);

	if (vec < 0 || ioapic_route_isa(COM1_IRQ, vec) < 0)
		return; /* stay polled */
	irq_on = 1;
	outb(COM1 + UART_IER, IER_RX);
}

static int (*idle_hook)(void);

void console_set_idle(int (*idle)(void)) { idle_hook = idle; }

struct getc_wait {
	uint64_t mark; /* interrupts taken before the idle hook's last look */
	int may_halt;
};

/* In ring 0, interrupts off (the ISR shares the buffer): the next byte, or
 * -1 after sleeping until an interrupt (irq mode, when the idle hook allows
 * it and no interrupt has come since its last look) or finding none. */
static long getc_step(void *arg)
{
	const struct getc_wait *w = arg;

	if (rx_head == rx_tail)
		rx_drain();
	if (rx_head == rx_tail) {
		if (irq_on && w->may_halt && irq_taken() == w->mark)
			cpu_idle();
		return -1;
	}
	char c = rx_buf[rx_tail % sizeof(rx_buf)];
	rx_tail++;
	if (irq_on)
		outb(COM1 + UART_IER, IER_RX); /* room again */
	return (unsigned char)c;
}

int console_getc(void)
{
	for (;;) {
		struct getc_wait w = {irq_taken(), 1};
		if (idle_hook)
			w.may_halt = idle_hook();
		/* Nothing typed and no halt wanted (the network polls): look again
		 * without the trap into ring 0, costly under the nested KVM. */
		if (irq_on && !w.may_halt && rx_head == rx_tail)
			continue;
		long c = kcall(getc_step, &w);
		if (c >= 0)
			return (int)c;
		if (!irq_on)
			__asm__ volatile("pause");
	}
}

/* Formats into a stack buffer; a longer text (a line with a 255-character
 * name, an error naming two long paths) is formatted again into memory from
 * the heap, so nothing is cut.  Messages from trap context are short and
 * never take that path. */
int kvprintf(const char *fmt, va_list ap)
{
	char buf[512];
	va_list again;

	va_copy(again, ap);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	if (n >= 0 && (size_t)n < sizeof(buf)) {
		console_write(buf, (size_t)n);
	} else if (n >= 0) {
		char *big = malloc((size_t)n + 1);
		if (big)
			vsnprintf(big, (size_t)n + 1, fmt, again);
		console_write(big ? big : buf, big ? (size_t)n : sizeof(buf) - 1);
		free(big);
	}
	va_end(again);
	return n;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}
