-- bench-root: the smallest model that replays, for throughput benchmarks.
--
-- One persona, one endpoint (GET /, always 200) and sessions that loop on
-- it almost forever (START -> / -> / -> ... -> END, on average a million
-- requests), so a closed-model run is bounded by --max-request-count and
-- --duration, not by the model. No think time is stored (every transition
-- has think_dist NULL and there is no think_backoff row): run it with
-- `--delay-min 0 --delay-max 0`. There is no arrival curve, so it is not a
-- model for the open model (--scale).
--
-- Build it (schema first, then this file):
--   tools/make-model.sh models/bench-root.sql bench-root.db
-- or by hand:
--   sqlite3 bench-root.db < models/schema.sql
--   sqlite3 bench-root.db < models/bench-root.sql

BEGIN;

-- dist_alpha must equal HIST_ALPHA (src/hist.h), or model_load refuses it.
INSERT INTO meta (key, value) VALUES
  ('schema_version', '1'),
  ('tool_version', 'bundled'),
  ('created_utc', '2026-11-25T00:00:00Z'),
  ('source_kind', 'bundled'),
  ('formats', ''),
  ('time_start_us', '0'),
  ('time_end_us', '0'),
  ('span_seconds', '0'),
  ('lines', '0'),
  ('requests', '1000001'),
  ('sessions', '1'),
  ('clients', '1'),
  ('endpoints', '1'),
  ('malformed', '0'),
  ('filtered', '0'),
  ('directives', '0'),
  ('late_events', '0'),
  ('capped_requests', '0'),
  ('idle_timeout_s', '1800'),
  ('session_key', 'ip+ua'),
  ('think_basis', 'end-to-start'),
  ('time_resolution_us', '1'),
  ('dist_alpha', '0.01'),
  ('include', ''),
  ('exclude', ''),
  ('latency_known', '0');

INSERT INTO endpoint (id, method, host, template, count) VALUES
  (0, 'GET', '', '/', 1000001);

INSERT INTO endpoint_status (endpoint_id, status, count) VALUES
  (0, 200, 1000001);

INSERT INTO persona (id, name, weight, sessions) VALUES
  (0, 'all', 1.0, 1);

-- from_ep -1 = START, to_ep -2 = END. Leaving / for END once per 10^6
-- stays keeps sessions long without making them endless.
INSERT INTO transition (persona_id, from_ep, to_ep, count, think_dist) VALUES
  (0, -1, 0, 1, NULL),
  (0, 0, 0, 1000000, NULL),
  (0, 0, -2, 1, NULL);

INSERT INTO user_agent (id, value, count, is_bot) VALUES
  (0, 'mimic-bench', 1, 0);

COMMIT;
