/* curl_floor: the throughput floor of libcurl itself, for
 * tools/bench/replay.sh: N easy handles GET one URL over keep-alive
 * connections in a bare curl_multi_perform + curl_multi_poll loop, each
 * re-added as soon as it completes, for a number of seconds. Whatever a
 * replay engine built on libcurl does on top of this costs CPU; this
 * program measures what cannot be avoided.
 *
 * Usage: mimic-curl-floor URL SECONDS [CONNECTIONS]
 * Prints "requests N errors E" on stdout. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: mimic-curl-floor URL SECONDS [CONNECTIONS]\n");
    return 2;
  }
  const char *url = argv[1];
  double seconds = atof(argv[2]);
  int n = argc > 3 ? atoi(argv[3]) : 50;
  if (seconds <= 0 || n <= 0 || n > 10000) {
    fprintf(stderr, "mimic-curl-floor: bad SECONDS or CONNECTIONS\n");
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return 1;
  CURLM *multi = curl_multi_init();
  CURL **easy = calloc((size_t)n, sizeof *easy);
  if (!multi || !easy) return 1;
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n);
  for (int i = 0; i < n; i++) {
    easy[i] = curl_easy_init();
    if (!easy[i]) return 1;
    curl_easy_setopt(easy[i], CURLOPT_URL, url);
    curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(easy[i], CURLOPT_PROXY, "");
    curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle(multi, easy[i]);
  }
  unsigned long long done = 0, errors = 0;
  double end = now_s() + seconds;
  while (now_s() < end) {
    int running;
    curl_multi_perform(multi, &running);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left))) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL *e = msg->easy_handle;
      if (msg->data.result != CURLE_OK) errors++;
      curl_multi_remove_handle(multi, e);
      done++;
      curl_multi_add_handle(multi, e);
    }
    curl_multi_poll(multi, NULL, 0, 100, NULL);
  }
  printf("requests %llu errors %llu\n", done, errors);
  for (int i = 0; i < n; i++) {
    curl_multi_remove_handle(multi, easy[i]);
    curl_easy_cleanup(easy[i]);
  }
  free(easy);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
