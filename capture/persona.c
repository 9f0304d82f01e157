#include "persona.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define SELECT_SAMPLE 2500 /* points k is chosen on (k-means is O(n k d)) */
#define RESTARTS 3         /* k-means++ restarts per k on that subsample */
#define MAX_ITER 100
#define CLIP 4.0f /* standardised scalars are clipped to +-CLIP */

/* ---- feature space ------------------------------------------------------ */

struct rank {
  uint64_t count;
  uint32_t ep;
};

static int rank_cmp(const void *a, const void *b) {
  const struct rank *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  return (x->ep > y->ep) - (x->ep < y->ep);
}

int persona_space_init(struct persona_space *sp, const uint64_t *ep_counts,
                       uint32_t nep) {
  memset(sp, 0, sizeof *sp);
  struct rank *r = malloc((nep ? nep : 1) * sizeof *r);
  sp->dim = malloc((nep ? nep : 1) * sizeof *sp->dim);
  if (!r || !sp->dim) {
    free(r);
    free(sp->dim);
    sp->dim = NULL;
    return -ENOMEM;
  }
  for (uint32_t e = 0; e < nep; e++) r[e] = (struct rank){ep_counts[e], e};
  if (nep) qsort(r, nep, sizeof *r, rank_cmp);
  uint32_t ntop = 0;
  while (ntop < nep && ntop < PERSONA_TOP_EPS && r[ntop].count) ntop++;
  for (uint32_t e = 0; e < nep; e++) sp->dim[e] = ntop;
  for (uint32_t i = 0; i < ntop; i++) sp->dim[r[i].ep] = i;
  free(r);
  sp->nep = nep;
  sp->ntop = ntop;
  sp->dims = PERSONA_DIMS(ntop);
  sp->scale[0] = sp->scale[1] = 1;
  return 0;
}

void persona_space_cleanup(struct persona_space *sp) {
  free(sp->dim);
  memset(sp, 0, sizeof *sp);
}

/* Layout after the endpoint block [0, ntop]: */
enum { F_LENGTH = 1, F_THINK, F_SPREAD, F_ERRORS };
static const float scalar_weight[3] = {PERSONA_W_LENGTH, PERSONA_W_THINK,
                                       PERSONA_W_SPREAD};

void persona_features(const struct persona_space *sp, const uint32_t *ep,
                      const uint8_t *cls, const int64_t *think_us, uint32_t n,
                      float *out) {
  uint32_t t = sp->ntop;
  memset(out, 0, sp->dims * sizeof *out);
  uint32_t errs = 0;
  double sum = 0, sum2 = 0;
  for (uint32_t i = 0; i < n; i++) {
    out[ep[i] < sp->nep ? sp->dim[ep[i]] : t] += 1;
    errs += cls[i] >= 4;
    if (i == 0) continue;
    /* Float precision is plenty here, and logf is several times cheaper
     * than log1p on doubles: this runs twice for every request. */
    double v = logf(1.0f + (float)(think_us[i] > 0 ? think_us[i] : 0) * 1e-3f);
    sum += v;
    sum2 += v * v;
  }
  double inv = n ? 1.0 / n : 0;
  for (uint32_t d = 0; d <= t; d++) out[d] = (float)sqrt(out[d] * inv);
  out[t + F_LENGTH] = (float)log(n ? n : 1);
  out[t + F_THINK] = NAN;
  out[t + F_SPREAD] = NAN;
  if (n > 1) out[t + F_THINK] = (float)(sum / (n - 1));
  if (n > 2) {
    double mean = sum / (n - 1), var = sum2 / (n - 1) - mean * mean;
    out[t + F_SPREAD] = (float)sqrt(var > 0 ? var : 0);
  }
  out[t + F_ERRORS] = (float)(errs * inv);
}

