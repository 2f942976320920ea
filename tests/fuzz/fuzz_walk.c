/* libFuzzer: walking every directory of an arbitrary volume (and reading the
 * start of every file) ends, without a crash, whatever the bytes say. */
#include <stdio.h>

#include "tests/fuzz/fuzz_dev.h"

static struct fat_volume v;
static int budget;

static void walk(const char *path, int depth)
{
	static uint8_t buf[8192];
	struct fat_dir d;
	struct fat_dirent e;
	struct fat_file f;
	char child[1024];

	if (depth > 6 || fat_opendir(&v, path, &d) < 0)
		return;
	while (budget-- > 0 && fat_readdir(&d, &e) == 1) {
		snprintf(child, sizeof(child), "%s/%s", path, e.name);
		if (e.st.is_dir)
			walk(child, depth + 1);
		else if (fat_open(&v, child, 0, &f) == 0) {
			fat_read(&f, 0, buf, sizeof(buf));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_dev m;

	if (mem_mount(&m, &v, data, size) < 0)
		return 0;
	budget = 2000;
	walk("", 0);
	mem_close(&m, &v);
	return 0;
}
