/* err: mimic's error codes and their one strerror.
 *
 * Fallible functions return 0 or a negative code: either -errno passed
 * through, or one of the ERR_* codes below (all below -10000 so they never
 * collide with errno values). */
#ifndef MIMIC_ERR_H
#define MIMIC_ERR_H

enum {
  ERR_PARSE = -10001,       /* input could not be parsed */
  ERR_FORMAT = -10002,      /* input format unknown or undetectable */
  ERR_TRUNCATED = -10003,   /* compressed stream ends in the middle */
  ERR_CORRUPT = -10004,     /* compressed or stored data is damaged */
  ERR_SQLITE = -10005,      /* SQLite failed; details in the caller's message */
  ERR_VERSION = -10006,     /* model written by a newer, unknown schema */
  ERR_LIMIT = -10007,       /* a hard cap on input-driven size was hit */
  ERR_USAGE = -10008,       /* bad command-line usage or option value */
  ERR_EXISTS = -10009,      /* output exists and --force was not given */
  ERR_NOTFOUND = -10010,    /* a looked-up item does not exist */
  ERR_TOOMANY = -10011,     /* too many malformed lines (--max-malformed) */
  ERR_NODATA = -10012,      /* nothing usable in the input */
  ERR_INTERRUPTED = -10013, /* stopped by a signal */
};

/* Returns a static description of err (an ERR_* code or -errno). */
const char *err_str(int err);

#endif
