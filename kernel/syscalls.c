/*
 * newlib's system calls.  stdout and stderr go to the console, stdin reads
 * it; the heap is a fixed static array (malloc fails cleanly when it is
 * used up); there are no processes and no file descriptors beyond 0-2, so
 * the rest fail with the errno a caller would expect.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/times.h>

#include "kernel/console.h"
#include "kernel/heap.h"
#include "kernel/power.h"
#include "kernel/time.h"

#undef errno
extern int errno;

/* What malloc serves: newlib's own needs and the console's long lines (the
 * I/O paths allocate nothing; lwIP has a heap of its own). */
#define HEAP_SIZE (1u << 20)

static _Alignas(4096) char heap_area[HEAP_SIZE];
static struct heap heap = {heap_area, sizeof(heap_area), 0};

/* newlib calls these by their plain names; nothing includes a prototype. */
int _write(int fd, const void *buf, int len);
int _read(int fd, void *buf, int len);
void *_sbrk(intptr_t incr);
int _close(int fd);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);
int _lseek(int fd, int off, int whence);
void _exit(int status);
int _kill(int pid, int sig);
int _getpid(void);
int _open(const char *path, int flags, int mode);
int _gettimeofday(struct timeval *tv, void *tz);
clock_t _times(struct tms *t);
int _unlink(const char *path);
int _link(const char *old, const char *new);
int _stat(const char *path, struct stat *st);
int _fork(void);
int _execve(const char *path, char *const argv[], char *const envp[]);
int _wait(int *status);

static int is_console(int fd) { return fd >= 0 && fd <= 2; }

int _write(int fd, const void *buf, int len)
{
	if (fd != 1 && fd != 2) {
		errno = EBADF;
		return -1;
	}
	console_write(buf, (size_t)len);
	return len;
}

int _read(int fd, void *buf, int len)
{
	char *b = buf;

	if (fd != 0) {
		errno = EBADF;
		return -1;
	}
	if (len <= 0)
		return 0;
	b[0] = (char)console_getc();
	return 1;
}

void *_sbrk(intptr_t incr)
{
	void *p = heap_sbrk(&heap, incr);

	if (!p) {
		errno = ENOMEM;
		return (void *)-1;
	}
	return p;
}

int _close(int fd)
{
	if (is_console(fd))
		return 0;
	errno = EBADF;
	return -1;
}

int _fstat(int fd, struct stat *st)
{
	if (!is_console(fd)) {
		errno = EBADF;
		return -1;
	}
	*st = (struct stat){.st_mode = S_IFCHR};
	return 0;
}

int _isatty(int fd)
{
	if (is_console(fd))
		return 1;
	errno = EBADF;
	return 0;
}

int _lseek(int fd, int off, int whence)
{
	(void)off, (void)whence;
	errno = is_console(fd) ? ESPIPE : EBADF;
	return -1;
}

void _exit(int status) { panic("exit(%d) called", status); }

int _kill(int pid, int sig)
{
	(void)pid, (void)sig;
	errno = EINVAL;
	return -1;
}

int _getpid(void) { return 1; }

int _open(const char *path, int flags, int mode)
{
	(void)path, (void)flags, (void)mode;
	errno = ENOSYS;
	return -1;
}

int _gettimeofday(struct timeval *tv, void *tz)
{
	(void)tz;
	if (tv) {
		tv->tv_sec = time_unix();
		tv->tv_usec = (suseconds_t)(time_ns() / 1000 % 1000000);
	}
	return 0;
}

clock_t _times(struct tms *t)
{
	clock_t ticks = (clock_t)(time_ns() / (1000000000u / CLOCKS_PER_SEC));

	if (t)
		*t = (struct tms){.tms_utime = ticks};
	return ticks;
}

int _unlink(const char *path)
{
	(void)path;
	errno = ENOSYS;
	return -1;
}

int _link(const char *old, const char *new)
{
	(void)old, (void)new;
	errno = ENOSYS;
	return -1;
}

int _stat(const char *path, struct stat *st)
{
	(void)path, (void)st;
	errno = ENOSYS;
	return -1;
}

int _fork(void)
{
	errno = ENOSYS;
	return -1;
}

int _execve(const char *path, char *const argv[], char *const envp[])
{
	(void)path, (void)argv, (void)envp;
	errno = ENOSYS;
	return -1;
}

int _wait(int *status)
{
	(void)status;
	errno = ECHILD;
	return -1;
}
