/*
 * upstream_module.c: the `upstream NAME { ... }` block and its server,
 * zone, keepalive, keepalive_requests and keepalive_timeout directives,
 * the balancing method directives (setters in balance.c), health_check
 * and match (health.c), upstream_status (status.c), resolver and
 * resolver_timeout (resolve.c), and the groups that
 * proxy_pass creates implicitly for "http://host:port". The groups live
 * in the module's http-level conf (struct pt_upstream_main); the run-time
 * side is worker/upstream.c.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <strings.h>

#include "upstream_priv.h"

static const char *upstream_block(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_server(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_keepalive(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_keepalive_requests(struct pt_conf_ctx *, const struct pt_directive *,
    void *);
static const char *upstream_keepalive_timeout(struct pt_conf_ctx *, const struct pt_directive *,
    void *);
static const char *upstream_zone(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_queue(struct pt_conf_ctx *, const struct pt_directive *, void *);
static const char *upstream_outlier(struct pt_conf_ctx *, const struct pt_directive *, void *);
static void upstream_conf_create(struct pt_conf_ctx *, enum pt_conf_level, void *);
static int upstream_init_worker(struct pt_cycle *);
static void upstream_exit_worker(struct pt_cycle *);
static const char *upstream_conf_merge(struct pt_conf_ctx *, enum pt_conf_level, void *, void *);

static const struct pt_directive upstream_directives[] = {
	{ "upstream", PT_CTX_HTTP, PT_D_BLOCK | PT_D_MULTI, PT_CTX_UPSTREAM, 1, 1, PT_LEVEL_NONE,
	  PT_NO_OFFSET, upstream_block, NULL, NULL,
	  "a named group of servers for proxy_pass http://NAME" },
	{ "server", PT_CTX_UPSTREAM, PT_D_MULTI, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_server, NULL, NULL,
	  "a server of the group: ADDRESS[:PORT] [weight=N] [max_fails=N] [fail_timeout=T] "
	  "[max_conns=N] [slow_start=T] [backup] [down] [resolve]" },
	{ "resolver", PT_CTX_HTTP, 0, 0, 1, PT_D_ARGS_ANY, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_resolver, NULL, NULL,
	  "DNS servers for `server ... resolve`: ADDRESS[:PORT]... [valid=T] [ipv4=on|off] "
	  "[ipv6=on|off]" },
	{ "resolver_timeout", PT_CTX_HTTP, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_resolver_timeout, "30s", NULL,
	  "time a run-time name resolution may take" },
	{ "zone", PT_CTX_UPSTREAM, 0, 0, 1, 2, PT_LEVEL_NONE, PT_NO_OFFSET, upstream_zone, NULL,
	  NULL, "shared-memory zone NAME [SIZE] holding the state of the group's servers" },
	{ "queue", PT_CTX_UPSTREAM, 0, 0, 1, 2, PT_LEVEL_NONE, PT_NO_OFFSET, upstream_queue, NULL,
	  NULL, "requests that may wait for a server, per worker: N [timeout=T]" },
	{ "outlier_detection", PT_CTX_UPSTREAM, 0, 0, 1, 3, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_outlier, NULL, NULL,
	  "eject a server after N failures in a row for a doubling period: consecutive=N "
	  "[base=T] [max=T]" },
	{ "least_conn", PT_CTX_UPSTREAM, 0, 0, 0, 0, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_method, NULL, NULL,
	  "send each request to the server with the fewest active requests per weight" },
	{ "ip_hash", PT_CTX_UPSTREAM, 0, 0, 0, 0, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_method, NULL, NULL, "choose the server from the client address" },
	{ "hash", PT_CTX_UPSTREAM, 0, 0, 1, 2, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_method, NULL, NULL,
	  "choose the server from a KEY with variables [consistent]" },
	{ "random", PT_CTX_UPSTREAM, 0, 0, 0, 2, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_method, NULL, NULL,
	  "choose a server at random by weight [two [least_conn]]" },
	{ "least_time", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_method, NULL, NULL,
	  "send each request to the server with the lowest latency EWMA times load "
	  "(header|last_byte)" },
	{ "sticky", PT_CTX_UPSTREAM, 0, 0, 2, 7, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_sticky, NULL, NULL,
	  "pin clients to a server with a cookie: cookie NAME [expires=T|max] [domain=D] "
	  "[path=P] [httponly] [secure]" },
	{ "health_check", PT_CTX_UPSTREAM, 0, 0, 0, PT_D_ARGS_ANY, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_health_check, NULL, NULL,
	  "probe the servers actively [interval=T] [fails=N] [passes=N] [uri=URI] [port=N] "
	  "[match=NAME] [timeout=T]" },
	{ "match", PT_CTX_HTTP, PT_D_BLOCK | PT_D_RAW_BLOCK | PT_D_MULTI, 0, 1, 1, PT_LEVEL_NONE,
	  PT_NO_OFFSET, pt_upstream_set_match, NULL, NULL,
	  "named tests of a health check response: status, header, body" },
	{ "upstream_status", PT_CTX_LOCATION, 0, 0, 0, 0, PT_LEVEL_NONE, PT_NO_OFFSET,
	  pt_upstream_set_status, NULL, NULL,
	  "answer with the state of every upstream server as JSON" },
	{ "keepalive", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive, NULL, NULL,
	  "idle connections to the group kept open per worker (none by default)" },
	{ "keepalive_requests", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive_requests, "1000", NULL,
	  "requests carried by one kept upstream connection" },
	{ "keepalive_timeout", PT_CTX_UPSTREAM, 0, 0, 1, 1, PT_LEVEL_NONE, PT_NO_OFFSET,
	  upstream_keepalive_timeout, "60s", NULL,
	  "idle time before a kept upstream connection is closed" },
	PT_DIRECTIVE_END
};

struct pt_module pt_mod_upstream = {
	.name = "upstream",
	.directives = upstream_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct pt_upstream_main) },
	.conf_create = upstream_conf_create,
	.conf_merge = upstream_conf_merge,
	.init_worker = upstream_init_worker,
	.exit_worker = upstream_exit_worker,
};

struct pt_upstream_main *pt_upstream_building;

static void
upstream_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	struct pt_upstream_main *um = conf;

	if (level == PT_LEVEL_HTTP) {
		pt_array_init(&um->upstreams, cf->pool, 4, sizeof(struct pt_upstream *));
		pt_array_init(&um->matches, cf->pool, 2, sizeof(struct upstream_match *));
		um->resolver_timeout = 30000;
		um->resolver_ipv4 = 1;
		um->resolver_ipv6 = 1;
		pt_upstream_building = um;
	}
}

/*
 * Find the group <name> (names compare without case, as host names do)
 * or create it with the defaults. <implicit>: the caller is proxy_pass,
 * which does not know whether <name> is a "host:port" or the name of an
 * upstream block that may come later in the file; the first use is
 * recorded for the error message if it turns out to be neither.
 */
