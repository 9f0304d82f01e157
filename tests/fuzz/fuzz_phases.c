/* Fuzz target for the phases file (`replay --phases`): any bytes parse or
 * are refused with a message, never crash; what parses has phases that
 * add up to its duration, and every instant of it evaluates to a finite,
 * non-negative shape within the peak.
 *
 * Input: the first byte picks the workload (odd: closed, 50 users), the
 * rest is the JSON text. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  char *text = malloc(size);
  if (!text) return 0;
  memcpy(text, data + 1, size - 1);
  text[size - 1] = '\0';
  struct scenario_params p = {.users = (data[0] & 1) ? 50 : 0};
  struct scenario *s = NULL;
  char err[256] = "";
  int rc = scenario_phases_parse(text, &p, &s, err, sizeof err);
  if (rc) {
    if (s || !err[0]) abort();
  } else {
    int64_t d = scenario_duration(s);
    double peak = scenario_rate_peak(s);
    if (d <= 0 || !(peak > 0) || scenario_phases(s) < 1) abort();
    for (int i = 0; i <= 64; i++) {
      struct scenario_point pt;
      int64_t t = (int64_t)((double)d * i / 64);
      scenario_at(s, t, &pt);
      if (!isfinite(pt.rate) || pt.rate < 0 || pt.rate > peak * (1 + 1e-9) ||
          pt.error_rate < 0 || pt.error_rate > 1 ||
          pt.phase >= scenario_phases(s))
        abort();
    }
    scenario_free(s);
  }
  free(text);
  return 0;
}
