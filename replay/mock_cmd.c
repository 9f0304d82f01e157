/* mock_cmd: the `mimic mock` command line. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mock.h"

static const char USAGE[] =
    "usage: mimic mock MODEL.db --listen HOST:PORT [options]\n"
    "\n"
    "A fake target driven by a model: every learned endpoint is answered\n"
    "with a status drawn from its learned status mix, after a delay drawn\n"
    "from its learned response times, with a body of a learned size;\n"
    "unknown paths get 404. Keep-alive and pipelining; stops on Ctrl-C or\n"
    "SIGTERM once the answers due are sent.\n"
    "\n"
    "Options:\n"
    "  -l, --listen HOST:PORT     address to serve (127.0.0.1:8080, :8080,\n"
    "                             [::1]:8080; port 0 picks a free one)\n"
    "      --log FILE             access log: Combined with millisecond\n"
    "                             times, request time and the session header\n"
    "                             (mimic capture --session-key header:NAME\n"
    "                             reads it)\n"
    "      --session-header NAME  header logged (default X-Mimic-Session)\n"
    "      --time-scale X         answer X times faster than learned (to meet\n"
    "                             a replay run with --time-scale X)\n"
    "      --threads N            worker threads (default: one per core)\n"
    "      --seed S               seed of the answers drawn (default 1)\n"
    "      --max-seconds N        stop by itself after N seconds\n"
    "  -q, --quiet                only the listening line and errors\n"
    "  -h, --help                 this help\n";

enum {
  OPT_LOG = 256,
  OPT_SESSHDR,
  OPT_TIMESCALE,
  OPT_THREADS,
  OPT_SEED,
  OPT_MAXSEC,
};

static int usage_error(const char *fmt, const char *arg) {
  fprintf(stderr, "mimic mock: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nRun 'mimic mock --help' for the options.\n");
  return 2;
}

static int parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
  *out = v;
  return 0;
}

int mock_main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, 'l'},
      {"log", required_argument, NULL, OPT_LOG},
      {"session-header", required_argument, NULL, OPT_SESSHDR},
      {"time-scale", required_argument, NULL, OPT_TIMESCALE},
      {"threads", required_argument, NULL, OPT_THREADS},
      {"seed", required_argument, NULL, OPT_SEED},
      {"max-seconds", required_argument, NULL, OPT_MAXSEC},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  struct mock_opts o = {.time_scale = 1, .seed = 1, .err = stderr};
  int c;
  double d;
  optind = 1;
  while ((c = getopt_long(argc, argv, "l:qh", longopts, NULL)) != -1) {
    switch (c) {
    case 'l': o.listen = optarg; break;
    case OPT_LOG: o.log_path = optarg; break;
    case OPT_SESSHDR:
      if (!*optarg || strpbrk(optarg, " :\r\n"))
        return usage_error("--session-header '%s': expected a header name",
                           optarg);
      o.session_header = optarg;
      break;
    case OPT_TIMESCALE:
      if (parse_num(optarg, 1e-6, 1e9, &d))
        return usage_error("--time-scale '%s': expected a positive factor",
                           optarg);
      o.time_scale = d;
      break;
    case OPT_THREADS:
      if (parse_num(optarg, 1, 256, &d) || d != floor(d))
        return usage_error("--threads '%s': expected 1 to 256", optarg);
      o.threads = (unsigned)d;
      break;
    case OPT_SEED:
      if (parse_num(optarg, 0, 1e18, &d) || d != floor(d))
        return usage_error("--seed '%s': expected a number", optarg);
      o.seed = (uint64_t)d;
      break;
    case OPT_MAXSEC:
      if (parse_num(optarg, 1, 1e9, &d) || d != floor(d))
        return usage_error("--max-seconds '%s': expected seconds", optarg);
      o.max_seconds = (int64_t)d;
      break;
    case 'q': o.quiet = 1; break;
    case 'h': fputs(USAGE, stdout); return 0;
    default:
      fprintf(stderr, "Run 'mimic mock --help' for the options.\n");
      return 2;
    }
  }
  if (argc - optind != 1) return usage_error("%s", "expected one MODEL.db");
  if (!o.listen) return usage_error("%s", "--listen HOST:PORT is required");
  o.model_path = argv[optind];
  return mock_run(&o);
}