struct pt_upstream *
pt_upstream_get(struct pt_conf_ctx *cf, const char *name, int implicit)
{
	struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];
	struct pt_upstream **ups = um->upstreams.elts, *u;
	size_t i;

	for (i = 0; i < um->upstreams.nelts; i++)
		if (strcasecmp(ups[i]->name, name) == 0)
			return ups[i];

	u = pt_pcalloc(cf->pool, sizeof(*u));
	u->name = pt_pstrdup(cf->pool, name);
	if (cf->node != NULL) {
		u->file = cf->node->file;
		u->line = cf->node->line;
	}
	u->implicit = implicit ? 1 : 0;
	u->balancer = &pt_upstream_balancer_wrr;
	u->keepalive = 0;
	u->keepalive_requests = 1000;
	u->keepalive_timeout = 60000;
	*(struct pt_upstream **)pt_array_push(&um->upstreams) = u;
	return u;
}

/* the sticky cookie id of an address: 32-bit FNV-1a of its text */
static uint32_t
upstream_sid(const char *text)
{
	uint32_t h = 2166136261u;

	for (; *text != '\0'; text++) {
		h ^= (unsigned char)*text;
		h *= 16777619u;
	}
	return h;
}

/*
 * Add <naddrs> peers for one server line (or an implicit group) to <u>,
 * all with <name> and the parameters of <tpl>. Returns NULL or an error
 * text.
 */
