/* libFuzzer: mounting arbitrary bytes either fails cleanly or gives a volume
 * whose numbers are consistent. */
#include <assert.h>

#include "tests/fuzz/fuzz_dev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mem_dev m;
	struct fat_volume v;
	struct fat_statfs s;

	if (mem_mount(&m, &v, data, size) < 0)
		return 0;
	fat_statfs(&v, &s);
	assert(s.type == 12 || s.type == 16 || s.type == 32);
	assert(s.free <= s.clusters);
	mem_close(&m, &v);
	return 0;
}
