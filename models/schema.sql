-- mimic model schema, version 1.
--
-- A model is what `mimic capture` learned from traffic: plain data, readable
-- with sqlite3, safe to copy out of production (no client addresses, no user
-- names, no secrets: see the `redaction` table). This file is the contract
-- between capture, inspect, replay and compare; it is compiled into the
-- binary and applied to every new model.
--
-- Versioning: meta.schema_version (and PRAGMA user_version) hold the version
-- that wrote the file. A reader refuses a model whose version is newer than
-- the one it knows, with a message naming both.
--
-- Conventions:
--  * Times are microseconds (us), sizes bytes, unless a column says else.
--  * Endpoint ids are dense, 0 = most requested. In `transition`, from_ep
--    -1 means START (the session begins) and to_ep -2 means END.
--  * Distributions are log-bucketed histograms ("ddlog", relative accuracy
--    meta.dist_alpha) in table `dist`, shared by id, mergeable by adding
--    counts. `data` holds the bucket counts (see src/hist.h: a version byte,
--    zigzag-varint first bucket index, varint bucket count, then counts as
--    varints with runs of empty buckets written as 0 + run length). Bucket
--    i > 0 holds values in (gamma^(i-1), gamma^i], gamma = (1+a)/(1-a);
--    zeros are counted apart.

PRAGMA user_version = 1;

-- Key/value metadata. Keys written by capture:
--   schema_version, tool_version, created_utc (ISO 8601), source_kind
--   ("access-log", "pcap" or "mixed"), time_start_us, time_end_us, span_seconds, requests,
--   sessions, clients, endpoints, malformed, filtered, directives, lines,
--   late_events (arrived out of time order beyond the reorder window),
--   capped_requests (mapped to a catch-all endpoint), idle_timeout_s,
--   session_key, think_basis ("end-to-start" or "start-to-start"),
--   time_resolution_us, dist_alpha, include, exclude, formats,
--   first_session_us and last_session_us (start times of the first and
--   last session: a replay's session rate is measured between them),
--   personas ("auto" or the K of --personas), persona_note (set when
--   sessions could not be grouped: why the model has one persona); from
--   packets also the pcap_* completeness counters (see the packet capture
--   block) and trace_sessions / trace_requests when the trace was recorded.
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- One row per input file: what it was and how much of it was understood.
CREATE TABLE source_file (
  id        INTEGER PRIMARY KEY,
  name      TEXT NOT NULL,      -- as given on the command line ("-" = stdin)
  format    TEXT NOT NULL,      -- format used (detected or forced)
  bytes     INTEGER NOT NULL,   -- uncompressed bytes read
  lines     INTEGER NOT NULL,
  requests  INTEGER NOT NULL,   -- lines learned from
  malformed INTEGER NOT NULL,   -- lines that could not be understood
  filtered  INTEGER NOT NULL,   -- lines dropped by --include / --exclude
  directives INTEGER NOT NULL,  -- comment / directive lines (W3C "#...")
  error     TEXT                -- NULL, or why reading stopped early
);

-- The first few malformed lines (location and reason only: the text of a
-- production log line may hold secrets, so it is not stored).
CREATE TABLE malformed_sample (
  file_id INTEGER NOT NULL REFERENCES source_file(id),
  line    INTEGER NOT NULL,
  reason  TEXT NOT NULL
);

-- Histograms. unit: 'us' | 'bytes' | 'count'. min/max/sum are exact.
CREATE TABLE dist (
  id       INTEGER PRIMARY KEY,
  unit     TEXT NOT NULL,
  n        INTEGER NOT NULL,
  zeros    INTEGER NOT NULL,
  min      INTEGER NOT NULL,
  max      INTEGER NOT NULL,
  sum      REAL NOT NULL,
  sum_log  REAL NOT NULL,       -- sum of ln(v) over v > 0 (lognormal fit)
  sum_log2 REAL NOT NULL,       -- sum of ln(v)^2 over v > 0
  data     BLOB NOT NULL
);

-- Endpoints: method + path template. Distributions are NULL when the input
-- did not carry the quantity (e.g. latency in a plain combined log).
CREATE TABLE endpoint (
  id            INTEGER PRIMARY KEY,
  method        TEXT NOT NULL,
  host          TEXT NOT NULL DEFAULT '',
  template      TEXT NOT NULL,  -- "/api/v1/users/{id}/profile"
  count         INTEGER NOT NULL,
  latency_dist  INTEGER REFERENCES dist(id),   -- us
  resp_bytes_dist INTEGER REFERENCES dist(id), -- bytes
  req_bytes_dist  INTEGER REFERENCES dist(id), -- bytes
  UNIQUE (method, host, template)
);

-- Status-code mix per endpoint.
CREATE TABLE endpoint_status (
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  status      INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  PRIMARY KEY (endpoint_id, status)
) WITHOUT ROWID;

-- Behaviour classes of sessions, clustered by capture (see README: personas)
-- and named after their most distinctive endpoints ([a-z0-9-], unique);
-- one persona is named "all". Ordered by weight, largest first; replay
-- picks a persona per session by weight.
CREATE TABLE persona (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL,
  weight     REAL NOT NULL,       -- share of sessions
  sessions   INTEGER NOT NULL,
  length_dist   INTEGER REFERENCES dist(id),  -- requests per session (count)
  duration_dist INTEGER REFERENCES dist(id)   -- first to last request (us)
);

-- First-order Markov chain per persona, with raw counts (models merge by
-- adding them). think_dist: time from the end of from_ep's response (or its
-- start, see meta.think_basis) to the start of to_ep; NULL for START/END.
CREATE TABLE transition (
  persona_id INTEGER NOT NULL REFERENCES persona(id),
  from_ep    INTEGER NOT NULL,    -- endpoint id, or -1 = START
  to_ep      INTEGER NOT NULL,    -- endpoint id, or -2 = END
  count      INTEGER NOT NULL,
  think_dist INTEGER REFERENCES dist(id),
  PRIMARY KEY (persona_id, from_ep, to_ep)
) WITHOUT ROWID;

