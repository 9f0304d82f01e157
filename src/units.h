/* units: parsing and printing of durations, sizes and counts for the CLI. */
#ifndef MIMIC_UNITS_H
#define MIMIC_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* "500ms", "90s", "30m", "1h", "2d", "1.5h"; a bare number is seconds.
 * Returns 0 or ERR_USAGE. */
int units_parse_duration(const char *s, int64_t *us);
/* A short human form: "850 us", "12 ms", "8.2 s", "3.5 min", "2.1 h". */
const char *units_duration(int64_t us, char *buf, size_t len);
/* "512 B", "1.5 kB", "2.3 MB". */
const char *units_bytes(double bytes, char *buf, size_t len);
/* 1234567 -> "1,234,567". */
const char *units_count(uint64_t v, char *buf, size_t len);
/* Writes v in decimal at p (20 bytes at most, no NUL) and returns the
 * end: for hot paths, where snprintf costs too much. */
char *units_put_u64(char *p, uint64_t v);

#endif
