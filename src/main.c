/* main: the `mimic` command line: subcommand dispatch, options, help. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "compare.h"
#include "cleanup.h"
#include "err.h"
#include "exact.h"
#include "inspect.h"
#include "mock.h"
#include "model.h"
#include "persona.h"
#include "run.h"
#include "scenario.h"
#include "units.h"

enum { EXIT_USAGE = 2 };

static const char MAIN_USAGE[] =
    "usage: mimic COMMAND [options] [args]\n"
    "\n"
    "mimic learns how real users use an HTTP service and plays that\n"
    "behaviour back. Commands:\n"
    "  capture   learn a traffic model (SQLite) from access logs or packets\n"
    "  inspect   summarise a model\n"
    "  replay    send traffic drawn from a model to a target\n"
    "  compare   report how faithfully one model reproduces another\n"
    "  scenarios list the load shapes of replay --scenario\n"
    "  cleanup   delete what a replay created (from its journal)\n"
    "  mock      serve a fake target that answers as the model learned\n"
    "  version   print the version\n"
    "  help      show this help, or a command's help (mimic help capture)\n"
    "\n"
    "Run 'mimic COMMAND --help' for the options of a command.\n";

static const char CAPTURE_USAGE[] =
    "usage: mimic capture [options] FILE... [-o MODEL.db]\n"
    "       mimic capture --iface IF [--filter BPF] [--duration D | --count "
    "N]\n"
    "\n"
    "Learns a traffic model from access logs or packet captures (pcap,\n"
    "pcapng: HTTP/1.x over TCP). FILE may be plain, .gz or .zst (recognised\n"
    "by content), or - for standard input; several files are merged in\n"
    "time order.\n"
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
    "                           (packets: also authorization)\n"
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
    "and of the\n"
    "                           persona clustering (default 1)\n"
    "\n"
    "Personas (behaviour classes of sessions):\n"
    "      --personas K         group sessions into exactly K personas "
    "(1: one\n"
    "                           persona, \"all\"; default: K chosen from "
    "the data)\n"
    "\n"
    "Packets:\n"
    "      --iface IF           capture live on interface IF (needs root or\n"
    "                           CAP_NET_RAW); Ctrl-C stops and writes the "
    "model\n"
    "      --filter 'BPF'       tcpdump filter for live and file captures\n"
    "      --duration DUR       stop a live capture after DUR (e.g. 60s)\n"
    "      --count N            stop after N TCP packets\n"
    "      --record             also store the request trace (redacted,\n"
    "                           zstd) for `mimic replay --exact`\n"

    "\n"
    "Exit status: 0 model written; 1 failed, no model written; 2 usage "
    "error;\n"
    "3 model written but an input could not be read to its end.\n";

static const char INSPECT_USAGE[] =
    "usage: mimic inspect [options] MODEL.db\n"
    "\n"
    "Summarises a model: source, span, requests, sessions, clients,\n"
    "malformed lines, top endpoints, status mix, think time, session\n"
    "length and duration, arrival curve, personas (name, weight, sessions,\n"
    "median length and think time, top endpoints), redactions.\n"
    "\n"
    "  --json        print a JSON object instead (all endpoints)\n"
    "  --top N       endpoints listed in the text form (default 15)\n"
    "  -h, --help    this help\n";

static const char REPLAY_USAGE[] =
    "usage: mimic replay MODEL.db --target URL [options]\n"
    "\n"
    "Sends statistically similar traffic to a target: sessions drawn from\n"
    "the model (Markov walk over its endpoints, learned think times, paths\n"
    "from its templates and value pools, its user agents).\n"
    "\n"
    "Closed workload (a fixed population):\n"
    "      --users N              virtual users\n"
    "      --min-request-count A  requests per user, drawn uniformly from\n"
    "      --max-request-count B  [A, B], as consecutive sessions (default\n"
    "                             10 and 1000)\n"
    "      --spawn-rate R         users started per second (default: all at "
    "once)\n"
    "Open workload (default without --users: sessions arrive along the\n"
    "learned curve, a non-homogeneous Poisson process):\n"
    "      --scale K              K times the learned session rate (default "
    "1)\n"
    "      --time-scale X         play the timeline X times faster (24: a "
    "day in\n"
    "                             an hour); think times shrink with it...\n"
    "      --keep-think-time      ...unless this is given\n"
    "      --from DUR             begin DUR into the learned curve (learned\n"
    "                             time, e.g. 5h for the busy hours)\n"
    "Both:\n"
    "      --delay-min MS         think times drawn uniformly from [MS, "
    "MS2]\n"
    "      --delay-max MS2        instead of the learned ones\n"
    "      --duration DUR         no new sessions after DUR (e.g. 10m)\n"
    "      --drain-timeout DUR    sessions still running then are cut after "
    "DUR\n"
    "                             (default 30s)\n"
    "      --max-rps R            hard cap on requests per second\n"
    "      --threads N            worker threads (default: one per core)\n"
    "      --seed S               the same seed and model give the same "
    "plan\n"
    "                             (default 1)\n"
    "      --dry-run              send nothing: print the plan (time, "
    "user.session,\n"
    "                             method, target, user agent)\n"
    "Stateful sessions, faults and cleanup:\n"
    "      --credentials FILE     CSV username,password[,extra...]: an "
    "identity\n"
    "                             per virtual user (rows used in turn)\n"
    "      --login 'POST /path'   the login endpoint (default: found in the "
    "model)\n"
    "      --bodies FILE.json     body templates: {\"POST /path\": {...}} "
    "with\n"
    "                             {{user.email}}, {{random.int}}, "
    "{{created.id}}...\n"
    "      --error-rate P         percent of requests sent as client-side "
    "faults\n"
    "      --faults K[:W],...     their kinds and weights: bad-login, "
    "no-auth,\n"
    "                             expired-token, invalid-body, unknown-id, "
    "timeout,\n"
    "                             abort (default: every kind the run can "
    "play)\n"
    "      --fault-timeout DUR    how long a timeout fault waits (default "
    "200ms)\n"
    "      --journal FILE         SQLite journal of what the run creates\n"
    "      --cleanup              at the end (also after Ctrl-C) delete what "
    "the\n"
    "                             run created, newest first, within "
    "--max-rps\n"
    "      --cleanup-interval DUR also every DUR, what ended sessions "
    "created\n"
    "      --cleanup-map FILE     JSON: {\"POST /t\": \"DELETE "
    "/t/{created.id}\"}\n"
    "      --run-id ID            marker of the values the run makes up "
    "(sim_ID_...)\n"
    "HTTP:\n"
    "  -t, --target URL           base URL of the target (required)\n"
    "      --http2                use HTTP/2\n"
    "      --timeout DUR          per request (default 30s)\n"
    "      --max-connections N    connections to the target at most\n"
    "  -H, --header 'K: V'        extra header on every request "
    "(repeatable)\n"
    "  -k, --insecure             do not verify TLS certificates\n"
    "      --session-header NAME  header carrying <user>.<session> (default\n"
    "                             X-Mimic-Session)\n"
    "      --no-session-header    send none\n"
    "Output:\n"
    "      --report FILE.json     totals, per endpoint counts, status mix, "
    "error\n"
    "                             reasons, latency quantiles, settings\n"
    "      --log FILE             access log of what was answered (Combined "
    "+\n"
    "                             request time + session id)\n"
    "Personas:\n"
    "      --user-types A,B       only sessions of these personas (names as "
    "listed\n"
    "                             by mimic inspect), in their learned "
    "proportions\n"
    "  -q, --quiet                no progress or summary\n"
    "  -h, --help                 this help\n"
    "Load shape and metrics:\n"
    "      --scenario NAME        a preset load shape ('mimic scenarios' "
    "lists them)\n"
    "      --phases FILE.json     phases run in order (duration, scale or "
    "users,\n"
    "                             max_rps, error_rate, scenario)\n"
    "      --metrics-addr H:P     serve Prometheus metrics at "
    "http://H:P/metrics\n"
    "      --linger DUR           keep serving them DUR after the run "
    "(default 0)\n"
    "\n"
    "Latency is measured from the intended send time (a late request counts\n"
    "its wait) and as service time. Ctrl-C stops starting requests and lets\n"
    "those in flight finish (4 s at most); a second Ctrl-C aborts. The\n"
    "report is written either way.\n"
    "\n"
    "Exit status: 0 done; 1 could not run; 2 usage error (also an unknown\n"
    "persona); 3 --cleanup left resources on the target (listed); 4 the\n"
    "target never answered.\n"
    "\n"
    "Exact replay of a recorded trace (capture --record):\n"
    "  mimic replay MODEL.db --exact --target URL [--speed X] [--scale K]\n"
    "      [--loop] [--duration DUR] [--stagger DUR] [--report FILE] [-H ..]\n"
    "  sends the recorded sessions in order with their timing / X; K copies\n"
    "  of every session (staggered by --stagger, default 100ms, each its own\n"
    "  session id); values earlier responses gave are taken from this run's.\n";

_Static_assert(PERSONA_MAX == 64, "--personas' message says 64");

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
  OPT_SHAPE = 128, /* replay's load-shape and metrics options */
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
  OPT_USERS,
  OPT_MINREQ,
  OPT_MAXREQ,
  OPT_SPAWN,
  OPT_SCALE,
  OPT_TIMESCALE,
  OPT_KEEPTHINK,
  OPT_FROM,
  OPT_DELAYMIN,
  OPT_DELAYMAX,
  OPT_DURATION,
  OPT_DRAIN,
  OPT_MAXRPS,
  OPT_THREADS,
  OPT_DRYRUN,
  OPT_HTTP2,
  OPT_TIMEOUT,
  OPT_MAXCONN,
  OPT_SESSHDR,
  OPT_NOSESSHDR,
  OPT_REPORT,
  OPT_LOG,
  OPT_USERTYPES,
  OPT_IFACE,
  OPT_FILTER,
  OPT_CAPDURATION,
  OPT_COUNT,
  OPT_RECORD,
  OPT_PERSONAS,
  OPT_CREDENTIALS,
  OPT_LOGIN,
  OPT_BODIES,
  OPT_ERRRATE,
  OPT_FAULTS,
  OPT_FAULTTIMEOUT,
  OPT_JOURNAL,
  OPT_CLEANUP,
  OPT_CLEANUPINT,
  OPT_CLEANUPMAP,
  OPT_RUNID,
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
      {"iface", required_argument, NULL, OPT_IFACE},
      {"filter", required_argument, NULL, OPT_FILTER},
      {"duration", required_argument, NULL, OPT_CAPDURATION},
      {"count", required_argument, NULL, OPT_COUNT},
      {"record", no_argument, NULL, OPT_RECORD},
      {"personas", required_argument, NULL, OPT_PERSONAS},
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
                           "cookie:NAME, header:NAME or authorization",
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
    case OPT_IFACE: o.iface = optarg; break;
    case OPT_FILTER: o.filter = optarg; break;
    case OPT_CAPDURATION:
      if (units_parse_duration(optarg, &o.live_duration_us) ||
          o.live_duration_us <= 0)
        return usage_error("capture",
                           "--duration '%s': expected a duration such as "
                           "60s, 5m",
                           optarg);
      break;
    case OPT_COUNT:
      if (parse_count(optarg, &n) || n == 0)
        return usage_error("capture",
                           "--count '%s': expected a positive number", optarg);
      o.live_count = n;
      break;
    case OPT_RECORD: o.record = 1; break;
    case OPT_PERSONAS:
      if (parse_count(optarg, &n) || n == 0 || n > PERSONA_MAX)
        return usage_error("capture",
                           "--personas '%s': expected a number from 1 to 64",
                           optarg);
      o.personas = (unsigned)n;
      break;
    default:
      fprintf(stderr, "Run 'mimic capture --help' for the options.\n");
      return EXIT_USAGE;
    }
  }
  if (o.live_duration_us && !o.iface)
    return usage_error("capture", "%s", "--duration needs --iface");
  if (optind >= argc && o.iface) {
    o.ninputs = 0;
    return capture_run(&o);
  }
  if (optind >= argc)
    return usage_error("capture", "%s",
                       "no input file given (use - for "
                       "standard input)");
  o.inputs = (const char *const *)&argv[optind];
  o.ninputs = (size_t)(argc - optind);
  return capture_run(&o);
}

