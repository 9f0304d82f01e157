/* logtime: fast parsing of the timestamp notations found in access logs into
 * microseconds since the Unix epoch (UTC). No locale, no libc time zone. */
#ifndef MIMIC_LOGTIME_H
#define MIMIC_LOGTIME_H

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
int64_t logtime_days_from_civil(int64_t y, unsigned m, unsigned d);

/* "10/Oct/2000:13:55:36 -0700" (CLF, brackets not included). Returns 0 or
 * ERR_PARSE; *used gets the characters consumed when used != NULL. */
int logtime_clf(const char *p, size_t len, int64_t *us, size_t *used);
/* ISO 8601 / RFC 3339: "2024-05-12T00:00:18Z", "...18.123456+02:00",
 * "2024-05-12 00:00:18" (UTC assumed). */
int logtime_iso8601(const char *p, size_t len, int64_t *us, size_t *used);
/* Epoch seconds with optional fraction ("1384443873.878", nginx $msec). */
int logtime_epoch(const char *p, size_t len, int64_t *us, size_t *used);
/* Any of the above, tried in a sensible order; a leading '[' and its
 * closing ']' are skipped (and counted in *used). */
int logtime_any(const char *p, size_t len, int64_t *us, size_t *used);

/* W3C extended logs keep the date ("2024-05-12") and the time ("00:00:18",
 * optionally with a fraction) in separate fields, both UTC. Each must be
 * used whole. Returns 0 or ERR_PARSE. */
int logtime_date_time(const char *date, size_t dlen, const char *time,
                      size_t tlen, int64_t *us);

/* Resolution in microseconds implied by a timestamp's text: 10^(6-n) for n
 * fraction digits (1 for n >= 6), 1000000 when there is no fraction. */
int64_t logtime_resolution(const char *p, size_t len);

#endif
