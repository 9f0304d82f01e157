/* rng: seeded, reproducible random numbers (xoshiro256**, splitmix64 seeding).
 * The same seed gives the same stream on every platform. */
#ifndef MIMIC_RNG_H
#define MIMIC_RNG_H

#include <stdint.h>

struct rng {
  uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
/* Uniform double in [0, 1). */
double rng_double(struct rng *r);
/* Uniform integer in [0, n); n > 0; unbiased. */
uint64_t rng_below(struct rng *r, uint64_t n);

#endif