-- Think-time fallbacks when a transition has few observations: per source
-- endpoint, and pooled over the persona (from_ep = -3).
CREATE TABLE think_backoff (
  persona_id INTEGER NOT NULL REFERENCES persona(id),
  from_ep    INTEGER NOT NULL,
  dist_id    INTEGER NOT NULL REFERENCES dist(id),
  PRIMARY KEY (persona_id, from_ep)
) WITHOUT ROWID;

-- Session arrivals over the captured span: sessions started per minute
-- (minute = floor(unix seconds / 60), UTC). Minutes without arrivals inside
-- the span are absent (= 0).
CREATE TABLE arrival (
  persona_id INTEGER NOT NULL REFERENCES persona(id),
  minute     INTEGER NOT NULL,
  sessions   INTEGER NOT NULL,
  PRIMARY KEY (persona_id, minute)
) WITHOUT ROWID;

-- Folded arrival profiles (UTC): kind 'tod15' = 96 quarter-hours of the day,
-- kind 'dow_hour' = 168 hours of the week, bucket 0 = Monday 00:00.
CREATE TABLE arrival_profile (
  persona_id INTEGER NOT NULL REFERENCES persona(id),
  kind       TEXT NOT NULL,
  bucket     INTEGER NOT NULL,
  sessions   INTEGER NOT NULL,
  PRIMARY KEY (persona_id, kind, bucket)
) WITHOUT ROWID;

-- Parameters of an endpoint: path variables ({id}...) and query names.
-- presence: share of the endpoint's requests that carried it. distinct: the
-- number of distinct values seen (exact or estimated, see distinct_exact).
-- redacted = 1: the values in pool_value are format-preserving fakes, never
-- the originals.
CREATE TABLE param (
  id          INTEGER PRIMARY KEY,
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  loc         TEXT NOT NULL CHECK (loc IN ('path', 'query')),
  position    INTEGER NOT NULL,   -- order within its loc
  name        TEXT NOT NULL,
  type        TEXT NOT NULL,      -- int num uuid hex hash date email ip
                                  -- token word text
  presence    REAL NOT NULL,
  distinct_values INTEGER NOT NULL,
  distinct_exact  INTEGER NOT NULL,
  redacted    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (endpoint_id, loc, name)
);

-- Bounded value pools: the most frequent values of each parameter.
CREATE TABLE pool_value (
  param_id INTEGER NOT NULL REFERENCES param(id),
  value    TEXT NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (param_id, value)
) WITHOUT ROWID;