static const char *
upstream_add_peers(struct pt_conf_ctx *cf, struct pt_upstream *u, const char *name,
    const struct pt_sockaddr *addrs, int naddrs, const struct pt_upstream_peer *tpl)
{
	struct pt_upstream_peer *peers, *p;
	int i;

	if (u->npeers + naddrs > PT_UPSTREAM_MAX_PEERS)
		return pt_psprintf(cf->pool, "too many servers in upstream \"%s\" (%d addresses "
		    "at most)", u->name, PT_UPSTREAM_MAX_PEERS);
	peers = pt_pcalloc(cf->pool, (size_t)(u->npeers + naddrs) * sizeof(*peers));
	if (u->npeers > 0)
		memcpy(peers, u->peers, (size_t)u->npeers * sizeof(*peers));
	name = pt_pstrdup(cf->pool, name);
	for (i = 0; i < naddrs; i++) {
		p = &peers[u->npeers + i];
		*p = *tpl;
		p->addr = addrs[i];
		p->name = name;
		p->current_weight = 0;
		p->sid = upstream_sid(p->addr.text);
		if (p->backup)
			u->nbackup++;
	}
	u->peers = peers;
	u->npeers += naddrs;
	return NULL;
}

/* upstream NAME { ... } */
static const char *
upstream_block(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	void *saved = cf->block_data;
	struct pt_upstream *u;
	int rc;

	(void)conf;
	if (n->args[0][0] == '\0')
		return pt_psprintf(cf->pool, "empty name in \"%s\" directive", d->name);
	u = pt_upstream_get(cf, n->args[0], 0);
	if (u->defined)
		return pt_psprintf(cf->pool, "duplicate upstream \"%s\" in \"%s\" directive "
		    "(first at %s:%d)", n->args[0], d->name, u->file, u->line);
	u->defined = 1;
	u->file = n->file;
	u->line = n->line;

	cf->block_data = u;
	rc = pt_conf_apply_block(cf, n, PT_CTX_UPSTREAM);
	cf->block_data = saved;
	if (rc != PT_OK)
		return "";	/* logged */
	if (u->npeers == 0)
		return pt_psprintf(cf->pool, "no \"server\" in \"%s\" block \"%s\"", d->name,
		    n->args[0]);
	if (u->nbackup == u->npeers)
		return pt_psprintf(cf->pool, "every server of upstream \"%s\" is a backup",
		    u->name);
	if (u->balancer->init != NULL)
		return u->balancer->init(cf, u);
	return NULL;
}

/* length of the name of a "key=value" parameter */
static int
upstream_param_len(const char *a)
{
	const char *eq = strchr(a, '=');

	return eq != NULL ? (int)(eq - a) : (int)strlen(a);
}

/* parse "<a>" as "<name>=TIME" into <out>; 1 if <a> has that name */
static int
upstream_param(const char *a, const char *name)
{
	size_t n = strlen(name);

	return strncmp(a, name, n) == 0 && a[n] == '=';
}

/* 1 when the host part of "host[:port]" is an IP address, not a name */
static int
upstream_is_literal(const char *addr)
{
	char host[64];
	const char *colon;
	struct in6_addr a6;
	size_t len;

	if (addr[0] == '[')
		return 1;
	colon = strrchr(addr, ':');
	len = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
	if (len >= sizeof(host))
		return 0;
	memcpy(host, addr, len);
	host[len] = '\0';
	return inet_pton(AF_INET, host, &a6) == 1;
}

