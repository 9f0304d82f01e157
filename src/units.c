#include "units.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

int units_parse_duration(const char *s, int64_t *us) {
  char *end;
  if (!s || !*s) return ERR_USAGE;
  double v = strtod(s, &end);
  if (end == s || !(v >= 0) || !isfinite(v)) return ERR_USAGE;
  double mult;
  if (*end == '\0' || strcmp(end, "s") == 0)
    mult = 1e6;
  else if (strcmp(end, "ms") == 0)
    mult = 1e3;
  else if (strcmp(end, "us") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
    mult = 60e6;
  else if (strcmp(end, "h") == 0)
    mult = 3600e6;
  else if (strcmp(end, "d") == 0)
    mult = 86400e6;
  else
    return ERR_USAGE;
  double r = v * mult;
  if (r > 9.2e18) return ERR_USAGE;
  *us = (int64_t)llround(r);
  return 0;
}

const char *units_duration(int64_t us, char *buf, size_t len) {
  double v = (double)us;
  if (us < 1000)
    snprintf(buf, len, "%" PRId64 " us", us);
  else if (v < 1e6)
    snprintf(buf, len, "%.3g ms", v / 1e3);
  else if (v < 60e6)
    snprintf(buf, len, "%.3g s", v / 1e6);
  else if (v < 3600e6)
    snprintf(buf, len, "%.3g min", v / 60e6);
  else
    snprintf(buf, len, "%.3g h", v / 3600e6);
  return buf;
}

const char *units_bytes(double b, char *buf, size_t len) {
  if (b < 1000)
    snprintf(buf, len, "%.0f B", b);
  else if (b < 1e6)
    snprintf(buf, len, "%.3g kB", b / 1e3);
  else if (b < 1e9)
    snprintf(buf, len, "%.3g MB", b / 1e6);
  else
    snprintf(buf, len, "%.3g GB", b / 1e9);
  return buf;
}

const char *units_count(uint64_t v, char *buf, size_t len) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%" PRIu64, v);
  size_t o = 0;
  for (int i = 0; i < n && o + 2 < len; i++) {
    if (i && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = tmp[i];
  }
  buf[o] = '\0';
  return buf;
}

char *units_put_u64(char *p, uint64_t v) {
  char tmp[20];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) *p++ = tmp[--n];
  return p;
}