-- The most frequent user agents.
CREATE TABLE user_agent (
  id     INTEGER PRIMARY KEY,
  value  TEXT NOT NULL,
  count  INTEGER NOT NULL,      -- requests that sent it
  is_bot INTEGER NOT NULL DEFAULT 0  -- names a crawler, script or tool
);

-- User agents by persona: sessions of persona_id whose first request sent
-- user agent ua_id (sessions with a user agent outside `user_agent` are not
-- counted). Replay draws a session's user agent from its persona's rows,
-- so that crawlers keep crawler user agents and browsers browser ones; a
-- persona without rows, or a model without the table (an older capture, or
-- one persona), draws from `user_agent` by count.
CREATE TABLE persona_user_agent (
  persona_id INTEGER NOT NULL REFERENCES persona(id),
  ua_id      INTEGER NOT NULL REFERENCES user_agent(id),
  count      INTEGER NOT NULL,
  PRIMARY KEY (persona_id, ua_id)
) WITHOUT ROWID;

-- What privacy protection changed, so that `mimic inspect` can show it:
-- loc ('query', 'path', 'user', 'session'), name (parameter or field),
-- action ('fake' = replaced by format-preserving fakes, 'dropped' = never
-- stored), count (values affected).
CREATE TABLE redaction (
  loc    TEXT NOT NULL,
  name   TEXT NOT NULL,
  action TEXT NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (loc, name, action)
) WITHOUT ROWID;

-- Split-half baseline (mimic compare). Capture puts every session into one
-- of two halves (by a hash of the session and meta.seed) and keeps, per
-- half, the aggregates compare gates on. Compare measures the two halves
-- against each other to learn how closely a source of this size can match
-- even itself (its sampling noise, clustering of requests within sessions
-- included), and never asks a replay to do better. Personas are pooled;
-- endpoint ids are those of `endpoint`. A model without these tables (an
-- older capture) is compared on the default thresholds alone.
CREATE TABLE half_session (
  half          INTEGER PRIMARY KEY CHECK (half IN (0, 1)),
  sessions      INTEGER NOT NULL,
  length_dist   INTEGER REFERENCES dist(id),  -- requests per session (count)
  duration_dist INTEGER REFERENCES dist(id)   -- first to last request (us)
);

-- Requests per endpoint and status code in each half (status 0: the log
-- did not say).
CREATE TABLE half_status (
  half        INTEGER NOT NULL,
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  status      INTEGER NOT NULL,
  count       INTEGER NOT NULL,
  PRIMARY KEY (half, endpoint_id, status)
) WITHOUT ROWID;

-- Transitions of each half, as in `transition` (pooled over personas).
CREATE TABLE half_transition (
  half       INTEGER NOT NULL,
  from_ep    INTEGER NOT NULL,
  to_ep      INTEGER NOT NULL,
  count      INTEGER NOT NULL,
  think_dist INTEGER REFERENCES dist(id),
  PRIMARY KEY (half, from_ep, to_ep)
) WITHOUT ROWID;

-- ---- Packet capture (capture from pcap/pcapng or a live interface) ------
-- Written only when the model was learned from packets (meta source_kind
-- 'pcap' or 'mixed'); models without these tables are read as having none.
-- Completeness of the capture is in meta, keys pcap_*: packets, bytes,
-- tcp_segments, not_tcp, ip_fragments, malformed_packets, snapped_segments,
-- kernel_drops (live), flows, http_flows, non_http_flows, tls_flows,
-- tunnels (Upgrade/CONNECT), requests (request heads Wireshark would count
-- as http.request), notifications (UPnP NOTIFY/SUBSCRIBE), lenient_requests
-- (start lines libhttp-parser refused but that name a known method),
-- responses, interim_responses (1xx), unanswered (requests without a
-- response), orphan_responses (responses without a request),
-- dropped_requests / dropped_responses (cut by a gap or damaged),
-- unlearnable_requests (no path), junk_messages, resyncs, gaps, gap_bytes
-- (bytes the capture lost), retransmitted_bytes, out_of_order_segments,
-- reassembly_timeouts (flows that timed out holding data), idle_closed_flows,
-- evicted_flows, forced_gaps (buffer caps), late_segments,
-- held_bytes_peak, bodies_decoded (gzip/deflate), body_decode_errors.

