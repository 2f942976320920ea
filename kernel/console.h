/* The serial console: COM1, a 16550 at 115200 8N1. */
#ifndef KERNEL_CONSOLE_H
#define KERNEL_CONSOLE_H

#include <stdarg.h>
#include <stddef.h>

/* Programs the UART for polled output; input waits in its FIFO (and QEMU
 * holds back whatever does not fit), so nothing typed early is lost. */
void console_init(void);

/* Routes the receive interrupt through the IOAPIC; from then on an interrupt
 * handler moves input into a ring buffer. */
void console_enable_irq(void);

/* Writes n bytes; a "\n" not already after a "\r" goes out as "\r\n". */
void console_write(const char *s, size_t n);

/* 1 if the last byte written ended a line. */
int console_at_line_start(void);

/* Returns the next input byte, waiting (halted) until one arrives.  While
 * it waits it calls idle() (console_set_idle) over and over: the work that
 * is served while the shell is idle (the network).  idle() returns 1 if the
 * CPU may halt until the next interrupt, 0 if it is to be called again at
 * once. */
int console_getc(void);
void console_set_idle(int (*idle)(void));

/* printf to the console, whatever the length; returns the byte count. */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
