#include "logtime.h"

#include "err.h"

/* Hand-written on purpose: strptime and mktime depend on the locale and the
 * process time zone, and are an order of magnitude slower than this on the
 * benchmarked path (one timestamp per log line). */

#define US_PER_S INT64_C(1000000)

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Value of n digits at p, or -1 when one of them is not a digit. */
static int digits(const char *p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(p[i])) return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned month_days(int64_t y, unsigned m) {
  static const unsigned char days[12] = {31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil: exact for every proleptic Gregorian
 * date, no table, no loop. */
int64_t logtime_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static int month_of(const char *p) {
  unsigned k = ((unsigned)(p[0] | 0x20) << 16) |
               ((unsigned)(p[1] | 0x20) << 8) | (unsigned)(p[2] | 0x20);
  switch (k) {
  case 0x6a616e: return 1;  /* jan */
  case 0x666562: return 2;  /* feb */
  case 0x6d6172: return 3;  /* mar */
  case 0x617072: return 4;  /* apr */
  case 0x6d6179: return 5;  /* may */
  case 0x6a756e: return 6;  /* jun */
  case 0x6a756c: return 7;  /* jul */
  case 0x617567: return 8;  /* aug */
  case 0x736570: return 9;  /* sep */
  case 0x6f6374: return 10; /* oct */
  case 0x6e6f76: return 11; /* nov */
  case 0x646563: return 12; /* dec */
  default: return 0;
  }
}

/* Optional ".ffffff" at p[*i] (also ",ffffff" when comma, as ISO 8601
 * allows) into microseconds. Digits past the sixth are consumed and
 * dropped. Returns -1 on a separator without digits. */
static int fraction(const char *p, size_t len, size_t *i, int comma,
                    int64_t *frac) {
  *frac = 0;
  if (*i >= len || (p[*i] != '.' && !(comma && p[*i] == ','))) return 0;
  size_t j = *i + 1;
  int n = 0;
  int64_t v = 0;
  while (j < len && is_digit(p[j])) {
    if (n < 6) {
      v = v * 10 + (p[j] - '0');
      n++;
    }
    j++;
  }
  if (j == *i + 1) return -1;
  while (n < 6) {
    v *= 10;
    n++;
  }
  *frac = v;
  *i = j;
  return 0;
}

/* Zone offset "+hhmm", "+hh:mm" or (when !need_mm) "+hh" at p[*i] into
 * seconds east of UTC. Returns 1 when one was read, 0 when there is none,
 * -1 when it is malformed. */
static int zone(const char *p, size_t len, size_t *i, int need_mm, int *off) {
  size_t j = *i;
  if (j >= len || (p[j] != '+' && p[j] != '-')) return 0;
  int sign = p[j] == '-' ? -1 : 1;
  j++;
  if (len - j < 2) return -1;
  int hh = digits(p + j, 2), mm = 0;
  if (hh < 0) return -1;
  j += 2;
  if (j < len && p[j] == ':') j++;
  if (len - j >= 2 && is_digit(p[j])) {
    mm = digits(p + j, 2);
    if (mm < 0) return -1;
    j += 2;
  } else if (need_mm) {
    return -1;
  }
  if (hh > 23 || mm > 59) return -1;
  *off = sign * (hh * 3600 + mm * 60);
  *i = j;
  return 1;
}

/* "HH:MM:SS" at p[*i] (seconds optional when secs_optional), range-checked;
 * 60 is accepted as a leap second. */
static int clock_time(const char *p, size_t len, size_t *i, int secs_optional,
                      int64_t *secs) {
  size_t j = *i;
  if (len - j < 5 || p[j + 2] != ':') return -1;
  int h = digits(p + j, 2), m = digits(p + j + 3, 2), s = 0;
  if (h < 0 || m < 0 || h > 23 || m > 59) return -1;
  j += 5;
  if (len - j >= 3 && p[j] == ':') {
    s = digits(p + j + 1, 2);
    if (s < 0 || s > 60) return -1;
    j += 3;
  } else if (!secs_optional) {
    return -1;
  }
  *secs = (int64_t)h * 3600 + m * 60 + s;
  *i = j;
  return 0;
}

/* "YYYY-MM-DD" at p into days since the epoch. */
static int iso_date(const char *p, size_t len, int64_t *days) {
  if (len < 10 || p[4] != '-' || p[7] != '-') return -1;
  int y = digits(p, 4), m = digits(p + 5, 2), d = digits(p + 8, 2);
  if (y < 0 || m < 1 || m > 12 || d < 1 || (unsigned)d > month_days(y, m))
    return -1;
  *days = logtime_days_from_civil(y, (unsigned)m, (unsigned)d);
  return 0;
}

int logtime_clf(const char *p, size_t len, int64_t *us, size_t *used) {
  /* 10/Oct/2000:13:55:36 -0700; a one-digit day is tolerated. */
  size_t i = 0;
  int d;
  if (len >= 2 && is_digit(p[0]) && p[1] == '/') {
    d = p[0] - '0';
    i = 2;
  } else {
    if (len < 3 || p[2] != '/') return ERR_PARSE;
    d = digits(p, 2);
    i = 3;
  }
  if (len - i < 17 || p[i + 3] != '/' || p[i + 8] != ':') return ERR_PARSE;
  int m = month_of(p + i), y = digits(p + i + 4, 4);
  if (m == 0 || y < 0 || d < 1 || (unsigned)d > month_days(y, (unsigned)m))
    return ERR_PARSE;
  i += 9;
  int64_t secs, frac;
  if (clock_time(p, len, &i, 0, &secs) < 0) return ERR_PARSE;
  if (fraction(p, len, &i, 0, &frac) < 0) return ERR_PARSE;
  int off = 0;
  if (i < len && p[i] == ' ') {
    size_t j = i + 1;
    int z = zone(p, len, &j, 1, &off);
    if (z < 0) return ERR_PARSE;
    if (z > 0) i = j;
  }
  secs += logtime_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400 - off;
  *us = secs * US_PER_S + frac;
  if (used) *used = i;
  return 0;
}

int logtime_iso8601(const char *p, size_t len, int64_t *us, size_t *used) {
  int64_t days, secs, frac;
  if (iso_date(p, len, &days) < 0) return ERR_PARSE;
  if (len < 11 || (p[10] != 'T' && p[10] != 't' && p[10] != ' '))
    return ERR_PARSE;
  size_t i = 11;
  if (clock_time(p, len, &i, 1, &secs) < 0) return ERR_PARSE;
  if (fraction(p, len, &i, 1, &frac) < 0) return ERR_PARSE;
  int off = 0;
  if (i < len && (p[i] == 'Z' || p[i] == 'z')) {
    i++;
  } else {
    /* "... 00:00:18 +0000" (a space before the zone) is common in
     * hand-made formats; take it only when a valid zone follows. */
    size_t j = i < len && p[i] == ' ' ? i + 1 : i;
    int z = zone(p, len, &j, 0, &off);
    if (z < 0 && j == i) return ERR_PARSE;
    if (z > 0)
      i = j;
    else
      off = 0;
  }
  *us = (days * 86400 + secs - off) * US_PER_S + frac;
  if (used) *used = i;
  return 0;
}

int logtime_epoch(const char *p, size_t len, int64_t *us, size_t *used) {
  size_t i = 0;
  int64_t s = 0, frac;
  /* 12 digits reach year 33658: more is not a time in seconds, and the
   * cap keeps the multiplication below from overflowing. */
  while (i < len && is_digit(p[i])) {
    if (i == 12) return ERR_PARSE;
    s = s * 10 + (p[i] - '0');
    i++;
  }
  if (i == 0) return ERR_PARSE;
  if (fraction(p, len, &i, 0, &frac) < 0) return ERR_PARSE;
  *us = s * US_PER_S + frac;
  if (used) *used = i;
  return 0;
}

int logtime_any(const char *p, size_t len, int64_t *us, size_t *used) {
  size_t skip = 0, n = 0;
  int rc;
  if (len > 0 && p[0] == '[') skip = 1;
  const char *q = p + skip;
  size_t ql = len - skip;
  if ((ql > 1 && q[1] == '/') || (ql > 2 && q[2] == '/'))
    rc = logtime_clf(q, ql, us, &n);
  else if (ql > 4 && q[4] == '-')
    rc = logtime_iso8601(q, ql, us, &n);
  else
    rc = logtime_epoch(q, ql, us, &n);
  if (rc < 0) return rc;
  n += skip;
  if (skip && n < len && p[n] == ']') n++;
  if (used) *used = n;
  return 0;
}

int logtime_date_time(const char *date, size_t dlen, const char *time,
                      size_t tlen, int64_t *us) {
  int64_t days, secs, frac;
  size_t i = 0;
  if (dlen != 10 || iso_date(date, dlen, &days) < 0) return ERR_PARSE;
  if (clock_time(time, tlen, &i, 1, &secs) < 0) return ERR_PARSE;
  if (fraction(time, tlen, &i, 1, &frac) < 0 || i != tlen) return ERR_PARSE;
  *us = (days * 86400 + secs) * US_PER_S + frac;
  return 0;
}

int64_t logtime_resolution(const char *p, size_t len) {
  for (size_t i = 1; i + 1 < len; i++) {
    if ((p[i] != '.' && p[i] != ',') || !is_digit(p[i - 1]) ||
        !is_digit(p[i + 1]))
      continue;
    int64_t res = US_PER_S;
    for (size_t j = i + 1; j < len && is_digit(p[j]) && res > 1; j++) res /= 10;
    return res;
  }
  return US_PER_S;
}
