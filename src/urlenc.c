#include "urlenc.h"

static int hex_digit(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 32;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t urlenc_decode(const char *p, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n && o < cap; i++) {
    char c = p[i];
    if (c == '%' && i + 2 < n) {
      int hi = hex_digit((unsigned char)p[i + 1]);
      int lo = hex_digit((unsigned char)p[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[o++] = (char)(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out[o++] = c == '+' ? ' ' : c;
  }
  return o;
}