-- Headers that matter, per endpoint and direction ('request'/'response'):
-- content type, accept, auth scheme ("Bearer": never the credential),
-- cookie names (never values), custom x- headers. value '' = the header
-- was present but its value is secret and was not stored.
CREATE TABLE endpoint_header (
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  dir    TEXT NOT NULL CHECK (dir IN ('request', 'response')),
  name   TEXT NOT NULL,           -- lower case
  value  TEXT NOT NULL,
  count  INTEGER NOT NULL,
  PRIMARY KEY (endpoint_id, dir, name, value)
) WITHOUT ROWID;

-- JSON (and form) bodies per endpoint and direction: how many were seen.
CREATE TABLE body_shape (
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  dir    TEXT NOT NULL CHECK (dir IN ('request', 'response')),
  bodies INTEGER NOT NULL,        -- bodies learned from
  invalid INTEGER NOT NULL,       -- bodies that were not valid JSON
  PRIMARY KEY (endpoint_id, dir)
) WITHOUT ROWID;

-- Fields of those bodies: "$.user.name", "$.items[].id". type: JSON types
-- seen, '|'-joined (string integer number boolean null object array).
-- presence: share of the bodies that had it. redacted = 1: the values in
-- body_value are format-preserving fakes (secret names or values).
CREATE TABLE body_field (
  id          INTEGER PRIMARY KEY,
  endpoint_id INTEGER NOT NULL REFERENCES endpoint(id),
  dir         TEXT NOT NULL CHECK (dir IN ('request', 'response')),
  path        TEXT NOT NULL,
  type        TEXT NOT NULL,
  presence    REAL NOT NULL,
  redacted    INTEGER NOT NULL DEFAULT 0,
  UNIQUE (endpoint_id, dir, path)
);

-- Bounded value pools of body fields (most frequent first).
CREATE TABLE body_value (
  field_id INTEGER NOT NULL REFERENCES body_field(id),
  value    TEXT NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (field_id, value)
) WITHOUT ROWID;

-- Correlation rules: a value a response of src_endpoint gave (src_loc
-- 'json' / 'header' / 'cookie' / 'location', src_name "$.token",
-- "set-cookie" name, ...) was sent back by a later request of the same
-- session to dst_endpoint (dst_loc 'path' "segment:N", 'query' name,
-- 'json' path, 'header' name, 'cookie' name). count: times seen.
CREATE TABLE correlation (
  src_endpoint INTEGER NOT NULL REFERENCES endpoint(id),
  src_loc      TEXT NOT NULL,
  src_name     TEXT NOT NULL,
  dst_endpoint INTEGER NOT NULL REFERENCES endpoint(id),
  dst_loc      TEXT NOT NULL,
  dst_name     TEXT NOT NULL,
  count        INTEGER NOT NULL,
  PRIMARY KEY (src_endpoint, src_loc, src_name, dst_endpoint, dst_loc,
               dst_name)
) WITHOUT ROWID;

-- The recorded request trace (`capture --record`) for exact replay: JSON
-- lines, one request each, in zstd frames (format in src/trace.h). Secrets
-- are fakes or references to values earlier responses gave.
CREATE TABLE trace_chunk (
  seq       INTEGER PRIMARY KEY,
  requests  INTEGER NOT NULL,
  raw_bytes INTEGER NOT NULL,
  data      BLOB NOT NULL
);

-- Session duration by session length (mimic replay holds each session to
-- a duration drawn for its length, so that long sessions last as long as
-- they did, not as long as independent think times add up to): per
-- persona and class of requests per session, lo..hi inclusive: 1, 2, 3,
-- 4, then each power-of-two range halved (5-6, 7-8, 9-12, 13-16, 17-24,
-- ...). Classes without sessions are absent; a model without the table
-- replays sessions unheld.
CREATE TABLE session_shape (
  persona_id    INTEGER NOT NULL REFERENCES persona(id),
  length_lo     INTEGER NOT NULL,
  length_hi     INTEGER NOT NULL,
  duration_dist INTEGER NOT NULL REFERENCES dist(id),  -- us
  PRIMARY KEY (persona_id, length_lo)
) WITHOUT ROWID;