void persona_space_apply(const struct persona_space *sp, float *x) {
  uint32_t t = sp->ntop;
  for (int f = 0; f < 3; f++) {
    float *v = &x[t + F_LENGTH + (uint32_t)f];
    if (isnan(*v)) { /* no think time: the mean */
      *v = 0;
      continue;
    }
    float z = (*v - sp->center[f]) / sp->scale[f];
    z = z > CLIP ? CLIP : z < -CLIP ? -CLIP : z;
    *v = z * scalar_weight[f];
  }
  x[t + F_ERRORS] *= PERSONA_W_ERROR;
}

void persona_space_fit(struct persona_space *sp, float *x, size_t n) {
  uint32_t t = sp->ntop;
  for (int f = 0; f < 3; f++) {
    double sum = 0, sum2 = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
      float v = x[i * sp->dims + t + F_LENGTH + (uint32_t)f];
      if (isnan(v)) continue;
      sum += v;
      sum2 += (double)v * v;
      m++;
    }
    double mean = m ? sum / (double)m : 0;
    double var = m ? sum2 / (double)m - mean * mean : 0;
    sp->center[f] = (float)mean;
    sp->scale[f] = var > 1e-12 ? (float)sqrt(var) : 1.0f;
  }
  for (size_t i = 0; i < n; i++) persona_space_apply(sp, x + i * sp->dims);
}

/* ---- k-means ------------------------------------------------------------ */

