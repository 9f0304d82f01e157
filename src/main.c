/* main: the `mimic` command line: subcommand dispatch, options, help. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "err.h"
#include "inspect.h"
#include "model.h"
#include "units.h"

enum { EXIT_USAGE = 2 };

static const char MAIN_USAGE[] =
    "usage: mimic COMMAND [options] [args]\n"
    "\n"
    "mimic learns how real users use an HTTP service and plays that\n"
    "behaviour back. Commands:\n"
    "  capture   learn a traffic model (SQLite) from access logs\n"
    "  inspect   summarise a model\n"
    "  version   print the version\n"
    "  help      show this help, or a command's help (mimic help capture)\n"
    "\n"
    "Run 'mimic COMMAND --help' for the options of a command.\n";

static const char CAPTURE_USAGE[] =
    "usage: mimic capture [options] FILE... [-o MODEL.db]\n"
    "\n"
    "Learns a traffic model from access logs. FILE may be plain, .gz or\n"
    ".zst (recognised by content), or - for standard input; several files\n"
    "are merged in time order.\n"
    "\n"
    "Output:\n"
    "  -o, --output FILE        model to write (default: model.db)\n"
    "  -f, --force              overwrite an existing model\n"
    "  -q, --quiet              print only warnings and errors\n"
    "\n"
    "Input format:\n"
    "      --format NAME        auto (default), clf, combined, ingress-nginx,\n"
    "                           nginx, w3c, alb, elb, json, regex, generic\n"
    "      --log-format 'FMT'   an nginx log_format, e.g. '$remote_addr - "
    "$remote_user\n"
    "                           [$time_local] \"$request\" $status "
    "$body_bytes_sent'\n"
    "                           (implies --format nginx)\n"
    "      --log-regex 'RE'     a PCRE2 pattern with named groups: time, "
    "client,\n"
    "                           method, path, uri, request, query, status, "
    "bytes,\n"
    "                           ua, referer, user, host, session, latency_s,\n"
    "                           latency_ms, latency_us (implies --format "
    "regex)\n"
    "      --json-map 'F=K,..'  JSON keys for fields: time client user "
    "request\n"
    "                           method path query status bytes ua referer "
    "host\n"
    "                           session latency_s latency_ms latency_us\n"
    "\n"
    "Sessions:\n"
    "      --session-key KEY    ip, ip+ua (default), user, cookie:NAME, "
    "header:NAME\n"
    "      --idle-timeout DUR   inactivity that ends a session (default "
    "30m)\n"
    "      --reorder-window DUR how far out of time order lines may be and "
    "still\n"
    "                           be sorted (default 60s)\n"
    "\n"
    "Filtering and limits:\n"
    "      --include REGEX      learn only requests whose path?query "
    "matches\n"
    "      --exclude REGEX      skip requests whose path?query matches\n"
    "      --max-malformed PCT  fail (no model) when more than PCT%% of "
    "lines are\n"
    "                           malformed (default: never fail on that)\n"
    "      --max-endpoints N    endpoint limit before folding into "
    "catch-alls\n"
    "                           (default 20000)\n"
    "      --collapse N         distinct values at a path position before "
    "it\n"
    "                           becomes a {parameter} (default 20)\n"
    "      --seed N             seed of the time de-quantisation noise "
    "(default 1)\n"
    "\n"
    "Exit status: 0 model written; 1 failed, no model written; 2 usage "
    "error;\n"
    "3 model written but an input could not be read to its end.\n";

static const char INSPECT_USAGE[] =
    "usage: mimic inspect [options] MODEL.db\n"
    "\n"
    "Summarises a model: source, span, requests, sessions, clients,\n"
    "malformed lines, top endpoints, status mix, think time, session\n"
    "length and duration, arrival curve, redactions.\n"
    "\n"
    "  --json        print a JSON object instead (all endpoints)\n"
    "  --top N       endpoints listed in the text form (default 15)\n"
    "  -h, --help    this help\n";

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
  fprintf(stderr, "mimic %s: ", cmd);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\nRun 'mimic %s --help' for the options.\n", cmd);
  return EXIT_USAGE;
}

static int parse_count(const char *s, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || end == s || s[0] == '-') return ERR_USAGE;
  *out = (size_t)v;
  return 0;
}

enum {
  OPT_FORMAT = 256,
  OPT_LOG_FORMAT,
  OPT_LOG_REGEX,
  OPT_JSON_MAP,
  OPT_SESSION_KEY,
  OPT_IDLE,
  OPT_REORDER,
  OPT_INCLUDE,
  OPT_EXCLUDE,
  OPT_MAX_MALFORMED,
  OPT_MAX_ENDPOINTS,
  OPT_COLLAPSE,
  OPT_SEED,
  OPT_JSON,
  OPT_TOP,
};

static int cmd_capture(int argc, char **argv) {
  static const struct option longopts[] = {
      {"output", required_argument, NULL, 'o'},
      {"force", no_argument, NULL, 'f'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {"format", required_argument, NULL, OPT_FORMAT},
      {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
      {"log-regex", required_argument, NULL, OPT_LOG_REGEX},
      {"json-map", required_argument, NULL, OPT_JSON_MAP},
      {"session-key", required_argument, NULL, OPT_SESSION_KEY},
      {"idle-timeout", required_argument, NULL, OPT_IDLE},
      {"reorder-window", required_argument, NULL, OPT_REORDER},
      {"include", required_argument, NULL, OPT_INCLUDE},
      {"exclude", required_argument, NULL, OPT_EXCLUDE},
      {"max-malformed", required_argument, NULL, OPT_MAX_MALFORMED},
      {"max-endpoints", required_argument, NULL, OPT_MAX_ENDPOINTS},
      {"collapse", required_argument, NULL, OPT_COLLAPSE},
      {"seed", required_argument, NULL, OPT_SEED},
      {0, 0, 0, 0},
  };
  struct capture_opts o = {
      .output = "model.db",
      .format = "auto",
      .idle_us = 30LL * 60 * 1000000,
      .reorder_us = 60LL * 1000000,
      .max_malformed_pct = -1,
      .seed = 1,
      .log = stderr,
  };
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "o:fqh", longopts, NULL)) != -1) {
    size_t n;
    char *end;
    switch (c) {
    case 'o': o.output = optarg; break;
    case 'f': o.force = 1; break;
    case 'q': o.quiet = 1; break;
    case 'h': fputs(CAPTURE_USAGE, stdout); return 0;
    case OPT_FORMAT: o.format = optarg; break;
    case OPT_LOG_FORMAT:
      o.fmt.log_format = optarg;
      o.format = "nginx";
      break;
    case OPT_LOG_REGEX:
      o.fmt.regex = optarg;
      o.format = "regex";
      break;
    case OPT_JSON_MAP: o.fmt.json_map = optarg; break;
    case OPT_SESSION_KEY:
      if (capture_parse_key(optarg, &o))
        return usage_error("capture",
                           "--session-key '%s': expected ip, ip+ua, user, "
                           "cookie:NAME or header:NAME",
                           optarg);
      break;
    case OPT_IDLE:
      if (units_parse_duration(optarg, &o.idle_us) || o.idle_us <= 0)
        return usage_error("capture",
                           "--idle-timeout '%s': expected a "
                           "duration such as 30m, 90s, 1h",
                           optarg);
      break;
    case OPT_REORDER:
      if (units_parse_duration(optarg, &o.reorder_us))
        return usage_error("capture",
                           "--reorder-window '%s': expected a "
                           "duration such as 60s, 5m",
                           optarg);
      break;
    case OPT_INCLUDE: o.include = optarg; break;
    case OPT_EXCLUDE: o.exclude = optarg; break;
    case OPT_MAX_MALFORMED:
      o.max_malformed_pct = strtod(optarg, &end);
      if (*end || end == optarg || o.max_malformed_pct < 0 ||
          o.max_malformed_pct > 100)
        return usage_error("capture",
                           "--max-malformed '%s': expected a "
                           "percentage between 0 and 100",
                           optarg);
      break;
    case OPT_MAX_ENDPOINTS:
      if (parse_count(optarg, &o.max_endpoints) || o.max_endpoints == 0)
        return usage_error("capture",
                           "--max-endpoints '%s': expected a "
                           "positive number",
                           optarg);
      break;
    case OPT_COLLAPSE:
      if (parse_count(optarg, &n) || n < 2 || n > 100000)
        return usage_error("capture",
                           "--collapse '%s': expected a number "
                           "from 2 to 100000",
                           optarg);
      o.collapse_children = (unsigned)n;
      break;
    case OPT_SEED:
      if (parse_count(optarg, &n))
        return usage_error("capture", "--seed '%s': expected a number", optarg);
      o.seed = n;
      break;
    default:
      fprintf(stderr, "Run 'mimic capture --help' for the options.\n");
      return EXIT_USAGE;
    }
  }
  if (optind >= argc)
    return usage_error("capture", "%s",
                       "no input file given (use - for "
                       "standard input)");
  o.inputs = (const char *const *)&argv[optind];
  o.ninputs = (size_t)(argc - optind);
  return capture_run(&o);
}

static int cmd_inspect(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, OPT_JSON},
      {"top", required_argument, NULL, OPT_TOP},
      {"help", no_argument, NULL, 'h'},
      {0, 0, 0, 0},
  };
  int json = 0, c;
  size_t top = 15;
  optind = 1;
  while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_JSON: json = 1; break;
    case OPT_TOP:
      if (parse_count(optarg, &top))
        return usage_error("inspect", "--top '%s': expected a number", optarg);
      break;
    case 'h': fputs(INSPECT_USAGE, stdout); return 0;
    default:
      fprintf(stderr, "Run 'mimic inspect --help' for the options.\n");
      return EXIT_USAGE;
    }
  }
  if (optind != argc - 1)
    return usage_error("inspect", "%s", "expected exactly one MODEL.db");
  const char *path = argv[optind];
  struct model *m = NULL;
  char err[1024] = "";
  int rc = model_load(path, &m, err, sizeof err);
  if (rc) {
    fprintf(stderr, "mimic inspect: error: %s\n", err[0] ? err : err_str(rc));
    return 1;
  }
  rc = inspect_print(m, path, stdout, json, top);
  model_free(m);
  if (rc || fflush(stdout) != 0) {
    fprintf(stderr, "mimic inspect: error: cannot write the output: %s\n",
            strerror(errno ? errno : EIO));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(MAIN_USAGE, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "capture") == 0) return cmd_capture(argc - 1, argv + 1);
  if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("mimic %s (model schema %d)\n", MIMIC_VERSION, MODEL_SCHEMA_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "-h") == 0) {
    const char *what = argc > 2 ? argv[2] : "";
    if (strcmp(what, "capture") == 0)
      fputs(CAPTURE_USAGE, stdout);
    else if (strcmp(what, "inspect") == 0)
      fputs(INSPECT_USAGE, stdout);
    else
      fputs(MAIN_USAGE, stdout);
    return 0;
  }
  fprintf(stderr, "mimic: unknown command '%s'\n\n%s", cmd, MAIN_USAGE);
  return EXIT_USAGE;
}
