/* half: the split-half baseline of a capture (see models/schema.sql).
 *
 * Every session goes to one of two halves, chosen by a hash of its client
 * key and start time under the capture's seed, and each half keeps the
 * aggregates `mimic compare` gates on: requests per endpoint and status,
 * transitions with think times, session length and duration. compare
 * measures one half against the other to learn A's own sampling noise.
 *
 * Why halves of real sessions, kept at capture time, rather than a
 * bootstrap drawn from the model's aggregates when comparing: requests of
 * one session are not independent (a crawler's session is all fast
 * pauses, a browser's a burst of assets), so the noise of a statistic
 * over n requests is that of far fewer independent draws. Resampling the
 * pooled distributions with A's sample sizes treats every think time as
 * independent and understates the noise; splitting whole sessions keeps
 * their clustering, as a replay's comparison with A does. It costs one
 * more set of counters, bounded like the learner's by endpoints and
 * transitions.
 *
 * The sessionizer feeds it (the same calls it makes to the learner) with
 * endpoint handles; half_finish folds handles onto the final endpoint ids
 * once the templates are settled. */
#ifndef MIMIC_HALF_H
#define MIMIC_HALF_H

#include <stddef.h>
#include <stdint.h>

struct half;
struct model;

int half_new(uint64_t seed, struct half **out);
void half_free(struct half *h);

/* The half (0 or 1) of the session of client starting at start_us. */
int half_pick(const struct half *h, uint64_t client, int64_t start_us);

/* Session structure, as given to the learner; status 0 = unknown.
 * Returns 0 or -ENOMEM. */
int half_start(struct half *h, int which, int64_t start_us, uint32_t ep,
               int status);
int half_step(struct half *h, int which, uint32_t from, uint32_t to,
              int64_t think_us, int status);
int half_end(struct half *h, int which, uint32_t last, uint32_t requests,
             int64_t duration_us);

/* Start times of the first and last session seen; 0 when there was none
 * (both then untouched). */
int half_span(const struct half *h, int64_t *first_us, int64_t *last_us);

/* Builds m->half[0] and m->half[1] from m's endpoints (written by the
 * learner) and final[handle] = endpoint id (or < 0: dropped), nfinal
 * handles. Returns 0 or -ENOMEM (m->half untouched). */
int half_finish(struct half *h, const int32_t *final, size_t nfinal,
                struct model *m);

#endif
