/*
 * limit_shm.c: the keyed table of the limit_req and limit_conn zones
 * (see limit_shm.h). Runs in the master (creation) and in workers, under
 * the zone lock, for microseconds: a hash lookup and a few link updates.
 */
#include "portico.h"
#include "limit_shm.h"

/* an eviction is logged at most once per this many ms and zone */
#define LIMIT_EVICT_LOG_MSEC	10000

/* see limit_shm.h */
struct pt_limit_table *
pt_limit_table_create(struct pt_shm *shm, size_t value_size)
{
	struct pt_limit_table *t;
	size_t nb;

	t = pt_slab_calloc(shm, sizeof(*t));
	if (t == NULL)
		return NULL;
	/* about one bucket per 256 bytes of zone: short chains when full */
	nb = 64;
	while (nb < shm->size / 256)
		nb <<= 1;
	t->buckets = pt_slab_calloc(shm, nb * sizeof(*t->buckets));
	if (t->buckets == NULL) {
		pt_slab_free(shm, t);
		return NULL;
	}
	t->magic = PT_LIMIT_TABLE_MAGIC;
	t->nbuckets = (uint32_t)nb;
	t->value_size = PT_ALIGN(value_size, 8);
	t->lru.lnext = t->lru.lprev = &t->lru;
	/* a full zone is expected here: the table evicts and logs itself */
	shm->log_nomem = 0;
	return t;
}

/* see limit_shm.h */
uint32_t
pt_limit_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint32_t h = 2166136261u;

	while (len-- > 0) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static void
limit_lru_unlink(struct pt_limit_node *n)
{
	n->lprev->lnext = n->lnext;
	n->lnext->lprev = n->lprev;
}

static void
limit_lru_push(struct pt_limit_table *t, struct pt_limit_node *n)
{
	n->lprev = &t->lru;
	n->lnext = t->lru.lnext;
	t->lru.lnext->lprev = n;
	t->lru.lnext = n;
}

/* see limit_shm.h */
struct pt_limit_node *
pt_limit_lookup(struct pt_limit_table *t, const void *key, size_t len, uint32_t hash)
{
	struct pt_limit_node *n;

	PT_DASSERT(t->magic == PT_LIMIT_TABLE_MAGIC);
	for (n = t->buckets[hash & (t->nbuckets - 1)]; n != NULL; n = n->hnext) {
		if (n->hash == hash && n->keylen == len &&
		    memcmp((char *)n->data + t->value_size, key, len) == 0) {
			if (t->lru.lnext != n) {
				limit_lru_unlink(n);
				limit_lru_push(t, n);
			}
			return n;
		}
	}
	return NULL;
}

/* see limit_shm.h */
void
pt_limit_remove(struct pt_shm *shm, struct pt_limit_table *t, struct pt_limit_node *n)
{
	struct pt_limit_node **pp = &t->buckets[n->hash & (t->nbuckets - 1)];

	while (*pp != n) {
		PT_ASSERT(*pp != NULL);
		pp = &(*pp)->hnext;
	}
	*pp = n->hnext;
	limit_lru_unlink(n);
	t->nodes--;
	pt_slab_free_locked(shm, n);
}

/* see limit_shm.h */
struct pt_limit_node *
pt_limit_insert(struct pt_shm *shm, struct pt_limit_table *t, const void *key, size_t len,
    uint32_t hash, pt_limit_node_fn expired, pt_limit_node_fn evictable, pt_msec_t now)
{
	struct pt_limit_node *n, *v;
	size_t size = sizeof(*n) + t->value_size + len;
	uint64_t evicted = 0;
	int i, scan;

	PT_ASSERT(len <= UINT16_MAX);
	/* stale keys go first, a couple per insertion, oldest first */
	for (i = 0; i < 2 && t->lru.lprev != &t->lru; i++) {
		v = t->lru.lprev;
		if (expired == NULL || !expired(v, now))
			break;
		pt_limit_remove(shm, t, v);
	}
	while ((n = pt_slab_alloc_locked(shm, size)) == NULL) {
		/* full: drop the least recently used key that may go (bounded scan) */
		for (v = t->lru.lprev, scan = 0; v != &t->lru && scan < 32; v = v->lprev, scan++) {
			if (evictable != NULL && evictable(v, now))
				break;
		}
		if (v == &t->lru || scan == 32 || evicted >= 64)
			break;
		pt_limit_remove(shm, t, v);
		evicted++;
	}
	if (evicted > 0) {
		t->evicted += evicted;
		if (now - t->evict_logged >= LIMIT_EVICT_LOG_MSEC) {
			t->evict_logged = now;
			pt_log(PT_LOG_WARN, 0, "zone full, evicted the least recently used "
			    "keys (%llu so far)%s", (unsigned long long)t->evicted, shm->log_ctx);
		}
	}
	if (n == NULL)
		return NULL;
	memset(n, 0, sizeof(*n) + t->value_size);
	n->hash = hash;
	n->keylen = (uint16_t)len;
	memcpy((char *)n->data + t->value_size, key, len);
	n->hnext = t->buckets[hash & (t->nbuckets - 1)];
	t->buckets[hash & (t->nbuckets - 1)] = n;
	limit_lru_push(t, n);
	t->nodes++;
	return n;
}