static inline float dist2(const float *a, const float *b, uint32_t d) {
  /* Four partial sums: independent chains the CPU can overlap. */
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  uint32_t j = 0;
  for (; j + 4 <= d; j += 4) {
    float d0 = a[j] - b[j], d1 = a[j + 1] - b[j + 1];
    float d2 = a[j + 2] - b[j + 2], d3 = a[j + 3] - b[j + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; j < d; j++) {
    float e = a[j] - b[j];
    s0 += e * e;
  }
  return (s0 + s1) + (s2 + s3);
}

static uint32_t nearest(const float *c, uint32_t k, uint32_t d, const float *x,
                        float *best_d) {
  uint32_t best = 0;
  float bd = dist2(x, c, d);
  for (uint32_t j = 1; j < k; j++) {
    float v = dist2(x, c + (size_t)j * d, d);
    if (v < bd) {
      bd = v;
      best = j;
    }
  }
  if (best_d) *best_d = bd;
  return best;
}

/* Lloyd's assignment step measures every point against every centre. With
 * the centres transposed (dims x kpad, kpad a multiple of KBLOCK, padding
 * centres far away) the k distances of a point grow together dimension by
 * dimension: independent sums the compiler turns into vector
 * instructions, where one distance at a time is a serial sum. */
#define KBLOCK 4
#define FAR 1e15f /* squared and summed over the dims, still a finite float */

static uint32_t kpad_of(uint32_t k) {
  return (k + KBLOCK - 1) / KBLOCK * KBLOCK;
}

static void transpose(const float *c, uint32_t k, uint32_t d, float *ct) {
  uint32_t kp = kpad_of(k);
  for (uint32_t q = 0; q < d; q++)
    for (uint32_t j = 0; j < kp; j++)
      ct[(size_t)q * kp + j] = j < k ? c[(size_t)j * d + q] : FAR;
}

static uint32_t nearest_t(const float *ct, uint32_t k, uint32_t d,
                          const float *x, float *best_d) {
  uint32_t kp = kpad_of(k), best = 0;
  float bd = INFINITY;
  for (uint32_t jb = 0; jb < kp; jb += KBLOCK) {
    float acc[KBLOCK] = {0};
    for (uint32_t q = 0; q < d; q++) {
      float xv = x[q];
      const float *row = ct + (size_t)q * kp + jb;
      for (uint32_t j = 0; j < KBLOCK; j++) {
        float e = xv - row[j];
        acc[j] += e * e;
      }
    }
    for (uint32_t j = 0; j < KBLOCK && jb + j < k; j++)
      if (acc[j] < bd) {
        bd = acc[j];
        best = jb + j;
      }
  }
  *best_d = bd;
  return best;
}

uint32_t persona_nearest(const struct persona_fit *f, const float *x) {
  return nearest(f->centroids, f->k, f->dims, x, NULL);
}

/* Work space of one clustering. */
struct km {
  const float *x;
  size_t n;
  uint32_t d;
  uint32_t *lab;
  float *dist;
  double *sum; /* PERSONA_MAX x d */
  float *ct;   /* d x PERSONA_MAX: transposed centres */
  uint64_t *cnt;
};

/* k-means++ seeding: the first centre uniformly, each next one with
 * probability proportional to the squared distance to the nearest centre
 * so far. Returns the centres placed: fewer than k when the points run out
 * of distinct values. */
static uint32_t seed_pp(struct km *w, uint32_t k, struct rng *r, float *c) {
  size_t n = w->n;
  uint32_t d = w->d;
  size_t first = (size_t)rng_below(r, n);
  memcpy(c, w->x + first * d, d * sizeof *c);
  double total = 0;
  for (size_t i = 0; i < n; i++) {
    w->dist[i] = dist2(w->x + i * d, c, d);
    total += w->dist[i];
  }
  uint32_t placed = 1;
  while (placed < k && total > 0) {
    double target = rng_double(r) * total, acc = 0;
    size_t pick = n;
    for (size_t i = 0; i < n; i++) {
      acc += w->dist[i];
      if (acc > target && w->dist[i] > 0) {
        pick = i;
        break;
      }
    }
    if (pick == n) { /* rounding: the last point with a distance */
      for (size_t i = n; i-- > 0;)
        if (w->dist[i] > 0) {
          pick = i;
          break;
        }
      if (pick == n) break;
    }
    float *cj = c + (size_t)placed * d;
    memcpy(cj, w->x + pick * d, d * sizeof *cj);
    placed++;
    total = 0;
    for (size_t i = 0; i < n; i++) {
      float v = dist2(w->x + i * d, cj, d);
      if (v < w->dist[i]) w->dist[i] = v;
      total += w->dist[i];
    }
  }
  return placed;
}

/* Lloyd's iterations from the centres in c. Leaves labels and per-cluster
 * counts of the final assignment and returns its sum of squared distances.
 * An emptied cluster is moved onto the point farthest from its centre. */
static double lloyd(struct km *w, uint32_t k, float *c) {
  size_t n = w->n;
  uint32_t d = w->d;
  double sse = 0;
  for (unsigned it = 0;; it++) {
    size_t changed = 0;
    sse = 0;
    memset(w->cnt, 0, k * sizeof *w->cnt);
    transpose(c, k, d, w->ct);
    for (size_t i = 0; i < n; i++) {
      uint32_t j = nearest_t(w->ct, k, d, w->x + i * d, &w->dist[i]);
      changed += j != w->lab[i] || it == 0;
      w->lab[i] = j;
      w->cnt[j]++;
      sse += w->dist[i];
    }
    /* Converged when (almost) nobody moves: the last few points that
     * swap between two close centres change nothing that matters. */
    if (changed <= n / 1000 || it == MAX_ITER) break;
    memset(w->sum, 0, (size_t)k * d * sizeof *w->sum);
    for (size_t i = 0; i < n; i++) {
      double *s = w->sum + (size_t)w->lab[i] * d;
      const float *xi = w->x + i * d;
      for (uint32_t q = 0; q < d; q++) s[q] += xi[q];
    }
    for (uint32_t j = 0; j < k; j++) {
      float *cj = c + (size_t)j * d;
      if (w->cnt[j]) {
        for (uint32_t q = 0; q < d; q++)
          cj[q] = (float)(w->sum[(size_t)j * d + q] / (double)w->cnt[j]);
        continue;
      }
      size_t far = 0;
      for (size_t i = 1; i < n; i++)
        if (w->dist[i] > w->dist[far]) far = i;
      memcpy(cj, w->x + far * d, d * sizeof *cj);
      w->dist[far] = 0;
    }
  }
  return sse;
}

/* Best of RESTARTS seeded runs: its centres land in best (k x d), its
 * cluster sizes in best_cnt. Returns its SSE, and in *placed the k
 * actually reached. */
static double kmeans(struct km *w, uint32_t k, struct rng *r, float *best,
                     uint64_t *best_cnt, float *tmp, uint32_t *placed) {
  double best_sse = INFINITY;
  *placed = k;
  for (int run = 0; run < RESTARTS; run++) {
    uint32_t got = seed_pp(w, k, r, tmp);
    if (got < k) {
      *placed = got;
      k = got;
    }
    for (size_t i = 0; i < w->n; i++) w->lab[i] = UINT32_MAX;
    double sse = lloyd(w, k, tmp);
    if (sse < best_sse) {
      best_sse = sse;
      memcpy(best, tmp, (size_t)k * w->d * sizeof *best);
      memcpy(best_cnt, w->cnt, k * sizeof *best_cnt);
    }
    if (k == 1) break; /* one centre: the mean, whatever the seed */
  }
  return best_sse;
}

/* Pelleg and Moore's BIC of a hard-assigned spherical Gaussian mixture
 * with one shared variance per dimension (larger is better). */
static double bic(size_t n, uint32_t d, uint32_t k, const uint64_t *cnt,
                  double sse) {
  double nn = (double)n;
  double var = sse / ((double)d * (n > k ? nn - k : 1.0));
  if (var < 1e-12) var = 1e-12;
  double ll = 0;
  for (uint32_t j = 0; j < k; j++)
    if (cnt[j]) ll += (double)cnt[j] * log((double)cnt[j] / nn);
  ll -= 0.5 * nn * d * log(2 * M_PI * var);
  ll -= 0.5 * d * (nn - k);
  double params = (double)(k - 1) + (double)k * d + 1;
  return ll - 0.5 * params * log(nn);
}

struct order {
  uint64_t size;
  uint32_t j;
  const float *c;
  uint32_t d;
};

static int order_cmp(const void *a, const void *b) {
  const struct order *x = a, *y = b;
  if (x->size != y->size) return x->size > y->size ? -1 : 1;
  for (uint32_t q = 0; q < x->d; q++)
    if (x->c[q] != y->c[q]) return x->c[q] < y->c[q] ? -1 : 1;
  return (x->j > y->j) - (x->j < y->j);
}

static int km_alloc(struct km *w, const float *x, size_t n, uint32_t d) {
  w->x = x;
  w->n = n;
  w->d = d;
  w->lab = malloc(n * sizeof *w->lab);
  w->dist = malloc(n * sizeof *w->dist);
  w->sum = malloc((size_t)PERSONA_MAX * d * sizeof *w->sum);
  w->cnt = malloc(PERSONA_MAX * sizeof *w->cnt);
  w->ct = malloc((size_t)PERSONA_MAX * d * sizeof *w->ct);
  return w->lab && w->dist && w->sum && w->cnt && w->ct ? 0 : -ENOMEM;
}

static void km_free(struct km *w) {
  free(w->lab);
  free(w->dist);
  free(w->sum);
  free(w->cnt);
  free(w->ct);
}

int persona_cluster(const float *x, size_t n, uint32_t dims, uint32_t k,
                    uint64_t seed, struct persona_fit *out) {
  memset(out, 0, sizeof *out);
  if (n == 0 || dims == 0 || k > PERSONA_MAX) return -EINVAL;
  struct km full = {0}, sub = {0};
  float *c = malloc((size_t)PERSONA_MAX * dims * sizeof *c);
  float *tmp = malloc((size_t)PERSONA_MAX * dims * sizeof *tmp);
  float *cand = malloc((size_t)PERSONA_MAX * dims * sizeof *cand);
  float *sx = NULL;
  size_t *idx = NULL;
  int rc = -ENOMEM;
  struct rng r;
  rng_seed(&r, seed ^ 0x70657273ULL);
  if (!c || !tmp || !cand || km_alloc(&full, x, n, dims)) goto out;

  /* k is chosen on a uniform subsample (a seeded partial shuffle). */
  size_t m = n < SELECT_SAMPLE ? n : SELECT_SAMPLE;
  idx = malloc(n * sizeof *idx);
  sx = malloc(m * dims * sizeof *sx);
  if (!idx || !sx) goto out;
  for (size_t i = 0; i < n; i++) idx[i] = i;
  for (size_t i = 0; i < m; i++) {
    size_t j = i + (size_t)rng_below(&r, n - i);
    size_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
    memcpy(sx + i * dims, x + idx[i] * dims, dims * sizeof *sx);
  }
  if (km_alloc(&sub, sx, m, dims)) goto out;

  uint32_t kmin = k ? k : 1, kmax = k;
  if (!k) {
    kmax = PERSONA_AUTO_KMAX;
    if (n < 2 * PERSONA_MIN_SESSIONS)
      kmax = 1;
    else if (kmax > n / PERSONA_MIN_SESSIONS)
      kmax = (uint32_t)(n / PERSONA_MIN_SESSIONS);
  }
  uint32_t chosen = 0;
  double best = -INFINITY;
  for (uint32_t kk = kmin; kk <= kmax; kk++) {
    uint32_t placed;
    uint64_t cnt[PERSONA_MAX];
    double sse = kmeans(&sub, kk, &r, cand, cnt, tmp, &placed);
    if (placed < kk) break; /* no more distinct points */
    double b = k ? 0 : bic(m, dims, kk, cnt, sse);
    if (!k) out->bic[kk] = b;
    if (k || b > best) {
      best = b;
      chosen = kk;
      memcpy(c, cand, (size_t)kk * dims * sizeof *c);
    }
  }
  if (!chosen) { /* forced k beyond the distinct points: take what exists */
    uint32_t placed;
    uint64_t cnt[PERSONA_MAX];
    kmeans(&sub, k ? k : 1, &r, c, cnt, tmp, &placed);
    chosen = placed;
  }

  /* Refit on the whole sample from the subsample's centres. */
  for (size_t i = 0; i < n; i++) full.lab[i] = UINT32_MAX;
  lloyd(&full, chosen, c);
  if (!k) {
    /* Fold clusters too small to be a persona into their neighbours. */
    uint64_t min = (uint64_t)ceil(PERSONA_MIN_SHARE * (double)n);
    while (chosen > 1) {
      uint32_t small = 0;
      for (uint32_t j = 1; j < chosen; j++)
        if (full.cnt[j] < full.cnt[small]) small = j;
      if (full.cnt[small] >= min) break;
      memmove(c + (size_t)small * dims, c + (size_t)(small + 1) * dims,
              (size_t)(chosen - small - 1) * dims * sizeof *c);
      chosen--;
      for (size_t i = 0; i < n; i++) full.lab[i] = UINT32_MAX;
      lloyd(&full, chosen, c);
    }
  }

  struct order ord[PERSONA_MAX];
  for (uint32_t j = 0; j < chosen; j++)
    ord[j] = (struct order){full.cnt[j], j, c + (size_t)j * dims, dims};
  qsort(ord, chosen, sizeof *ord, order_cmp);
  out->centroids = malloc((size_t)chosen * dims * sizeof *out->centroids);
  out->size = malloc(chosen * sizeof *out->size);
  if (!out->centroids || !out->size) {
    persona_fit_cleanup(out);
    goto out;
  }
  for (uint32_t j = 0; j < chosen; j++) {
    memcpy(out->centroids + (size_t)j * dims, ord[j].c,
           dims * sizeof *out->centroids);
    out->size[j] = ord[j].size;
  }
  out->k = chosen;
  out->dims = dims;
  out->forced = k != 0;
  rc = 0;
out:
  km_free(&full);
  km_free(&sub);
  free(c);
  free(tmp);
  free(cand);
  free(sx);
  free(idx);
  return rc;
}

void persona_fit_cleanup(struct persona_fit *f) {
  free(f->centroids);
  free(f->size);
  memset(f, 0, sizeof *f);
}

/* ---- names -------------------------------------------------------------- */

#define DISTINCT_TOP 4 /* endpoints a name may draw words from */
#define MIN_PERSONA_SHARE                                                      \
  0.02                        /* an endpoint must weigh this in the persona    \
                               */
#define SITE_PREFIX_SHARE 0.6 /* a first word this common names nothing */

static int is_word_char(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* A hash or a number (e.g. the "3f9c2b71" of "app.3f9c2b71.css"): no word. */
static int is_noise(const char *w) {
  size_t n = strlen(w), hex = 0, digits = 0;
  for (size_t i = 0; i < n; i++) {
    hex += (w[i] >= '0' && w[i] <= '9') || (w[i] >= 'a' && w[i] <= 'f');
    digits += w[i] >= '0' && w[i] <= '9';
  }
  return digits == n || (n >= 6 && hex == n && digits);
}

#define MAX_WORDS 4 /* words taken from one endpoint */

/* The words of an endpoint's path: its segments that are not a
 * {parameter}, "api", a version ("v2"), noise or the site-wide prefix
 * `skip`, lowercased, cut at their first dot ("robots.txt" -> "robots"),
 * other characters as dashes; of a parameter, its format ("{name}.csv" ->
 * "csv"). The first is the resource the endpoint is
 * about; "home" when there is none ("/"). Returns how many (>= 1). */
static uint32_t path_words(const char *templ, const char *skip,
                           char words[][PERSONA_NAME_MAX + 1], uint32_t max) {
  uint32_t nw = 0;
  const char *p = templ;
  while (*p && nw < max) {
    while (*p == '/') p++;
    const char *seg = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - seg);
    if (len == 0) continue;
    if (seg[0] == '{') { /* "{name}.graph": the format is a word */
      const char *close = memchr(seg, '}', len);
      if (!close || close + 1 == p || close[1] != '.') continue;
      len -= (size_t)(close + 2 - seg);
      seg = close + 2;
    }
    if (seg[0] == '.') seg++, len--; /* ".env" -> "env" */
    const char *dot = memchr(seg, '.', len);
    if (dot) len = (size_t)(dot - seg);
    char *w = words[nw];
    size_t o = 0;
    for (size_t i = 0; i < len && o < PERSONA_NAME_MAX; i++) {
      char ch = seg[i];
      if (ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
      if (!is_word_char(ch)) ch = '-';
      if (ch == '-' && (o == 0 || w[o - 1] == '-')) continue;
      w[o++] = ch;
    }
    while (o && w[o - 1] == '-') o--;
    w[o] = '\0';
    if (o == 0 || strcmp(w, "api") == 0 || is_noise(w)) continue;
    if (w[0] == 'v' && o > 1 && strspn(w + 1, "0123456789") == o - 1) continue;
    if (skip && strcmp(w, skip) == 0) continue;
    nw++;
  }
  if (nw == 0) snprintf(words[nw++], PERSONA_NAME_MAX + 1, "home");
  return nw;
}

static int is_read_method(const char *m) {
  return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 ||
         strcmp(m, "OPTIONS") == 0;
}

/* A name taken by an earlier persona? */
static int taken(char **names, uint32_t n, const char *name) {
  for (uint32_t i = 0; i < n; i++)
    if (names[i] && strcmp(names[i], name) == 0) return 1;
  return 0;
}

/* Appends "-word" (or "word" to an empty buf) when it fits. */
static void add_part(char *buf, size_t cap, const char *word) {
  size_t n = strlen(buf), w = strlen(word);
  if (w == 0 || n + (n ? 1 : 0) + w >= cap) return;
  if (n) buf[n++] = '-';
  memcpy(buf + n, word, w + 1);
}

/* The word that most requests start with, when it is so common that it
 * tells nothing ("/erddap/..." on an ERDDAP server): into out, else "". */
struct first_word {
  char w[PERSONA_NAME_MAX + 1];
  double n;
};

static int first_word_cmp(const void *a, const void *b) {
  return strcmp(((const struct first_word *)a)->w,
                ((const struct first_word *)b)->w);
}

static int site_prefix(const struct persona_profile *p, const double *all,
                       double total, char *out, size_t cap) {
  out[0] = '\0';
  struct first_word *fw = malloc((p->nep ? p->nep : 1) * sizeof *fw);
  if (!fw) return -ENOMEM;
  uint32_t n = 0;
  for (uint32_t e = 0; e < p->nep; e++) {
    if (all[e] == 0) continue;
    path_words(p->templ[e], NULL, &fw[n].w, 1);
    fw[n++].n = all[e];
  }
  if (n) qsort(fw, n, sizeof *fw, first_word_cmp);
  double best_n = 0;
  for (uint32_t i = 0; i < n;) {
    uint32_t j = i;
    double sum = 0;
    while (j < n && strcmp(fw[j].w, fw[i].w) == 0) sum += fw[j++].n;
    if (sum > best_n && strcmp(fw[i].w, "home") != 0) {
      best_n = sum;
      if (total > 0 && sum / total >= SITE_PREFIX_SHARE)
        snprintf(out, cap, "%s", fw[i].w);
    }
    i = j;
  }
  free(fw);
  return 0;
}

/* Names persona c (names[0..c) are taken). */
static int name_one(const struct persona_profile *p, uint32_t c,
                    const double *all, double total, const char *skip,
                    char **names) {
  uint32_t nep = p->nep;
  const uint64_t *req = p->requests + (size_t)c * nep;
  const size_t cap = PERSONA_NAME_MAX + 1;
  double tot = 0, api = 0, api_all = 0, writes = 0;
  for (uint32_t e = 0; e < nep; e++) {
    int is_api = strncmp(p->templ[e], "/api/", 5) == 0;
    tot += (double)req[e];
    if (is_api) api += (double)req[e], api_all += all[e];
    if (!is_read_method(p->method[e])) writes += (double)req[e];
  }
  /* The most distinctive endpoints: share times log lift (the endpoint's
   * term of the persona's KL divergence from the overall mix), among those
   * that weigh in the persona and are over-represented in it. */
  uint32_t top[DISTINCT_TOP];
  double score[DISTINCT_TOP];
  uint32_t ntop = 0;
  for (uint32_t e = 0; e < nep && tot > 0; e++) {
    double pc = (double)req[e] / tot, pa = all[e] / total;
    if (pc < MIN_PERSONA_SHARE || pc <= pa) continue;
    double sc = pc * log(pc / pa);
    uint32_t at = ntop;
    while (at > 0 && sc > score[at - 1]) at--;
    if (at >= DISTINCT_TOP) continue;
    if (ntop < DISTINCT_TOP) ntop++;
    for (uint32_t q = ntop - 1; q > at; q--) {
      top[q] = top[q - 1];
      score[q] = score[q - 1];
    }
    top[at] = e;
    score[at] = sc;
  }
  if (ntop == 0 && nep) { /* the overall mix: its most requested endpoint */
    uint32_t best = 0;
    for (uint32_t e = 1; e < nep; e++)
      if (req[e] > req[best]) best = e;
    top[ntop++] = best;
  }
  /* Search engines ask for robots.txt: the persona that holds most of
   * those requests (and where they are not drowned) is the crawler. */
  int crawler = 0;
  for (uint32_t e = 0; e < nep; e++) {
    if (strcmp(p->templ[e], "/robots.txt") != 0 || all[e] == 0) continue;
    crawler = (double)req[e] >= 0.5 * all[e] && (double)req[e] >= 0.01 * tot;
  }
  /* Candidate words: the resource of each distinctive endpoint, then
   * their other words, without repeats. */
  char pw[DISTINCT_TOP][MAX_WORDS][PERSONA_NAME_MAX + 1];
  uint32_t npw[DISTINCT_TOP];
  char words[DISTINCT_TOP * MAX_WORDS][PERSONA_NAME_MAX + 1];
  uint32_t nw = 0;
  for (uint32_t i = 0; i < ntop; i++)
    npw[i] = path_words(p->templ[top[i]], skip, pw[i], MAX_WORDS);
  for (uint32_t w = 0; w < MAX_WORDS; w++)
    for (uint32_t i = 0; i < ntop; i++) {
      if (w >= npw[i]) continue;
      int dup = crawler && strcmp(pw[i][w], "robots") == 0;
      for (uint32_t j = 0; j < nw; j++) dup |= strcmp(words[j], pw[i][w]) == 0;
      if (!dup) memcpy(words[nw++], pw[i][w], sizeof words[0]);
    }
  /* Prefix and suffixes say how it behaves: "api" when most of it goes to
   * /api/ (and not everything does), "writer" with a fifth of writes,
   * "errors" when most of it fails, else "browse". */
  int is_api = tot > 0 && api / tot >= 0.5 && api_all / total < 0.9;
  int writer = tot > 0 && writes / tot >= 0.2;
  int errors = tot > 0 && (double)p->errors[c] / tot >= 0.5;
  int browse = !is_api && !writer && !errors && !crawler && tot > 0;
  const char *prefix = crawler  ? "crawler"
                       : is_api ? "api"
                       : browse ? "browse"
                                : "";
  /* The fewest words that make the name unique, then a number. */
  char name[PERSONA_NAME_MAX + 1];
  for (uint32_t use = crawler || nw == 0 ? 0 : 1;; use++) {
    name[0] = '\0';
    add_part(name, cap, prefix);
    for (uint32_t i = 0; i < use && i < nw; i++) add_part(name, cap, words[i]);
    add_part(name, cap, writer ? "writer" : "");
    add_part(name, cap, errors ? "errors" : "");
    if (!name[0]) add_part(name, cap, "home");
    if (use > nw) {
      char num[16];
      int len = snprintf(num, sizeof num, "-%u", use - nw + 1);
      size_t keep = strlen(name);
      if (keep + (size_t)len >= cap) keep = cap - 1 - (size_t)len;
      while (keep && name[keep - 1] == '-') keep--;
      memcpy(name + keep, num, (size_t)len + 1);
    }
    if (!taken(names, c, name)) break;
  }
  return (names[c] = strdup(name)) ? 0 : -ENOMEM;
}

int persona_names(const struct persona_profile *p, char **names) {
  uint32_t k = p->k, nep = p->nep;
  for (uint32_t c = 0; c < k; c++) names[c] = NULL;
  double *all = calloc(nep ? nep : 1, sizeof *all);
  if (!all) return -ENOMEM;
  double total = 0;
  for (uint32_t c = 0; c < k; c++)
    for (uint32_t e = 0; e < nep; e++) {
      all[e] += (double)p->requests[(size_t)c * nep + e];
      total += (double)p->requests[(size_t)c * nep + e];
    }
  char skip[PERSONA_NAME_MAX + 1];
  int rc = site_prefix(p, all, total, skip, sizeof skip);
  for (uint32_t c = 0; c < k && !rc; c++)
    rc = name_one(p, c, all, total, skip[0] ? skip : NULL, names);
  free(all);
  if (rc)
    for (uint32_t c = 0; c < k; c++) {
      free(names[c]);
      names[c] = NULL;
    }
  return rc;
}
