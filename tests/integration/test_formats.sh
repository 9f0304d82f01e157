#!/usr/bin/env bash
# Every supported log format, written by this test: detected by --format auto
# (or given), every line learned, ids templated, request times picked up.
. "$(dirname "$0")/lib.sh"
need jq sqlite3 awk

N=300
# gen FMT: N lines of one small API in the format's own notation, from a
# shared stream of (second, client, method, id, status, latency ms, bytes).
gen() {
  awk -v fmt="$1" -v n="$N" 'BEGIN {
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ")
    for (i = 0; i < n; i++) {
      t = 1793577600 + i * 7             # 2026-11-02T00:00:00Z + 7 s steps
      c = i % 7; id = 1000 + (i * 37) % 400
      m = (i % 5 == 0) ? "POST" : "GET"
      path = (i % 5 == 0) ? "/api/orders" : "/api/orders/" id
      st = (i % 13 == 0) ? 404 : 200
      ms = 5 + (i * 17) % 90; bytes = 200 + (i * 131) % 5000
      ip = "192.0.2." (10 + c); ua = "client-" c "/1.0"
      s = t % 60; mi = int(t / 60) % 60; h = int(t / 3600) % 24
      clf = sprintf("02/Nov/2026:%02d:%02d:%02d +0000", h, mi, s)
      iso = sprintf("2026-11-02T%02d:%02d:%02d", h, mi, s)
      if (fmt == "clf")
        printf "%s - - [%s] \"%s %s HTTP/1.1\" %d %d\n", ip, clf, m, path, st, bytes
      else if (fmt == "combined-us")
        printf "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\" %d\n", ip, clf, m, path, st, bytes, ua, ms * 1000
      else if (fmt == "ingress")
        printf "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"%s\" 120 %.3f [default-api-80] [] 10.1.0.5:8080 %d %.3f %d %032x\n", ip, clf, m, path, st, bytes, ua, ms / 1000, bytes, ms / 1000, st, i
      else if (fmt == "w3c") {
        if (i == 0) {
          print "#Software: Microsoft Internet Information Services 10.0"
          print "#Version: 1.0"
          print "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
        }
        split(iso, d, "T")
        printf "%s %s 10.0.0.1 %s %s page=%d 443 - %s %s - %d 0 0 %d\n", d[1], d[2], m, path, i % 3, ip, ua, st, ms
      } else if (fmt == "alb")
        printf "https %s.%06dZ app/shop-lb/50dc6c495c0c9188 %s:%d 10.0.0.1:80 0.001 %.3f 0.000 %d %d 120 %d \"%s https://shop.example.com:443%s?page=%d HTTP/1.1\" \"%s\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/tg/73e2d6bc24d8a067 \"Root=1-58337262-36d228ad5d99923122bbe354\" \"shop.example.com\" \"-\" 0 %s.000000Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"%d\" \"-\" \"-\"\n", iso, i, ip, 40000 + i, ms / 1000, st, st, bytes, m, path, i % 3, ua, iso, st
      else if (fmt == "elb")
        printf "%s.%06dZ shop-lb %s:%d 10.0.0.1:80 0.000073 %.6f 0.000057 %d %d 0 %d \"%s http://shop.example.com:80%s HTTP/1.1\" \"%s\" - -\n", iso, i, ip, 40000 + i, ms / 1000, st, st, bytes, m, path, ua
      else if (fmt == "json")
        printf "{\"remote_addr\":\"%s\",\"time_local\":\"%s\",\"request\":\"%s %s HTTP/1.1\",\"status\":\"%d\",\"body_bytes_sent\":\"%d\",\"request_time\":\"%.3f\",\"http_user_agent\":\"%s\"}\n", ip, clf, m, path, st, bytes, ms / 1000, ua
      else if (fmt == "json-mapped")
        printf "{\"ts\":\"%sZ\",\"src\":{\"ip\":\"%s\"},\"verb\":\"%s\",\"url\":\"%s\",\"code\":%d,\"dur_ms\":%d}\n", iso, ip, m, path, st, ms
      else if (fmt == "nginx-custom")
        printf "%s [%s] \"%s %s HTTP/1.1\" %d %d %.3f sid=%d.%d\n", ip, clf, m, path, st, bytes, ms / 1000, c, int(i / 70)
      else if (fmt == "regex")
        printf "%s|%s|%s|%s|%d|%d\n", iso "Z", ip, m, path, st, ms
      else if (fmt == "generic")
        printf "%sZ web-1 app[42]: %s handled \"%s %s HTTP/1.1\" -> %d in %dms\n", iso, ip, m, path, st, ms
    }
  }'
}

