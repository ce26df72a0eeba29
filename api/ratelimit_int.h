/*
 * api/ratelimit_int.h - per-client request rate limits: a token bucket per
 * key (a token's name, or "addr:" and the client address for requests
 * without a valid token).  A bucket holds at most `burst` requests and
 * refills at `rate` requests per second; a request takes one or is refused
 * with the seconds until one is there.
 *
 * Memory is bounded: a fixed table of RL_SLOTS buckets, open addressing
 * over RL_PROBE slots.  A new key takes a free slot, or one whose bucket
 * has refilled (forgetting it changes nothing), or else the least recently
 * used of its probe window (that client then starts again with a full
 * bucket: only when more than RL_SLOTS clients are active at once).
 * Thread-safe (one mutex, held for a few probes).
 */
#ifndef HZ_API_RATELIMIT_INT_H
#define HZ_API_RATELIMIT_INT_H

#define RL_SLOTS 4096
#define RL_PROBE 8
#define RL_KEY_MAX 80

struct api_ratelimit;

/* A limiter of rate requests per second (> 0) and burst requests (>= 1);
 * NULL when out of memory.  Free with api_ratelimit_free (NULL: no-op). */
struct api_ratelimit *api_ratelimit_new(double rate, unsigned burst);
void api_ratelimit_free(struct api_ratelimit *rl);

/*
 * Takes one request from key's bucket at time now (seconds, monotonic):
 * 0 when allowed, else the whole seconds (>= 1) to wait before retrying.
 * Keys longer than RL_KEY_MAX bytes are cut there.
 */
unsigned api_ratelimit_take(struct api_ratelimit *rl, const char *key, double now);

#endif
