/*
 * api/ratelimit.c - token buckets per client (api/ratelimit_int.h).
 */
#include "api/ratelimit_int.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct bucket {
	char key[RL_KEY_MAX + 1];	/* "" : free */
	double tokens;		/* at time `at` */
	double at;
};

struct api_ratelimit {
	pthread_mutex_t lock;
	double rate, burst;
	struct bucket slot[RL_SLOTS];
};

struct api_ratelimit *api_ratelimit_new(double rate, unsigned burst)
{
	struct api_ratelimit *rl = calloc(1, sizeof(*rl));

	if (!rl)
		return NULL;
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate > 0 ? rate : 1;
	rl->burst = burst ? burst : 1;
	return rl;
}

void api_ratelimit_free(struct api_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

/* The bucket's tokens at time now. */
static double level(const struct api_ratelimit *rl, const struct bucket *b, double now)
{
	double t = b->tokens + (now > b->at ? now - b->at : 0) * rl->rate;

	return t > rl->burst ? rl->burst : t;
}

/* The slot of key: its own, or a free or reusable one (reset to a full
 * bucket). */
static struct bucket *find(struct api_ratelimit *rl, const char *key, double now)
{
	size_t h = (size_t)XXH3_64bits(key, strlen(key)) % RL_SLOTS;
	struct bucket *spare = NULL, *lru = NULL;

	for (size_t i = 0; i < RL_PROBE; i++) {
		struct bucket *b = &rl->slot[(h + i) % RL_SLOTS];

		if (!strcmp(b->key, key))
			return b;
		if (!spare && (!b->key[0] || level(rl, b, now) >= rl->burst))
			spare = b;
		if (!lru || b->at < lru->at)
			lru = b;
	}
	if (!spare)
		spare = lru;
	snprintf(spare->key, sizeof(spare->key), "%s", key);
	spare->tokens = rl->burst;
	spare->at = now;
	return spare;
}

unsigned api_ratelimit_take(struct api_ratelimit *rl, const char *key, double now)
{
	char k[RL_KEY_MAX + 1];
	struct bucket *b;
	unsigned wait = 0;
	double t;

	snprintf(k, sizeof(k), "%s", key);
	pthread_mutex_lock(&rl->lock);
	b = find(rl, k, now);
	t = level(rl, b, now);
	if (t >= 1) {
		t -= 1;
	} else {
		double w = ceil((1 - t) / rl->rate);

		wait = w < 1 ? 1 : w > 86400 ? 86400 : (unsigned)w;
	}
	b->tokens = t;
	b->at = now > b->at ? now : b->at;
	pthread_mutex_unlock(&rl->lock);
	return wait;
}
