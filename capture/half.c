#include "half.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "hist.h"
#include "hmap.h"
#include "model.h"

struct htrans {
  int32_t from, to; /* handles, or MODEL_START / MODEL_END */
  uint64_t count;
  struct hist think;
};

struct part {
  struct hmap trans_index; /* (from, to) -> index into trans */
  struct htrans *trans;
  size_t ntrans, cap_trans;
  struct hmap status; /* (handle, status) -> requests */
  struct hist length, duration;
  uint64_t sessions;
};

struct half {
  uint64_t seed;
  struct part p[2];
  int64_t first, last;
  int any;
};

int half_new(uint64_t seed, struct half **out) {
  struct half *h = calloc(1, sizeof *h);
  if (!h) return -ENOMEM;
  h->seed = hash_mix(seed, 0x68616c66ULL);
  for (int k = 0; k < 2; k++) {
    hmap_init(&h->p[k].trans_index);
    hmap_init(&h->p[k].status);
    hist_init(&h->p[k].length);
    hist_init(&h->p[k].duration);
  }
  *out = h;
  return 0;
}

void half_free(struct half *h) {
  if (!h) return;
  for (int k = 0; k < 2; k++) {
    struct part *p = &h->p[k];
    for (size_t i = 0; i < p->ntrans; i++) hist_cleanup(&p->trans[i].think);
    free(p->trans);
    hmap_cleanup(&p->trans_index);
    hmap_cleanup(&p->status);
    hist_cleanup(&p->length);
    hist_cleanup(&p->duration);
  }
  free(h);
}

int half_pick(const struct half *h, uint64_t client, int64_t start_us) {
  return (int)(hash_mix(hash_mix(h->seed, client), (uint64_t)start_us) >> 63);
}

static inline uint64_t trans_key(int32_t from, int32_t to) {
  return ((uint64_t)(uint32_t)(from + 3) << 32) | (uint32_t)(to + 3);
}

static struct htrans *trans_get(struct part *p, int32_t from, int32_t to) {
  uint64_t *slot;
  int rc = hmap_put(&p->trans_index, trans_key(from, to), p->ntrans, &slot);
  if (rc < 0) return NULL;
  if (rc == 0) return &p->trans[*slot];
  if (p->ntrans == p->cap_trans) {
    size_t ncap = p->cap_trans ? p->cap_trans * 2 : 64;
    struct htrans *nt = realloc(p->trans, ncap * sizeof *nt);
    if (!nt) {
      hmap_del(&p->trans_index, trans_key(from, to));
      return NULL;
    }
    p->trans = nt;
    p->cap_trans = ncap;
  }
  struct htrans *t = &p->trans[p->ntrans++];
  t->from = from;
  t->to = to;
  t->count = 0;
  hist_init(&t->think);
  return t;
}

static int count_status(struct part *p, uint32_t ep, int status) {
  uint64_t *slot;
  uint64_t key = ((uint64_t)ep + 1) << 16 | ((uint64_t)status & 0xffff);
  if (hmap_put(&p->status, key, 0, &slot) < 0) return -ENOMEM;
  (*slot)++;
  return 0;
}

int half_start(struct half *h, int which, int64_t start_us, uint32_t ep,
               int status) {
  struct part *p = &h->p[which & 1];
  if (!h->any || start_us < h->first) h->first = start_us;
  if (!h->any || start_us > h->last) h->last = start_us;
  h->any = 1;
  struct htrans *t = trans_get(p, MODEL_START, (int32_t)ep);
  if (!t) return -ENOMEM;
  t->count++;
  return count_status(p, ep, status);
}

int half_step(struct half *h, int which, uint32_t from, uint32_t to,
              int64_t think_us, int status) {
  struct part *p = &h->p[which & 1];
  struct htrans *t = trans_get(p, (int32_t)from, (int32_t)to);
  if (!t) return -ENOMEM;
  t->count++;
  int rc = hist_record(&t->think, think_us > 0 ? (uint64_t)think_us : 0);
  return rc ? rc : count_status(p, to, status);
}

int half_end(struct half *h, int which, uint32_t last, uint32_t requests,
             int64_t duration_us) {
  struct part *p = &h->p[which & 1];
  struct htrans *t = trans_get(p, (int32_t)last, MODEL_END);
  if (!t) return -ENOMEM;
  t->count++;
  p->sessions++;
  int rc = hist_record(&p->length, requests);
  if (rc) return rc;
  return hist_record(&p->duration, duration_us > 0 ? (uint64_t)duration_us : 0);
}

int half_span(const struct half *h, int64_t *first_us, int64_t *last_us) {
  if (!h->any) return 0;
  *first_us = h->first;
  *last_us = h->last;
  return 1;
}

