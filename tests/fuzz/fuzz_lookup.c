/* libFuzzer: looking up an arbitrary path (the input's first line) on an
 * arbitrary volume (the rest). */
#include <string.h>

#include "tests/fuzz/fuzz_dev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[4096];
	char path[256];
	struct mem_dev m;
	struct fat_volume v;
	struct fat_stat st;
	struct fat_file f;
	struct fat_dir d;
	struct fat_dirent e;

	const uint8_t *nl = memchr(data, '\n', size < sizeof(path) ? size : sizeof(path));
	if (!nl)
		return 0;
	size_t n = (size_t)(nl - data);
	memcpy(path, data, n);
	path[n] = '\0';
	if (mem_mount(&m, &v, nl + 1, size - n - 1) < 0)
		return 0;
	fat_stat(&v, path, &st);
	if (fat_open(&v, path, 0, &f) == 0)
		fat_read(&f, 0, buf, sizeof(buf));
	if (fat_opendir(&v, path, &d) == 0)
		for (int i = 0; i < 100 && fat_readdir(&d, &e) == 1; i++)
			;
	mem_close(&m, &v);
	return 0;
}
