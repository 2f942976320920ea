/* Leaving the machine: power-off (status 1 under QEMU's isa-debug-exit), panic (status 3). */
#ifndef KERNEL_POWER_H
#define KERNEL_POWER_H

/* Runs before power-off (the shell registers a sync of every volume). */
void power_set_hook(void (*fn)(void));

_Noreturn void power_off(void);
_Noreturn void panic_exit(void);
_Noreturn void panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
