#include "kernel/volumes.h"

#include <errno.h>
#include <string.h>

#include "kernel/console.h"
#include "kernel/errstr.h"

struct volume {
	struct fat_volume fat;
	const struct blk_device *dev;
	int mounted;
};

static struct volume volumes[BLK_MAX_DEVICES];

void volumes_init(void)
{
	for (int i = 0; i < blk_count(); i++) {
		struct volume *vol = &volumes[i];
		const char *why = NULL;
		struct blk_device *dev = blk_get(i);
		int err = fat_mount(&vol->fat, dev, &why);

		vol->dev = dev;
		if (err < 0) {
			kprintf("tinyvio: %s: no volume mounted: %s\n", dev->name,
				why && *why ? why : errstr(err));
			continue;
		}
		vol->mounted = 1;
		kprintf("tinyvio: %s: FAT%d volume at /%s%s\n", dev->name, vol->fat.type, i ? dev->name : "",
			vol->fat.read_only ? " (read-only)" : "");
	}
}

int volume_resolve(const char *path, struct fat_volume **v, const char **rel)
{
	if (path[0] != '/')
		return -EINVAL;
	/* "/vdb" or "/vdb/...": the volume of disk vdb (not of vda). */
	for (int i = 1; i < blk_count(); i++) {
		size_t n = strlen(volumes[i].dev->name);
		if (strncmp(path + 1, volumes[i].dev->name, n) != 0 || (path[n + 1] && path[n + 1] != '/'))
			continue;
		if (!volumes[i].mounted)
			return -ENODEV;
		*v = &volumes[i].fat;
		*rel = path[n + 1] ? path + n + 1 : "/";
		return 0;
	}
	if (blk_count() == 0 || !volumes[0].mounted)
		return -ENODEV;
	*v = &volumes[0].fat;
	*rel = path;
	return 0;
}

int volume_on_disk(const struct blk_device *dev)
{
	for (int i = 0; i < blk_count(); i++)
		if (volumes[i].dev == dev)
			return volumes[i].mounted;
	return 0;
}

int volumes_sync(void)
{
	int first = 0;

	for (int i = 0; i < blk_count(); i++) {
		if (!volumes[i].mounted)
			continue;
		int err = fat_sync(&volumes[i].fat);
		if (err < 0 && !first)
			first = err;
	}
	return first;
}
