/*
 * Paths: "/a/b/c" is found one component at a time, each directory looked
 * up in the one before.  Every directory entered has its cluster chain
 * checked first, and is refused if it is one of the directories the walk
 * came through: a damaged directory that contains itself (or an ancestor)
 * can never send a walk round in circles.
 */
#include <errno.h>
#include <string.h>

#include "lib/fat/fat_internal.h"

/* Copies the next '/'-separated component of *s into out and moves *s past
 * it; returns its length, 0 at the end, or -ENAMETOOLONG. */
static int next_component(const char **s, char *out)
{
	const char *p = *s;
	size_t n = 0;

	while (*p == '/')
		p++;
	while (p[n] && p[n] != '/')
		n++;
	if (n >= FAT_NAME_BYTES)
		return -ENAMETOOLONG;
	memcpy(out, p, n);
	out[n] = '\0';
	*s = p + n;
	return (int)n;
}

static int at_end(const char *s)
{
	while (*s == '/')
		s++;
	return *s == '\0';
}

int path_check_dir(struct fat_volume *v, const struct fat_path *p, uint32_t c)
{
	uint32_t len, last;

	if (!clus_valid(v, c))
		return -EBADMSG; /* a subdirectory's entry must name a cluster */
	if (c == p->dir)
		return -ELOOP;
	for (int i = 0; i < p->depth; i++)
		if (p->anc[i] == c)
			return -ELOOP;
	return fat_chain_check(v, c, &len, &last);
}

int path_walk(struct fat_volume *v, const char *path, struct fat_path *p)
{
	int err;

	p->dir = dir_root(v);
	p->depth = 0;
	p->leaf[0] = '\0';
	if (v->type == 32) {
		uint32_t len, last;
		if ((err = fat_chain_check(v, v->root_cluster, &len, &last)) < 0)
			return err;
	}
	for (;;) {
		int n = next_component(&path, p->leaf);
		if (n <= 0)
			return n;
		int last = at_end(path);
		if (strcmp(p->leaf, ".") == 0 || strcmp(p->leaf, "..") == 0) {
			if (p->leaf[1] == '.' && p->depth)
				p->dir = p->anc[--p->depth];
			p->leaf[0] = '\0';
			if (last)
				return 0;
			continue;
		}
		if (last)
			return 0;
		struct dir_slot slot;
		if ((err = dir_lookup(v, p->dir, p->leaf, &slot)) < 0)
			return err;
		if (!(slot.raw[11] & FAT_ATTR_DIR))
			return -ENOTDIR;
		uint32_t c = ent_cluster(v, slot.raw);
		if ((err = path_check_dir(v, p, c)) < 0)
			return err;
		if (p->depth == PATH_DEPTH_MAX)
			return -ENAMETOOLONG;
		p->anc[p->depth++] = p->dir;
		p->dir = c;
	}
}