/*
 * server NAME[:PORT] ... resolve: UPSTREAM_MAX_ADDRS slots with the
 * server's parameters, filled with the addresses the name has now
 * (looked up at start like any server name; none is not an error here:
 * the slots stay empty until the resolver finds some) and kept in line
 * with DNS at run time by resolve.c.
 */
static const char *
upstream_server_resolve(struct pt_conf_ctx *cf, const struct pt_directive *d,
    struct pt_upstream *u, const char *addr, const struct pt_upstream_peer *tpl)
{
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	struct pt_upstream_rserver *rs, **pp;
	const char *colon = strrchr(addr, ':'), *err = NULL;
	long port = 80;
	int naddrs = 0, i;

	if (colon != NULL && pt_parse_int(colon + 1, 1, 65535, &port) != PT_OK)
		return pt_psprintf(cf->pool, "invalid port in \"%s\" of \"%s\" directive", addr,
		    d->name);
	memset(addrs, 0, sizeof(addrs));
	if (pt_sockaddr_parse(addr, 80, addrs, UPSTREAM_MAX_ADDRS, &naddrs, &err) != PT_OK) {
		pt_log(PT_LOG_WARN, 0, "host not found in \"%s\" of \"%s\" directive in upstream "
		    "\"%s\" (%s:%d): %s; the resolver will look it up", addr, d->name, u->name,
		    cf->node->file, cf->node->line, err);
		naddrs = 0;
	}
	rs = pt_pcalloc(cf->pool, sizeof(*rs));
	rs->u = u;
	rs->name = pt_pstrdup(cf->pool, addr);
	rs->host = colon != NULL ? pt_pstrndup(cf->pool, addr, (size_t)(colon - addr))
	    : pt_pstrdup(cf->pool, addr);
	rs->port = (int)port;
	rs->first = u->npeers;
	rs->nslots = UPSTREAM_MAX_ADDRS;
	rs->file = cf->node->file;
	rs->line = cf->node->line;
	for (pp = &u->resolve; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = rs;
	err = upstream_add_peers(cf, u, addr, addrs, UPSTREAM_MAX_ADDRS, tpl);
	if (err != NULL)
		return err;
	for (i = naddrs; i < UPSTREAM_MAX_ADDRS; i++)
		u->peers[rs->first + i].absent = 1;
	u->nabsent += UPSTREAM_MAX_ADDRS - naddrs;
	return NULL;
}

/*
 * server ADDRESS [weight=N] [max_fails=N] [fail_timeout=T] [max_conns=N]
 * [slow_start=T] [backup] [down] [resolve]
 */
static const char *
upstream_server(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	struct pt_upstream_peer tpl;
	const char *addr = n->args[0], *err = NULL, *v;
	int naddrs, i, len, resolve = 0;

	(void)conf;
	PT_ASSERT(u != NULL);
	memset(&tpl, 0, sizeof(tpl));
	tpl.weight = 1;
	tpl.max_fails = 1;
	tpl.fail_timeout = 10000;
	for (i = 1; i < n->nargs; i++) {
		const char *a = n->args[i];

		len = upstream_param_len(a);
		v = a + len + 1;
		if (upstream_param(a, "weight")) {
			if (pt_parse_int(v, 1, 1000, &tpl.weight) != PT_OK)
				return pt_psprintf(cf->pool, "invalid weight \"%s\" in \"%s\" directive "
				    "(1 to 1000)", v, d->name);
		} else if (upstream_param(a, "max_fails")) {
			if (pt_parse_int(v, 0, 1000000, &tpl.max_fails) != PT_OK)
				return pt_psprintf(cf->pool, "invalid max_fails \"%s\" in \"%s\" "
				    "directive", v, d->name);
		} else if (upstream_param(a, "max_conns")) {
			if (pt_parse_int(v, 0, 1000000, &tpl.max_conns) != PT_OK)
				return pt_psprintf(cf->pool, "invalid max_conns \"%s\" in \"%s\" "
				    "directive", v, d->name);
		} else if (upstream_param(a, "fail_timeout")) {
			if (pt_parse_msec(v, &tpl.fail_timeout) != PT_OK)
				return pt_psprintf(cf->pool, "invalid fail_timeout \"%s\" in \"%s\" "
				    "directive", v, d->name);
		} else if (upstream_param(a, "slow_start")) {
			if (pt_parse_msec(v, &tpl.slow_start) != PT_OK)
				return pt_psprintf(cf->pool, "invalid slow_start \"%s\" in \"%s\" "
				    "directive", v, d->name);
		} else if (strcmp(a, "down") == 0) {
			tpl.down = 1;
		} else if (strcmp(a, "backup") == 0) {
			tpl.backup = 1;
		} else if (strcmp(a, "resolve") == 0) {
			resolve = 1;
		} else if (upstream_param(a, "route")
		    || upstream_param(a, "service")) {
			return pt_psprintf(cf->pool, "\"%.*s\" parameter of the \"%s\" directive "
			    "is not supported yet", len, a, d->name);
		} else {
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
		}
	}
	if (tpl.backup && tpl.down)
		return pt_psprintf(cf->pool, "a server cannot be both \"backup\" and \"down\" "
		    "in \"%s\" directive", d->name);

	if (strstr(addr, "://") != NULL)
		return pt_psprintf(cf->pool, "invalid address \"%s\" in \"%s\" directive: write "
		    "the address without a scheme", addr, d->name);
	if (strncmp(addr, "unix:", 5) == 0)
		return pt_psprintf(cf->pool, "unix socket \"%s\" in \"%s\" directive is not "
		    "supported yet", addr, d->name);
	if (resolve && !upstream_is_literal(addr))
		return upstream_server_resolve(cf, d, u, addr, &tpl);
	if (pt_sockaddr_parse(addr, 80, addrs, UPSTREAM_MAX_ADDRS, &naddrs, &err) != PT_OK)
		return pt_psprintf(cf->pool, "host not found in \"%s\" of \"%s\" directive in "
		    "upstream \"%s\": %s", addr, d->name, u->name, err);
	return upstream_add_peers(cf, u, addr, addrs, naddrs, &tpl);
}

/*---- zone: peer state shared by the workers ----*/

#define UPSTREAM_ZONE_MAGIC	0x55505a34u

/* at the start of a zone's data: every peer record ever made in it */
struct upstream_zone_hdr {
	unsigned		 magic;		/* UPSTREAM_ZONE_MAGIC */
	uint32_t		 gen;		/* bumped by each init */
	uint32_t		 nrec;		/* used entries of <recs> */
	uint32_t		 cap;		/* size of <recs> */
	struct pt_upstream_state **recs;	/* records, in the zone */
	uint32_t		 nlists;	/* used entries of <lists> */
	uint32_t		 caplists;
	struct upstream_zaddrs	**lists;	/* `resolve` address lists */
	uint32_t		 nqueues;	/* used entries of <queues> */
	uint32_t		 capqueues;
	struct pt_upstream_zqueue **queues;	/* `queue`: the waiting workers */
};

/* grow an array of pointers in the zone to hold one more; locked */
static int
upstream_zone_grow(struct pt_shm *shm, void ***arr, uint32_t n, uint32_t *cap)
{
	void **na;

	if (n < *cap)
		return PT_OK;
	na = pt_slab_alloc_locked(shm, (*cap * 2 + 16) * sizeof(*na));
	if (na == NULL)
		return PT_ERROR;
	if (n > 0)
		memcpy(na, *arr, n * sizeof(*na));
	pt_slab_free_locked(shm, *arr);
	*arr = na;
	*cap = *cap * 2 + 16;
	return PT_OK;
}

/* the waiting-workers record of group <u> (it has `queue`); locked */
static struct pt_upstream_zqueue *
upstream_zone_queue(struct pt_shm *shm, struct upstream_zone_hdr *h, struct pt_upstream *u)
{
	struct pt_upstream_zqueue *zq;
	uint32_t k;

	for (k = 0; k < h->nqueues; k++)
		if (strcmp(h->queues[k]->key, u->name) == 0)
			return h->queues[k];
	if (upstream_zone_grow(shm, (void ***)&h->queues, h->nqueues, &h->capqueues) != PT_OK)
		return NULL;
	zq = pt_slab_calloc_locked(shm, sizeof(*zq));
	if (zq == NULL)
		return NULL;
	snprintf(zq->key, sizeof(zq->key), "%s", u->name);
	h->queues[h->nqueues++] = zq;
	return zq;
}

/*
 * The address list of <rs> in zone header <h>, found by key or made; the
 * addresses known at start (config time) replace the list unless there
 * are none, when the list published before a reload is kept. Locked.
 */
static struct upstream_zaddrs *
upstream_zone_list(struct pt_shm *shm, struct upstream_zone_hdr *h,
    struct pt_upstream_rserver *rs)
{
	struct pt_upstream *u = rs->u;
	struct upstream_zaddrs *z = NULL;
	char key[sizeof(z->key)];
	uint32_t k;
	int i, n = 0;

