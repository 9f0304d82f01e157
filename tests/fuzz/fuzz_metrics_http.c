/* Fuzz target for the request heads the metrics server parses (bytes
 * from the network): any head routes somewhere without reading outside
 * the buffer; /metrics and / are recognised only after GET or HEAD. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 8192) return 0;
  /* Exactly the bytes, then the NUL the server keeps after them. */
  char *req = malloc(size + 1);
  if (!req) return 0;
  memcpy(req, data, size);
  req[size] = '\0';
  int head = -1;
  enum metrics_route r = metrics_server_route(req, size, &head);
  if (head != 0 && head != 1) abort();
  if ((r == METRICS_ROUTE_METRICS || r == METRICS_ROUTE_INDEX) &&
      !(size >= 4 && (memcmp(data, "GET ", 4) == 0 ||
                      (size >= 5 && memcmp(data, "HEAD ", 5) == 0))))
    abort();
  free(req);
  return 0;
}