# capture_check NAME EXPECTED-FORMAT HAS-LATENCY [capture options...]
capture_check() {
  local name=$1 want=$2 lat=$3
  shift 3
  gen "$name" >"$WORK/$name.log"
  local rc
  rc=$(run_status "$MIMIC" capture --force -o "$WORK/$name.db" "$@" "$WORK/$name.log")
  check "$name: exit" 0 "$rc"
  [ "$rc" = 0 ] || { sed 's/^/    /' "$WORK/last.err"; return; }
  check_true "$name: reported format '$want'" grep -q "format $want" "$WORK/last.err"
  "$MIMIC" inspect --json "$WORK/$name.db" >"$WORK/$name.json"
  check "$name: requests" "$N" "$(jq .requests "$WORK/$name.json")"
  check "$name: malformed" 0 "$(jq .malformed "$WORK/$name.json")"
  check "$name: endpoints" "GET /api/orders/{id},POST /api/orders" \
    "$(jq -r '[.endpoints[] | "\(.method) \(.template)"] | join(",")' "$WORK/$name.json")"
  check "$name: 404s learned" 24 \
    "$(jq '[.endpoints[].status["404"] // 0] | add' "$WORK/$name.json")"
  if [ "$lat" = yes ]; then
    # Latencies were 5..94 ms: the learned median must be in that range.
    p50=$(jq '.endpoints[0].latency_us.p50' "$WORK/$name.json")
    check_true "$name: latency p50 ${p50}us within 5..94 ms" \
      test "$p50" -ge 4900 -a "$p50" -le 95000
  else
    check "$name: no latency" null "$(jq '.endpoints[0].latency_us' "$WORK/$name.json")"
  fi
}

capture_check clf "clf" no
capture_check combined-us "combined" yes
capture_check ingress "ingress-nginx" yes
capture_check w3c "w3c" yes
check "w3c: directives counted apart" 3 "$(jq .directives "$WORK/w3c.json")"
capture_check alb "alb" yes
capture_check elb "elb" yes
capture_check json "json" yes
capture_check json-mapped "json" yes --format json \
  --json-map 'time=ts,client=src.ip,method=verb,path=url,status=code,latency_ms=dur_ms'
capture_check nginx-custom "nginx" yes \
  --log-format '$remote_addr [$time_local] "$request" $status $body_bytes_sent $request_time sid=$http_x_mimic_session' \
  --session-key header:x-mimic-session
# 7 client ids x sessions numbered by i/70: each (c, i/70) pair is a session.
check "nginx-custom: sessions keyed by the header" \
  "$(gen nginx-custom | sed 's/.*sid=//' | sort -u | wc -l)" \
  "$(jq .sessions "$WORK/nginx-custom.json")"
check "nginx-custom: header values dropped, and said so" "session|x-mimic-session|dropped|$N" \
  "$(q "$WORK/nginx-custom.db" "SELECT loc, name, action, count FROM redaction WHERE loc='session'")"
capture_check regex "regex" yes \
  --log-regex '^(?<time>[^|]+)\|(?<client>[^|]+)\|(?<method>[A-Z]+)\|(?<path>[^|]+)\|(?<status>\d+)\|(?<latency_ms>\d+)$'
capture_check generic "generic" no
finish
