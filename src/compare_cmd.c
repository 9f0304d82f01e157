/* compare_cmd: the `mimic compare` command line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compare.h"
#include "err.h"
#include "model.h"
#include "units.h"

static const char USAGE[] =
    "usage: mimic compare A.db B.db [options]\n"
    "\n"
    "Reports how faithfully B reproduces A (typically: A learned from\n"
    "production, B learned from the access log of a replay of A) and\n"
    "exits 0 when every gated metric is within its threshold, 1 otherwise.\n"
    "\n"
    "Metrics (default thresholds): endpoint_tvd (0.02) and status_tvd\n"
    "(0.02), total variation distance of the endpoint and status-class\n"
    "mixes; transition_tvd (0.05), TVD of each state's next-step\n"
    "distribution weighted by its traffic; think_ks (0.05), think_top_ks\n"
    "(0.05, the worst of the busiest transitions), length_ks (0.05) and\n"
    "duration_ks (0.05), Kolmogorov-Smirnov distances; arrival_ks and the\n"
    "session rate ratio are reported. Each threshold is raised to twice the\n"
    "metric's value between two random halves of A's sessions (A's own\n"
    "sampling noise). Times below the coarser timestamp resolution of A\n"
    "and B are compared as one lump.\n"
    "\n"
    "Options:\n"
    "      --time-scale X       B was replayed X times faster: its times are\n"
    "                           multiplied by X before comparing\n"
    "      --scale K            B was replayed at K times A's session rate:\n"
    "                           gate the measured ratio (rate_error, 0.03)\n"
    "      --from DUR           B was replayed from DUR into A's arrival\n"
    "                           curve (replay --from): the rate is measured\n"
    "                           over that part of it\n"
    "      --ignore-status      report the status mix without gating it (B's\n"
    "                           target is not A's service)\n"
    "      --threshold NAME=V   replace a default threshold (repeatable)\n"
    "      --no-split-half      gate on the default thresholds alone\n"
    "      --top N              transitions in think_top_ks (default 10)\n"
    "      --min-samples N      fewer values on either side: not compared\n"
    "                           (default 100)\n"
    "      --json               one JSON object: pass, metrics, thresholds,\n"
    "                           split_half, defaults, rate_ratio, ...\n"
    "  -h, --help               this help\n";

enum {
  OPT_TIMESCALE = 256,
  OPT_SCALE,
  OPT_FROM,
  OPT_IGNORE_STATUS,
  OPT_THRESHOLD,
  OPT_NO_HALF,
  OPT_TOP,
  OPT_MIN,
  OPT_JSON,
};

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "mimic compare: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nRun 'mimic compare --help' for the options.\n");
  return 2;
}

static int parse_pos(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || !(v > 0)) return -1;
  *out = v;
  return 0;
}

static int parse_threshold(const char *s, struct compare_opts *o) {
  const char *eq = strchr(s, '=');
  if (!eq) return -1;
  for (int i = 0; i < COMPARE_NMETRICS; i++) {
    const char *name = compare_metric_name((enum compare_metric)i);
    if (strlen(name) == (size_t)(eq - s) && memcmp(name, s, strlen(name)) == 0)
      return i == COMPARE_ARRIVAL_KS ? -1 : parse_pos(eq + 1, &o->threshold[i]);
  }
  return -1;
}

int compare_main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"time-scale", required_argument, NULL, OPT_TIMESCALE},
      {"scale", required_argument, NULL, OPT_SCALE},
      {"from", required_argument, NULL, OPT_FROM},
      {"ignore-status", no_argument, NULL, OPT_IGNORE_STATUS},
      {"threshold", required_argument, NULL, OPT_THRESHOLD},
      {"no-split-half", no_argument, NULL, OPT_NO_HALF},
      {"top", required_argument, NULL, OPT_TOP},
      {"min-samples", required_argument, NULL, OPT_MIN},
      {"json", no_argument, NULL, OPT_JSON},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  struct compare_opts o = {.time_scale = 1};
  int json = 0, c;
  double d;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_TIMESCALE:
      if (parse_pos(optarg, &o.time_scale))
        return usage_error("--time-scale '%s': expected a positive factor",
                           optarg);
      break;
    case OPT_SCALE:
      if (parse_pos(optarg, &o.scale))
        return usage_error("--scale '%s': expected a positive factor", optarg);
      break;
    case OPT_FROM: {
      int64_t us;
      if (units_parse_duration(optarg, &us) || us < 0)
        return usage_error("--from '%s': expected a duration such as 5h",
                           optarg);
      o.from_s = (double)us / 1e6;
      break;
    }
    case OPT_IGNORE_STATUS: o.ignore_status = 1; break;
    case OPT_THRESHOLD:
      if (parse_threshold(optarg, &o))
        return usage_error(
            "--threshold '%s': expected NAME=VALUE, NAME one of endpoint_tvd "
            "status_tvd transition_tvd think_ks think_top_ks length_ks "
            "duration_ks rate_error, VALUE > 0",
            optarg);
      break;
    case OPT_NO_HALF: o.no_split_half = 1; break;
    case OPT_TOP:
      if (parse_pos(optarg, &d) || d != floor(d) || d > 64)
        return usage_error("--top '%s': expected 1 to 64", optarg);
      o.top = (unsigned)d;
      break;
    case OPT_MIN:
      if (parse_pos(optarg, &d) || d != floor(d) || d > 1e12)
        return usage_error("--min-samples '%s': expected a positive number",
                           optarg);
      o.min_samples = (uint64_t)d;
      break;
    case OPT_JSON: json = 1; break;
    case 'h': fputs(USAGE, stdout); return 0;
    default:
      fprintf(stderr, "Run 'mimic compare --help' for the options.\n");
      return 2;
    }
  }
  if (argc - optind != 2)
    return usage_error("%s", "expected two models: A.db B.db");
  struct model *a = NULL, *b = NULL;
  struct compare_report *r = NULL;
  char err[1024] = "";
  int status = 1, rc;
  if ((rc = model_load(argv[optind], &a, err, sizeof err)) ||
      (rc = model_load(argv[optind + 1], &b, err, sizeof err))) {
    fprintf(stderr, "mimic compare: error: %s\n", err[0] ? err : err_str(rc));
    goto out;
  }
  if ((rc = compare_models(a, b, &o, &r, err, sizeof err))) {
    fprintf(stderr, "mimic compare: error: %s\n", err[0] ? err : err_str(rc));
    goto out;
  }
  if (compare_print(r, stdout, json) || fflush(stdout) != 0) {
    fprintf(stderr, "mimic compare: error: cannot write the report: %s\n",
            strerror(errno ? errno : EIO));
    goto out;
  }
  status = compare_pass(r) ? 0 : 1;
out:
  compare_report_free(r);
  model_free(a);
  model_free(b);
  return status;
}