	snprintf(key, sizeof(key), "%s/=%s", u->name, rs->name);
	for (k = 0; k < h->nlists; k++)
		if (strcmp(h->lists[k]->key, key) == 0) {
			z = h->lists[k];
			break;
		}
	if (z == NULL) {
		if (upstream_zone_grow(shm, (void ***)&h->lists, h->nlists, &h->caplists) != PT_OK)
			return NULL;
		z = pt_slab_calloc_locked(shm, sizeof(*z));
		if (z == NULL)
			return NULL;
		memcpy(z->key, key, sizeof(key));
		h->lists[h->nlists++] = z;
	}
	for (i = 0; i < rs->nslots; i++)
		if (!u->peers[rs->first + i].absent)
			z->addrs[n++] = u->peers[rs->first + i].addr;
	if (n > 0 || z->naddrs == 0) {
		z->naddrs = (uint32_t)n;
		z->gen++;
	}
	return z;
}

/* find the state record keyed <key>, or make one; locked */
static struct pt_upstream_state *
upstream_zone_rec(struct pt_shm *shm, struct upstream_zone_hdr *h, const char *key,
    int unused_only)
{
	struct pt_upstream_state *st;
	uint32_t k;

	for (k = 0; k < h->nrec; k++)
		if ((!unused_only || h->recs[k]->gen != h->gen) && strcmp(h->recs[k]->key, key) == 0)
			return h->recs[k];
	if (upstream_zone_grow(shm, (void ***)&h->recs, h->nrec, &h->cap) != PT_OK)
		return NULL;
	st = pt_slab_calloc_locked(shm, sizeof(*st));
	if (st == NULL)
		return NULL;
	snprintf(st->key, sizeof(st->key), "%s", key);
	h->recs[h->nrec++] = st;
	return st;
}

/* see upstream_priv.h */
struct pt_upstream_state *
pt_upstream_zone_state(struct pt_upstream *u, const char *text)
{
	struct pt_shm *shm = u->zone->shm;
	struct upstream_zone_hdr *h = u->zone->data;
	struct pt_upstream_state *st;
	char key[sizeof(st->key)];

	snprintf(key, sizeof(key), "%s/%s", u->name, text);
	pt_shm_lock(shm);
	st = upstream_zone_rec(shm, h, key, 0);
	if (st != NULL)
		st->gen = h->gen;
	pt_shm_unlock(shm);
	return st;
}

/*
 * Master, after the zone is mapped (start and reload). Each peer of each
 * group using <zone> gets a record keyed "group/address": the record of
 * the previous generation when the zone was kept (so failures, counters
 * and the health state survive a reload, and the old workers still
 * draining update the same connection counts), else a fresh one. Records
 * of servers that went away stay in the zone (an old worker may still
 * use them) and are reused if the server comes back.
 */
static int
upstream_zone_init(struct pt_zone *zone, void *old_data)
{
	struct pt_upstream_main *um = pt_upstream_building;
	struct pt_shm *shm = zone->shm;
	struct upstream_zone_hdr *h = old_data;
	struct pt_upstream **ups;
	struct pt_upstream_rserver *rs;
	struct pt_upstream_state *st;
	char key[sizeof(st->key)];
	size_t i;
	int j, rc = PT_OK;

	pt_shm_lock(shm);
	if (h == NULL || h->magic != UPSTREAM_ZONE_MAGIC) {
		h = pt_slab_calloc_locked(shm, sizeof(*h));
		if (h == NULL)
			goto nomem;
		h->magic = UPSTREAM_ZONE_MAGIC;
	}
	h->gen++;
	ups = um != NULL ? um->upstreams.elts : NULL;
	for (i = 0; um != NULL && i < um->upstreams.nelts; i++) {
		if (ups[i]->zone != zone)
			continue;
		for (j = 0; j < ups[i]->npeers; j++) {
			struct pt_upstream_peer *p = &ups[i]->peers[j];

			if (p->absent)
				continue;	/* a `resolve` slot: its record comes with an address */
			snprintf(key, sizeof(key), "%s/%s", ups[i]->name, p->addr.text);
			st = upstream_zone_rec(shm, h, key, 1);
			if (st == NULL)
				goto nomem;
			st->gen = h->gen;
			p->st = st;
		}
		for (rs = ups[i]->resolve; rs != NULL; rs = rs->next)
			if ((rs->z = upstream_zone_list(shm, h, rs)) == NULL)
				goto nomem;
		if (ups[i]->queue_max > 0
		    && (ups[i]->zqueue = upstream_zone_queue(shm, h, ups[i])) == NULL)
			goto nomem;
	}
	zone->data = h;
	pt_shm_unlock(shm);
	return rc;
nomem:
	pt_shm_unlock(shm);
	pt_log(PT_LOG_EMERG, 0, "upstream zone \"%s\" is too small for its servers",
	    zone->name);
	return PT_ERROR;
}

/* queue N [timeout=T] */
static const char *
upstream_queue(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_int(n->args[0], 1, 1000000, &u->queue_max) != PT_OK)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive",
		    n->args[0], d->name);
	u->queue_timeout = 60000;
	if (n->nargs == 2 && (strncmp(n->args[1], "timeout=", 8) != 0 ||
	    pt_parse_msec(n->args[1] + 8, &u->queue_timeout) != PT_OK))
		return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
		    n->args[1], d->name);
	return NULL;
}

