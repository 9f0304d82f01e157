# restlog SESSIONS [login]: prints an access log (combined + request time)
# of SESSIONS sessions of a small REST API under /api (json-server's
# routes): posts are created, read by their new id, updated, deleted;
# comments are created on them, read and deleted. With "login", every
# session begins with POST /api/auth/login. Sourced by the stateful tests.
#
# Session shapes (P create post, G read it, U update, D delete, L list,
# C create comment, GC read it, DC delete it):
#   P G U G D | L P G U | P C GC DC D | P G C GC G
# so that the learned first-order chain never reads or deletes an id after
# the session deleted it: D and DC lead only to END and D.
restlog() {
  awk -v n="$1" -v login="${2:-}" 'BEGIN {
    srand(7); t = 1700000000; post = 1000; com = 5000
    split("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec", mon, " ")
    for (s = 1; s <= n; s++) {
      ip = sprintf("10.1.%d.%d", int(s / 250), s % 250 + 1)
      t += 3 + int(rand() * 5)
      ts = t
      if (login != "") line("POST", "/api/auth/login", 200)
      k = (s - 1) % 20
      post++; p = "/api/posts/" post
      if (k < 8) {
        line("POST", "/api/posts", 201); line("GET", p, 200)
        line("PUT", p, 200); line("GET", p, 200); line("DELETE", p, 200)
      } else if (k < 13) {
        line("GET", "/api/posts", 200); line("POST", "/api/posts", 201)
        line("GET", p, 200); line("PUT", p, 200)
      } else if (k < 17) {
        com++; c = "/api/comments/" com
        line("POST", "/api/posts", 201); line("POST", "/api/comments", 201)
        line("GET", c, 200); line("DELETE", c, 200); line("DELETE", p, 200)
      } else {
        com++; c = "/api/comments/" com
        line("POST", "/api/posts", 201); line("GET", p, 200)
        line("POST", "/api/comments", 201); line("GET", c, 200)
        line("GET", p, 200)
      }
    }
  }
  function line(m, path, st,   sec, d) {
    ts += 1 + int(rand() * 3)
    sec = ts
    d = strftime("%d/%b/%Y:%H:%M:%S +0000", sec, 1)
    printf "%s - - [%s] \"%s %s HTTP/1.1\" %d %d \"-\" \"mimic-test/1.0\" 0.00%d\n",
      ip, d, m, path, st, 40 + int(rand() * 200), 1 + int(rand() * 8)
  }'
}