static int status_cmp(const void *a, const void *b) {
  const struct model_status *x = a, *y = b;
  return (x->status > y->status) - (x->status < y->status);
}

static int trans_cmp(const void *a, const void *b) {
  const struct model_transition *x = a, *y = b;
  if (x->from != y->from) return x->from < y->from ? -1 : 1;
  return (x->to > y->to) - (x->to < y->to);
}

static int32_t fold(int32_t handle, const int32_t *final, size_t nfinal) {
  if (handle < 0) return handle; /* START or END */
  return (size_t)handle < nfinal ? final[handle] : -1;
}

static int finish_part(struct part *p, const int32_t *final, size_t nfinal,
                       const struct model *m, struct model *x) {
  int rc = -ENOMEM;
  for (size_t i = 0; i < m->nendpoints; i++) {
    struct model_endpoint *e = model_push(x, endpoints);
    if (!e) return -ENOMEM;
    e->method = strdup(m->endpoints[i].method);
    e->host = strdup(m->endpoints[i].host ? m->endpoints[i].host : "");
    e->templ = strdup(m->endpoints[i].templ);
    hist_init(&e->latency.h);
    hist_init(&e->resp_bytes.h);
    hist_init(&e->req_bytes.h);
    if (!e->method || !e->host || !e->templ) return -ENOMEM;
  }
  uint64_t key, val;
  for (size_t it = 0; hmap_next(&p->status, &it, &key, &val);) {
    int32_t ep = fold((int32_t)((key >> 16) - 1), final, nfinal);
    int status = (int)(key & 0xffff);
    if (ep < 0 || (size_t)ep >= x->nendpoints) continue;
    struct model_endpoint *e = &x->endpoints[ep];
    e->count += val;
    if (!status) continue;
    size_t j = 0;
    while (j < e->nstatus && e->status[j].status != status) j++;
    if (j == e->nstatus) {
      struct model_status *ns =
          realloc(e->status, (e->nstatus + 1) * sizeof *ns);
      if (!ns) return -ENOMEM;
      e->status = ns;
      ns[j].status = status;
      ns[j].count = 0;
      e->nstatus++;
    }
    e->status[j].count += val;
  }
  for (size_t i = 0; i < x->nendpoints; i++)
    if (x->endpoints[i].nstatus > 1)
      qsort(x->endpoints[i].status, x->endpoints[i].nstatus,
            sizeof *x->endpoints[i].status, status_cmp);

  struct hmap index;
  hmap_init(&index);
  for (size_t i = 0; i < p->ntrans; i++) {
    const struct htrans *t = &p->trans[i];
    int32_t from = fold(t->from, final, nfinal);
    int32_t to = fold(t->to, final, nfinal);
    if ((t->from >= 0 && from < 0) || (t->to >= 0 && to < 0)) continue;
    uint64_t *slot;
    int put = hmap_put(&index, trans_key(from, to), x->ntransitions, &slot);
    if (put < 0) goto out;
    struct model_transition *mt;
    if (put == 1) {
      if (!(mt = model_push(x, transitions))) goto out;
      mt->from = from;
      mt->to = to;
      hist_init(&mt->think.h);
    } else {
      mt = &x->transitions[*slot];
    }
    mt->count += t->count;
    if ((rc = hist_merge(&mt->think.h, &t->think))) goto out;
    rc = -ENOMEM;
    mt->think.has = mt->think.h.n > 0;
  }
  if (x->ntransitions > 1)
    qsort(x->transitions, x->ntransitions, sizeof *x->transitions, trans_cmp);

  struct model_persona *pe = model_push(x, personas);
  if (!pe || !(pe->name = strdup("all"))) goto out;
  pe->weight = 1;
  pe->sessions = p->sessions;
  hist_init(&pe->length.h);
  hist_init(&pe->duration.h);
  if ((rc = hist_copy(&pe->length.h, &p->length)) ||
      (rc = hist_copy(&pe->duration.h, &p->duration)))
    goto out;
  pe->length.has = p->length.n > 0;
  pe->duration.has = p->duration.n > 0;
  rc = 0;
out:
  hmap_cleanup(&index);
  return rc;
}

int half_finish(struct half *h, const int32_t *final, size_t nfinal,
                struct model *m) {
  struct model *x[2] = {NULL, NULL};
  int rc;
  for (int k = 0; k < 2; k++) {
    if ((rc = model_new(&x[k])) ||
        (rc = finish_part(&h->p[k], final, nfinal, m, x[k])))
      goto fail;
  }
  m->half[0] = x[0];
  m->half[1] = x[1];
  return 0;
fail:
  model_free(x[0]);
  model_free(x[1]);
  return rc;
}
