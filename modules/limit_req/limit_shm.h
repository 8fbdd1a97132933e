/*
 * limit_shm.h: a keyed table in a shared-memory zone, used by limit_req
 * and limit_conn. Nodes live in the zone's slab; a hash table finds them
 * by key and a least-recently-used list orders them for expiry and for
 * eviction when the zone is full. Every process maps the zone at the
 * same address, so the links are plain pointers into the zone; nothing
 * points into a process heap. All calls except pt_limit_table_create
 * require the caller to hold the zone lock (pt_shm_lock).
 */
#ifndef PT_LIMIT_SHM_H
#define PT_LIMIT_SHM_H

#include "portico.h"

#define PT_LIMIT_TABLE_MAGIC	0x4c494d54u	/* "LIMT" */

/* one key with its value; <data> holds the value, then the key bytes */
struct pt_limit_node {
	struct pt_limit_node	*hnext;		/* hash chain */
	struct pt_limit_node	*lprev;		/* LRU list, towards most recent */
	struct pt_limit_node	*lnext;		/* LRU list, towards least recent */
	uint32_t		 hash;		/* hash of the key */
	uint16_t		 keylen;	/* key bytes after the value */
	uint16_t		 pad;
	uint64_t		 data[];	/* value (value_size bytes), key */
};

/* says whether <n> may be dropped now (expired, or evictable when full) */
typedef int (*pt_limit_node_fn)(struct pt_limit_node *n, pt_msec_t now);

/* the table, at the start of the zone's data */
struct pt_limit_table {
	unsigned		 magic;		/* PT_LIMIT_TABLE_MAGIC */
	uint32_t		 nbuckets;	/* power of two */
	size_t			 value_size;	/* bytes of value per node, 8-aligned */
	struct pt_limit_node	**buckets;	/* [nbuckets], in the zone */
	struct pt_limit_node	 lru;		/* sentinel: lru.lnext = most recent */
	uint64_t		 nodes;		/* nodes in the table */
	uint64_t		 evicted;	/* nodes dropped because the zone was full */
	pt_msec_t		 evict_logged;	/* last time an eviction was logged */
};

/*
 * Create the table in <shm> for values of <value_size> bytes; master, at
 * zone init. Returns the table or NULL (zone too small).
 */
struct pt_limit_table	*pt_limit_table_create(struct pt_shm *shm, size_t value_size);

/* hash of <key> (FNV-1a); any process */
uint32_t	pt_limit_hash(const void *key, size_t len);

/* the value of node <n> */
static inline void *
pt_limit_value(struct pt_limit_node *n)
{
	return n->data;
}

/*
 * Find <key> with <hash>; on a hit the node becomes the most recent.
 * Returns NULL on a miss. Lock held.
 */
struct pt_limit_node	*pt_limit_lookup(struct pt_limit_table *t, const void *key,
			    size_t len, uint32_t hash);
/*
 * Insert <key> (not present) with a zeroed value. First drops up to two
 * least recent nodes that <expired> says are stale; when the zone is
 * full, drops least recent nodes that <evictable> accepts (NULL: none)
 * until the allocation succeeds, counting them in t->evicted. Returns
 * the node or NULL when nothing could be freed. Lock held.
 */
struct pt_limit_node	*pt_limit_insert(struct pt_shm *shm, struct pt_limit_table *t,
			    const void *key, size_t len, uint32_t hash,
			    pt_limit_node_fn expired, pt_limit_node_fn evictable,
			    pt_msec_t now);
/* unlink and free <n>. Lock held. */
void	pt_limit_remove(struct pt_shm *shm, struct pt_limit_table *t, struct pt_limit_node *n);

/* the client address of <r> (realip's when set) as text in <buf>, for logs */
static inline const char *
pt_limit_client(struct pt_request *r, char *buf, size_t n)
{
	pt_sockaddr_host(pt_http_client_addr(r), buf, n);
	return buf;
}

#endif /* PT_LIMIT_SHM_H */