static int parse_double(const char *s, double min, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !(v >= min)) return ERR_USAGE;
  *out = v;
  return 0;
}

static int cmd_replay(int argc, char **argv) {
  static const struct option longopts[] = {
      {"target", required_argument, NULL, 't'},
      {"users", required_argument, NULL, OPT_USERS},
      {"min-request-count", required_argument, NULL, OPT_MINREQ},
      {"max-request-count", required_argument, NULL, OPT_MAXREQ},
      {"spawn-rate", required_argument, NULL, OPT_SPAWN},
      {"scale", required_argument, NULL, OPT_SCALE},
      {"time-scale", required_argument, NULL, OPT_TIMESCALE},
      {"keep-think-time", no_argument, NULL, OPT_KEEPTHINK},
      {"from", required_argument, NULL, OPT_FROM},
      {"delay-min", required_argument, NULL, OPT_DELAYMIN},
      {"delay-max", required_argument, NULL, OPT_DELAYMAX},
      {"duration", required_argument, NULL, OPT_DURATION},
      {"drain-timeout", required_argument, NULL, OPT_DRAIN},
      {"max-rps", required_argument, NULL, OPT_MAXRPS},
      {"threads", required_argument, NULL, OPT_THREADS},
      {"seed", required_argument, NULL, OPT_SEED},
      {"dry-run", no_argument, NULL, OPT_DRYRUN},
      {"http2", no_argument, NULL, OPT_HTTP2},
      {"timeout", required_argument, NULL, OPT_TIMEOUT},
      {"max-connections", required_argument, NULL, OPT_MAXCONN},
      {"header", required_argument, NULL, 'H'},
      {"insecure", no_argument, NULL, 'k'},
      {"session-header", required_argument, NULL, OPT_SESSHDR},
      {"no-session-header", no_argument, NULL, OPT_NOSESSHDR},
      {"report", required_argument, NULL, OPT_REPORT},
      {"log", required_argument, NULL, OPT_LOG},
      {"user-types", required_argument, NULL, OPT_USERTYPES},
      {"credentials", required_argument, NULL, OPT_CREDENTIALS},
      {"login", required_argument, NULL, OPT_LOGIN},
      {"bodies", required_argument, NULL, OPT_BODIES},
      {"error-rate", required_argument, NULL, OPT_ERRRATE},
      {"faults", required_argument, NULL, OPT_FAULTS},
      {"fault-timeout", required_argument, NULL, OPT_FAULTTIMEOUT},
      {"journal", required_argument, NULL, OPT_JOURNAL},
      {"cleanup", no_argument, NULL, OPT_CLEANUP},
      {"cleanup-interval", required_argument, NULL, OPT_CLEANUPINT},
      {"cleanup-map", required_argument, NULL, OPT_CLEANUPMAP},
      {"run-id", required_argument, NULL, OPT_RUNID},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      /* load shape and metrics: parsed by scenario_option */
      {"scenario", required_argument, NULL, OPT_SHAPE},
      {"phases", required_argument, NULL, OPT_SHAPE},
      {"metrics-addr", required_argument, NULL, OPT_SHAPE},
      {"linger", required_argument, NULL, OPT_SHAPE},
      {0, 0, 0, 0},
  };
  struct run_opts o = {
      .min_requests = 10,
      .max_requests = 1000,
      .scale = 1,
      .time_scale = 1,
      .drain_timeout_us = 30LL * 1000000,
      .timeout_ms = 30000,
      .session_header = "X-Mimic-Session",
      .seed = 1,
      .out = stdout,
      .err = stderr,
  };
  const char **headers = calloc((size_t)argc, sizeof *headers);
  char *types = NULL; /* --user-types, split in place */
  const char **personas = NULL;
  if (!headers) return 1;
  int c, have_min = 0, have_max = 0, rc = EXIT_USAGE, li = 0;
  size_t n;
  double d;
  int64_t us;
  optind = 1;
  while ((c = getopt_long(argc, argv, "t:H:kqh", longopts, &li)) != -1) {
    switch (c) {
    case 't': o.target = optarg; break;
    case OPT_SHAPE:
      if (scenario_option(longopts[li].name, optarg, &o, stderr)) goto out;
      break;
    case OPT_USERS:
      if (parse_count(optarg, &n) || n == 0) {
        usage_error("replay", "--users '%s': expected a positive number",
                    optarg);
        goto out;
      }
      o.users = n;
      break;
    case OPT_MINREQ:
    case OPT_MAXREQ:
      if (parse_count(optarg, &n) || n > UINT32_MAX - 1) {
        usage_error("replay", "request count '%s': expected a number", optarg);
        goto out;
      }
      if (c == OPT_MINREQ)
        o.min_requests = (uint32_t)n, have_min = 1;
      else
        o.max_requests = (uint32_t)n, have_max = 1;
      break;
    case OPT_SPAWN:
      if (parse_double(optarg, 0, &o.spawn_rate)) {
        usage_error("replay", "--spawn-rate '%s': expected users per second",
                    optarg);
        goto out;
      }
      break;
    case OPT_SCALE:
      if (parse_double(optarg, 0, &o.scale) || o.scale <= 0) {
        usage_error("replay", "--scale '%s': expected a positive factor",
                    optarg);
        goto out;
      }
      break;
    case OPT_TIMESCALE:
      if (parse_double(optarg, 0, &o.time_scale) || o.time_scale <= 0) {
        usage_error("replay", "--time-scale '%s': expected a positive factor",
                    optarg);
        goto out;
      }
      break;
    case OPT_KEEPTHINK: o.keep_think_time = 1; break;
    case OPT_DELAYMIN:
    case OPT_DELAYMAX:
      if (parse_double(optarg, 0, &d)) {
        usage_error("replay", "delay '%s': expected milliseconds", optarg);
        goto out;
      }
      if (c == OPT_DELAYMIN)
        o.delay_min_us = (int64_t)(d * 1000);
      else
        o.delay_max_us = (int64_t)(d * 1000);
      o.have_delay |= c == OPT_DELAYMIN ? 1 : 2;
      break;
    case OPT_FROM:
      if (units_parse_duration(optarg, &o.from_us) || o.from_us < 0) {
        usage_error("replay", "--from '%s': expected a duration such as 5h",
                    optarg);
        goto out;
      }
      break;
    case OPT_DURATION:
    case OPT_DRAIN:
    case OPT_TIMEOUT:
      if (units_parse_duration(optarg, &us) || (c != OPT_DRAIN && us <= 0)) {
        usage_error("replay", "'%s': expected a duration such as 30s, 10m",
                    optarg);
        goto out;
      }
      if (c == OPT_DURATION)
        o.duration_us = us;
      else if (c == OPT_DRAIN)
        o.drain_timeout_us = us;
      else
        o.timeout_ms = us / 1000 > 0 ? us / 1000 : 1;
      break;
    case OPT_MAXRPS:
      if (parse_double(optarg, 0, &o.max_rps) || o.max_rps <= 0) {
        usage_error("replay", "--max-rps '%s': expected a positive rate",
                    optarg);
        goto out;
      }
      break;
    case OPT_THREADS:
      if (parse_count(optarg, &n) || n == 0 || n > 256) {
        usage_error("replay", "--threads '%s': expected 1 to 256", optarg);
        goto out;
      }
      o.threads = (unsigned)n;
      break;
    case OPT_SEED:
      if (parse_count(optarg, &n)) {
        usage_error("replay", "--seed '%s': expected a number", optarg);
        goto out;
      }
      o.seed = n;
      break;
    case OPT_DRYRUN: o.dry_run = 1; break;
    case OPT_HTTP2: o.http2 = 1; break;
    case OPT_MAXCONN:
      if (parse_count(optarg, &n) || n == 0) {
        usage_error("replay",
                    "--max-connections '%s': expected a positive "
                    "number",
                    optarg);
        goto out;
      }
      o.max_connections = (long)n;
      break;
    case 'H':
      if (!strchr(optarg, ':') || optarg[0] == ':') {
        usage_error("replay", "--header '%s': expected 'Name: value'", optarg);
        goto out;
      }
      headers[o.nheaders++] = optarg;
      break;
    case 'k': o.insecure = 1; break;
    case OPT_SESSHDR: o.session_header = optarg; break;
    case OPT_NOSESSHDR: o.session_header = NULL; break;
    case OPT_REPORT: o.report_path = optarg; break;
    case OPT_LOG: o.log_path = optarg; break;
    case OPT_USERTYPES:
      free(types);
      free(personas);
      personas = NULL;
      o.npersonas = 0;
      if (!(types = strdup(optarg)) ||
          !(personas = calloc(strlen(optarg) / 2 + 1, sizeof *personas))) {
        rc = 1;
        goto out;
      }
      for (char *save = NULL, *t = strtok_r(types, ",", &save); t;
           t = strtok_r(NULL, ",", &save))
        personas[o.npersonas++] = t;
      if (o.npersonas == 0) {
        usage_error("replay",
                    "--user-types '%s': expected persona names "
                    "separated by commas (see mimic inspect)",
                    optarg);
        goto out;
      }
      o.personas = personas;
      break;
    case OPT_CREDENTIALS: o.credentials = optarg; break;
    case OPT_LOGIN: o.login = optarg; break;
    case OPT_BODIES: o.bodies = optarg; break;
    case OPT_ERRRATE:
      o.have_error_rate = 1;
      if (parse_double(optarg, 0, &o.error_rate) || o.error_rate > 100) {
        usage_error("replay", "--error-rate '%s': expected a percentage",
                    optarg);
        goto out;
      }
      break;
    case OPT_FAULTS: o.faults = optarg; break;
    case OPT_FAULTTIMEOUT:
    case OPT_CLEANUPINT:
      if (units_parse_duration(optarg, &us) || us <= 0) {
        usage_error("replay", "'%s': expected a duration such as 200ms, 5m",
                    optarg);
        goto out;
      }
      if (c == OPT_FAULTTIMEOUT)
        o.fault_timeout_ms = us / 1000 > 0 ? us / 1000 : 1;
      else
        o.cleanup_interval_us = us;
      break;
    case OPT_JOURNAL: o.journal = optarg; break;
    case OPT_CLEANUP: o.cleanup = 1; break;
    case OPT_CLEANUPMAP: o.cleanup_map = optarg; break;
    case OPT_RUNID: o.run_id = optarg; break;
    case 'q': o.quiet = 1; break;
    case 'h':
      fputs(REPLAY_USAGE, stdout);
      rc = 0;
      goto out;
    default:
      fprintf(stderr, "Run 'mimic replay --help' for the options.\n");
      goto out;
    }
  }
  o.headers = headers;
  if (optind != argc - 1) {
    usage_error("replay", "%s", "expected exactly one MODEL.db");
    goto out;
  }
  o.model_path = argv[optind];
  if (!o.target && !o.dry_run) {
    usage_error("replay", "%s", "--target URL is required (or --dry-run)");
    goto out;
  }
  if (!o.target) o.target = "http://127.0.0.1";
  if (o.users && o.min_requests > o.max_requests) {
    usage_error("replay", "%s",
                "--min-request-count is above "
                "--max-request-count");
    goto out;
  }
  if (!o.users && (have_min || have_max)) {
    usage_error("replay", "%s",
                "request counts need --users (a closed "
                "workload)");
    goto out;
  }
  if (o.have_delay && o.have_delay != 3) {
    usage_error("replay", "%s", "give both --delay-min and --delay-max");
    goto out;
  }
  if (o.have_delay && o.delay_min_us > o.delay_max_us) {
    usage_error("replay", "%s", "--delay-min is above --delay-max");
    goto out;
  }
  if (o.faults && !(o.error_rate > 0)) {
    usage_error("replay", "%s", "--faults needs --error-rate");
    goto out;
  }
  if (o.cleanup_interval_us && !o.journal && !o.cleanup) {
    usage_error("replay", "%s",
                "--cleanup-interval needs --journal or --cleanup");
    goto out;
  }
  rc = run_replay(&o);
out:
  free(headers);
  free(types);
  free(personas);
  return rc;
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

/* The subcommands: each takes its own argv (argv[0] = its name). New
 * commands add one line here and one to MAIN_USAGE. */
static const struct command {
  const char *name;
  int (*run)(int argc, char **argv);
} COMMANDS[] = {
    {"capture", cmd_capture},     {"inspect", cmd_inspect},
    {"replay", cmd_replay},       {"compare", compare_main},
    {"scenarios", scenario_main}, {"cleanup", cleanup_main},
    {"mock", mock_main},
};

static const struct command *find_command(const char *name) {
  for (size_t i = 0; i < sizeof COMMANDS / sizeof *COMMANDS; i++)
    if (strcmp(COMMANDS[i].name, name) == 0) return &COMMANDS[i];
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(MAIN_USAGE, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "replay") == 0 && exact_wanted(argc - 1, argv + 1))
    return exact_main(argc - 1, argv + 1);
  const struct command *c = find_command(cmd);
  if (c) return c->run(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("mimic %s (model schema %d)\n", MIMIC_VERSION, MODEL_SCHEMA_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
      strcmp(cmd, "-h") == 0) {
    /* `mimic help CMD` is `mimic CMD --help`. */
    c = argc > 2 ? find_command(argv[2]) : NULL;
    if (c) {
      char help[] = "--help";
      char *hargv[] = {argv[2], help, NULL};
      return c->run(2, hargv);
    }
    fputs(MAIN_USAGE, stdout);
    return argc > 2 ? EXIT_USAGE : 0;
  }
  fprintf(stderr, "mimic: unknown command '%s'\n\n%s", cmd, MAIN_USAGE);
  return EXIT_USAGE;
}
