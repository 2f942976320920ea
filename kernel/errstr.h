/* Error messages for the console: what a negative errno means, in words. */
#ifndef KERNEL_ERRSTR_H
#define KERNEL_ERRSTR_H

/* err is a negative errno (or 0); the text is lower case, without a period. */
const char *errstr(int err);

#endif
