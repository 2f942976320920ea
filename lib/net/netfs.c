#include "lib/net/netfs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static netfs_resolve_fn resolver;

void netfs_init(netfs_resolve_fn resolve) { resolver = resolve; }

int netfs_resolve(const char *path, struct fat_volume **v, const char **rel)
{
	return resolver ? resolver(path, v, rel) : -ENODEV;
}

int netfs_upload_begin(struct netfs_upload *u, const char *path, const char *who, unsigned n)
{
	const char *rel;
	struct fat_stat st;
	int err = netfs_resolve(path, &u->vol, &rel);

	if (err < 0)
		return err;
	if (strlen(rel) >= sizeof(u->dst))
		return -ENAMETOOLONG;
	strcpy(u->dst, rel);
	const char *slash = strrchr(u->dst, '/');
	if (!slash[1])
		return -EISDIR; /* "/dir/": no file name */
	err = fat_stat(u->vol, u->dst, &st);
	if (err == 0 && st.is_dir)
		return -EISDIR;
	if (err < 0 && err != -ENOENT)
		return err;
	u->existed = err == 0;
	snprintf(u->tmp, sizeof(u->tmp), "%.*s/.upload-%s-%u", (int)(slash - u->dst), u->dst, who, n);
	return fat_open(u->vol, u->tmp, FAT_O_WRITE | FAT_O_CREATE | FAT_O_TRUNC, &u->file);
}

int netfs_upload_write(struct netfs_upload *u, uint32_t off, const void *buf, uint32_t len)
{
	ssize_t n = fat_write(&u->file, off, buf, len);

	return n < 0 ? (int)n : 0;
}

/* Replacing: the old file steps aside (".old"), the new one takes its
 * name, and only then is the old one removed; if the new one cannot take
 * the name, the old one gets it back.  Nothing is lost either way. */
int netfs_upload_commit(struct netfs_upload *u)
{
	char old[sizeof(u->tmp) + 4];
	int err = 0, aside = 0;

	snprintf(old, sizeof(old), "%s.old", u->tmp);
	if (u->existed) {
		fat_remove(u->vol, old); /* left by a crash, if at all */
		err = fat_rename(u->vol, u->dst, old);
		aside = err == 0;
		if (err == -ENOENT) /* gone meanwhile (a shell command): nothing to replace */
			err = 0;
	}
	if (err == 0) {
		err = fat_rename(u->vol, u->tmp, u->dst);
		if (err < 0 && aside)
			fat_rename(u->vol, old, u->dst);
	}
	if (err < 0) {
		netfs_upload_abort(u);
		return err;
	}
	if (aside)
		fat_remove(u->vol, old);
	return fat_sync(u->vol);
}

void netfs_upload_abort(struct netfs_upload *u) { fat_remove(u->vol, u->tmp); }

const char *netfs_content_type(const char *name)
{
	static const char *const types[][2] = {
		{"html", "text/html; charset=utf-8"},
		{"htm", "text/html; charset=utf-8"},
		{"txt", "text/plain; charset=utf-8"},
		{"css", "text/css"},
		{"js", "text/javascript"},
		{"json", "application/json"},
		{"xml", "application/xml"},
		{"svg", "image/svg+xml"},
		{"png", "image/png"},
		{"jpg", "image/jpeg"},
		{"jpeg", "image/jpeg"},
		{"gif", "image/gif"},
		{"ico", "image/x-icon"},
		{"pdf", "application/pdf"},
		{"zip", "application/zip"},
		{"gz", "application/gzip"},
		{"tar", "application/x-tar"},
	};
	const char *dot = strrchr(name, '.');

	if (dot && !strchr(dot, '/'))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}
