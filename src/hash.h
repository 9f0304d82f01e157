/* hash: 64-bit hashing of byte strings: a fast one for hash tables and a
 * keyed one (SipHash-2-4) for values that must not be reversible, such as
 * redacted secrets and client keys. */
#ifndef MIMIC_HASH_H
#define MIMIC_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Fast, good-quality, unkeyed 64-bit hash (not for secrets). */
uint64_t hash64(const void *data, size_t len, uint64_t seed);
/* Mixes two 64-bit values into one (for composite keys). */
uint64_t hash_mix(uint64_t a, uint64_t b);
/* SipHash-2-4 with a 128-bit key given as k[2]. */
uint64_t hash_sip(const uint64_t k[2], const void *data, size_t len);

#endif
