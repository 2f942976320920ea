#include "kernel/errstr.h"

#include <errno.h>

const char *errstr(int err)
{
	switch (-err) {
	case 0:
		return "success";
	case ENOENT:
		return "no such file or directory";
	case EIO:
		return "input/output error";
	case E2BIG:
		return "argument list too long";
	case ENOMEM:
		return "out of memory";
	case EEXIST:
		return "file exists";
	case EXDEV:
		return "cannot move across volumes";
	case ENODEV:
		return "no such device";
	case ENOTDIR:
		return "not a directory";
	case EISDIR:
		return "is a directory";
	case EINVAL:
		return "invalid argument";
	case EFBIG:
		return "file too large";
	case ENOSPC:
		return "no space left on device";
	case EROFS:
		return "read-only device";
	case ENAMETOOLONG:
		return "file name too long";
	case ENOTEMPTY:
		return "directory not empty";
	case ENOTSUP:
		return "operation not supported by the device";
	case ETIMEDOUT:
		return "device timed out (it has been reset)";
	case EBUSY:
		return "device holds a mounted volume";
	case ELOOP:
		return "cluster chain loops";
	case EBADMSG:
		return "damaged volume";
	case ENETUNREACH:
		return "no route to that address";
	case ENOBUFS:
		return "out of network buffers";
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset or cut short";
	case ECONNABORTED:
		return "connection aborted";
	case EPROTO:
		return "reply not understood";
	default:
		return "unknown error";
	}
}
