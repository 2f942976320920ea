/*
 * Files as the network services (HTTP, TFTP, the HTTP client) see them: the
 * kernel's mounted volumes, reached through one function the kernel gives
 * (paths as the shell's: "/vdb/x" is on vdb), and uploads that appear only
 * when complete.
 */
#ifndef LIB_NET_NETFS_H
#define LIB_NET_NETFS_H

#include <stdint.h>

#include "lib/fat/fat.h"
#include "lib/net/http_parse.h"

/* Splits an absolute path into its volume and the volume-relative path
 * (starting with '/').  Returns 0, or -EINVAL / -ENODEV (no volume there). */
typedef int (*netfs_resolve_fn)(const char *path, struct fat_volume **v, const char **rel);

void netfs_init(netfs_resolve_fn resolve);
int netfs_resolve(const char *path, struct fat_volume **v, const char **rel);

/* An upload: its bytes go into a temporary file beside the target
 * (".upload-WHO-N"), which takes the target's name only at commit, so a
 * transfer cut short never leaves a file that looks whole. */
struct netfs_upload {
	struct fat_volume *vol;
	struct fat_file file;
	int existed; /* the target was there before (replaced at commit) */
	char tmp[HTTP_PATH_MAX + 32]; /* volume-relative */
	char dst[HTTP_PATH_MAX];
};

/* Starts an upload to path; who and n make the temporary name unique
 * among uploads in progress.  Returns 0, -ENOENT/-ENOTDIR (no such
 * directory), -EISDIR (the target is a directory), -EINVAL/-ENAMETOOLONG
 * (a name the volume cannot store), -ENODEV, -EROFS, -ENOSPC, or a device
 * error. */
int netfs_upload_begin(struct netfs_upload *u, const char *path, const char *who, unsigned n);
/* Writes len bytes at off.  Returns 0, -EFBIG (past what FAT holds),
 * -ENOSPC, or a device error. */
int netfs_upload_write(struct netfs_upload *u, uint32_t off, const void *buf, uint32_t len);
/* The temporary file takes the target's name (replacing it), and the volume
 * is synced: once this returns 0 the file is on the disk.  On an error the
 * upload is aborted (as below). */
int netfs_upload_commit(struct netfs_upload *u);
/* Removes the temporary file. */
void netfs_upload_abort(struct netfs_upload *u);

/* The Content-Type for a file name, by its extension. */
const char *netfs_content_type(const char *name);

#endif