/* outlier_detection consecutive=N [base=T] [max=T] */
static const char *
upstream_outlier(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	int i, bad;

	(void)conf;
	u->outlier_base = 10000;
	u->outlier_max = 300000;
	for (i = 0; i < n->nargs; i++) {
		const char *a = n->args[i];

		if (strncmp(a, "consecutive=", 12) == 0)
			bad = pt_parse_int(a + 12, 1, 1000, &u->outlier_consecutive) != PT_OK;
		else if (strncmp(a, "base=", 5) == 0)
			bad = pt_parse_msec(a + 5, &u->outlier_base) != PT_OK || u->outlier_base == 0;
		else if (strncmp(a, "max=", 4) == 0)
			bad = pt_parse_msec(a + 4, &u->outlier_max) != PT_OK;
		else
			bad = 1;
		if (bad)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
	}
	if (u->outlier_consecutive == 0)
		return pt_psprintf(cf->pool, "\"%s\" directive needs consecutive=N", d->name);
	if (u->outlier_max < u->outlier_base)
		u->outlier_max = u->outlier_base;
	return NULL;
}

/* zone NAME [SIZE] */
static const char *
upstream_zone(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;
	const char *err = NULL;
	size_t size = 0;

	(void)conf;
	if (cf->node->nargs > 1 && (pt_parse_size(cf->node->args[1], &size) != PT_OK
	    || size < PT_SHM_MIN_SIZE))
		return pt_psprintf(cf->pool, "invalid zone size \"%s\" in \"%s\" directive "
		    "(%d at least)", cf->node->args[1], d->name, PT_SHM_MIN_SIZE);
	u->zone = pt_zone_add(cf, cf->node->args[0], size, &pt_mod_upstream, upstream_zone_init,
	    &err);
	if (u->zone == NULL)
		return err;
	return NULL;
}

static const char *
upstream_keepalive(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_int(cf->node->args[0], 1, 65535, &u->keepalive) != PT_OK)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive "
		    "(1 to 65535)", cf->node->args[0], d->name);
	return NULL;
}

static const char *
upstream_keepalive_requests(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_int(cf->node->args[0], 1, INT_MAX, &u->keepalive_requests) != PT_OK)
		return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive "
		    "(a number from 1)", cf->node->args[0], d->name);
	return NULL;
}

static const char *
upstream_keepalive_timeout(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream *u = cf->block_data;

	(void)conf;
	if (pt_parse_msec(cf->node->args[0], &u->keepalive_timeout) != PT_OK)
		return pt_psprintf(cf->pool, "invalid time \"%s\" in \"%s\" directive",
		    cf->node->args[0], d->name);
	return NULL;
}

/*
 * Runs once, with <parent> NULL, after the whole configuration has been
 * applied: every group used by proxy_pass without an upstream block of
 * that name gets its name resolved as "host[:port]" into its peers.
 */
static const char *
upstream_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
    void *child)
{
	struct pt_upstream_main *um = child;
	struct pt_upstream **ups, *u;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	const char *err;
	size_t i;
	int naddrs;

	(void)parent;
	if (level != PT_LEVEL_HTTP)
		return NULL;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++) {
		u = ups[i];
		if (u->defined || !u->implicit || u->npeers > 0)
			continue;
		err = NULL;
		if (strncmp(u->name, "unix:", 5) == 0)
			err = "unix sockets are not supported yet";
		else if (pt_sockaddr_parse(u->name, 80, addrs, UPSTREAM_MAX_ADDRS, &naddrs,
		    &err) == PT_OK) {
			struct pt_upstream_peer tpl;

			memset(&tpl, 0, sizeof(tpl));
			tpl.weight = 1;
			tpl.max_fails = 1;
			tpl.fail_timeout = 10000;
			err = upstream_add_peers(cf, u, u->name, addrs, naddrs, &tpl);
		}
		if (err != NULL)
			return pt_psprintf(cf->pool, "host not found in upstream \"%s\" in %s:%d (%s)",
			    u->name, u->file != NULL ? u->file : "?", u->line, err);
	}
	/* per-worker state; a zone's init points the peers into the zone */
	for (i = 0; i < um->upstreams.nelts; i++) {
		int j;

		u = ups[i];
		u->local_st = pt_pcalloc(cf->pool, (size_t)(u->npeers ? u->npeers : 1) *
		    sizeof(*u->local_st));
		for (j = 0; j < u->npeers; j++)
			u->peers[j].st = &u->local_st[j];
		if (u->hc != NULL && u->zone == NULL)
			return pt_psprintf(cf->pool, "\"health_check\" in upstream \"%s\" needs a "
			    "\"zone\" (%s:%d)", u->name, u->hc->file, u->hc->line);
		if (u->resolve != NULL && um->resolver == NULL)
			return pt_psprintf(cf->pool, "no resolver defined to resolve \"%s\" of upstream "
			    "\"%s\" (%s:%d): add a \"resolver\" directive", u->resolve->name, u->name,
			    u->resolve->file, u->resolve->line);
	}
	return pt_upstream_hc_merge(cf, um);
}

static int
upstream_init_worker(struct pt_cycle *cycle)
{
	if (pt_upstream_resolve_init_worker(cycle) != PT_OK
	    || pt_upstream_queue_init_worker(cycle) != PT_OK)
		return PT_ERROR;
	return pt_upstream_hc_init_worker(cycle);
}

static void
upstream_exit_worker(struct pt_cycle *cycle)
{
	pt_upstream_hc_exit_worker(cycle);
	pt_upstream_resolve_exit_worker(cycle);
	pt_upstream_queue_exit_worker(cycle);
}
