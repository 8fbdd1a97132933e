/*
 * balance.c: the balancing methods other than smooth weighted round robin
 * (worker/upstream.c): least_conn, ip_hash, hash KEY [consistent],
 * random [two [least_conn]] and least_time, with their directive setter.
 * Each get() considers only usable peers of the set asked for (primaries
 * or backups) not yet tried by the request; tables are built at config
 * time, so a pick costs O(log n) for the hash methods and O(n) for the
 * load-aware ones, as round robin does.
 */
#include <strings.h>
#include <unistd.h>

#include "upstream_priv.h"

#define BALANCE_HASH_TRIES	20	/* rehashes before falling back to round robin */
#define BALANCE_POINTS		160	/* ring points per unit of weight */

/* 64-bit FNV-1a with a final mix, for keys and ring points */
static uint64_t
balance_hash(const void *data, size_t len, uint64_t seed)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ull ^ seed;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* a point of the consistent hash ring */
struct balance_point {
	uint32_t	hash;
	uint32_t	peer;		/* index in u->peers */
};

/* what the hash methods precompute */
struct balance_data {
	long		*cum;		/* [npeers] cumulative weights of the primaries */
	long		 total;		/* sum of the primaries' weights */
	struct balance_point *ring;	/* consistent: sorted points */
	size_t		 npoints;
};

/*---- least_conn ----*/

/*
 * The usable peer with the fewest requests in flight per unit of weight;
 * ties are broken by smooth round robin among the tied peers, so an idle
 * pool is still spread evenly.
 */
static struct pt_upstream_peer *
balance_least_conn_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	struct pt_upstream_peer *p, *best = NULL;
	uint64_t bc = 0, bw = 1, c, w;
	long total = 0;
	int i, first = -1;

	(void)r;
	for (i = 0; i < u->npeers; i++) {
		p = &u->peers[i];
		if ((int)p->backup != backup || pt_upstream_tried(tried, i)
		    || !pt_upstream_peer_usable(u, p))
			continue;
		c = __atomic_load_n(&p->st->conns, __ATOMIC_RELAXED);
		w = (uint64_t)pt_upstream_peer_weight(p);
		if (first < 0 || c * bw < bc * w) {
			first = i;
			bc = c;
			bw = w;
		}
	}
	if (first < 0)
		return NULL;
	for (i = first; i < u->npeers; i++) {
		p = &u->peers[i];
		if ((int)p->backup != backup || pt_upstream_tried(tried, i)
		    || !pt_upstream_peer_usable(u, p))
			continue;
		c = __atomic_load_n(&p->st->conns, __ATOMIC_RELAXED);
		w = (uint64_t)pt_upstream_peer_weight(p);
		if (c * bw != bc * w)
			continue;
		p->current_weight += (long)w;
		total += (long)w;
		if (best == NULL || p->current_weight > best->current_weight)
			best = p;
	}
	best->current_weight -= total;
	return best;
}

const struct pt_upstream_balancer pt_upstream_balancer_least_conn = {
	"least_conn", balance_least_conn_get, NULL, NULL, NULL,
};

/*---- least_time ----*/

/*
 * Latency-aware: the usable peer with the lowest (EWMA of its response
 * time) x (requests in flight + 1) / weight. The EWMA is of the time to
 * the response head (least_time header) or to the last byte (last_byte),
 * updated by the proxy after every response; a peer with no measure yet
 * counts as the fastest, so new servers get tried.
 */
static struct pt_upstream_peer *
balance_least_time_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	struct pt_upstream_peer *p, *best = NULL;
	uint64_t cost, bcost = 0;
	int i;

	(void)r;
	for (i = 0; i < u->npeers; i++) {
		p = &u->peers[i];
		if ((int)p->backup != backup || pt_upstream_tried(tried, i)
		    || !pt_upstream_peer_usable(u, p))
			continue;
		cost = ((uint64_t)__atomic_load_n(&p->st->ewma_us, __ATOMIC_RELAXED) + 1) *
		    ((uint64_t)__atomic_load_n(&p->st->conns, __ATOMIC_RELAXED) + 1) * 1000 /
		    (uint64_t)pt_upstream_peer_weight(p);
		if (best == NULL || cost < bcost
		    || (cost == bcost && p->current_weight < best->current_weight)) {
			best = p;
			bcost = cost;
		}
	}
	if (best != NULL)
		best->current_weight++;	/* rotate among equals */
	return best;
}

const struct pt_upstream_balancer pt_upstream_balancer_least_time = {
	"least_time", balance_least_time_get, NULL, NULL, NULL,
};

/*---- hash tables ----*/

/* the cumulative weights; a `resolve` slot with no address weighs nothing */
static void
balance_cum_update(struct pt_upstream *u)
{
	struct balance_data *bd = u->balancer_data;
	int i;

	bd->total = 0;
	for (i = 0; i < u->npeers; i++) {
		if (!u->peers[i].backup && !u->peers[i].absent)
			bd->total += u->peers[i].weight;
		bd->cum[i] = bd->total;
	}
}

static const char *
balance_cum_init(struct pt_conf_ctx *cf, struct pt_upstream *u)
{
	struct balance_data *bd = pt_pcalloc(cf->pool, sizeof(*bd));

	bd->cum = pt_pcalloc(cf->pool, (size_t)u->npeers * sizeof(long));
	u->balancer_data = bd;
	balance_cum_update(u);
	return NULL;
}

/* the primary whose weight range holds <v> (0 <= v < total) */
static int
balance_cum_find(struct pt_upstream *u, const struct balance_data *bd, long v)
{
	int lo = 0, hi = u->npeers - 1, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (bd->cum[mid] > v)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Weighted pick of a primary from hash <h>; when the peer cannot be used,
 * rehash up to BALANCE_HASH_TRIES times, then fall back to round robin.
 */
static struct pt_upstream_peer *
balance_hash_pick(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    uint64_t h)
{
	struct balance_data *bd = u->balancer_data;
	struct pt_upstream_peer *p;
	int i, k;

	for (k = 0; k < BALANCE_HASH_TRIES && bd->total > 0; k++) {
		i = balance_cum_find(u, bd, (long)(h % (uint64_t)bd->total));
		p = &u->peers[i];
		if (!p->backup && !pt_upstream_tried(tried, i) && pt_upstream_peer_usable(u, p))
			return p;
		h = balance_hash(&h, sizeof(h), (uint64_t)k + 1);
	}
	return pt_upstream_balancer_wrr.get(u, r, tried, 0);
}

/*---- ip_hash ----*/

/* the client's /24 for IPv4 (nginx's choice), the whole address for IPv6 */
static struct pt_upstream_peer *
balance_ip_hash_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	const union pt_sa *ss = &r->c->peer.sa;
	uint64_t h;

	if (backup)
		return NULL;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		h = balance_hash(&sin->sin_addr, 3, 0);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		h = balance_hash(&sin6->sin6_addr, 16, 0);
	} else {
		h = 0;
	}
	return balance_hash_pick(u, r, tried, h);
}

const struct pt_upstream_balancer pt_upstream_balancer_ip_hash = {
	"ip_hash", balance_ip_hash_get, NULL, balance_cum_init, balance_cum_update,
};

/*---- hash KEY [consistent] ----*/

static int
balance_point_cmp(const void *a, const void *b)
{
	const struct balance_point *x = a, *y = b;

	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

/*
 * The ring: BALANCE_POINTS x weight points per primary, each the hash of
 * "address#n". Points depend only on the server's own address, so adding
 * or removing a server moves only the keys of its own arcs (~1/N). Built
 * at config time in room for every slot, rebuilt in place when `resolve`
 * changes an address.
 */
static void
balance_ring_build(struct pt_upstream *u)
{
	struct balance_data *bd = u->balancer_data;
	char buf[96];
	long j;
	int i, len;

	bd->npoints = 0;
	for (i = 0; i < u->npeers; i++) {
		if (u->peers[i].backup || u->peers[i].absent)
			continue;
		for (j = 0; j < BALANCE_POINTS * u->peers[i].weight; j++) {
			len = snprintf(buf, sizeof(buf), "%s#%ld", u->peers[i].addr.text, j);
			bd->ring[bd->npoints].hash = (uint32_t)balance_hash(buf, (size_t)len, 0);
			bd->ring[bd->npoints].peer = (uint32_t)i;
			bd->npoints++;
		}
	}
	qsort(bd->ring, bd->npoints, sizeof(*bd->ring), balance_point_cmp);
}

static const char *
balance_hash_init(struct pt_conf_ctx *cf, struct pt_upstream *u)
{
	struct balance_data *bd;
	size_t n = 0;
	int i;

	balance_cum_init(cf, u);
	bd = u->balancer_data;
	if (!u->hash_consistent)
		return NULL;
	for (i = 0; i < u->npeers; i++)
		if (!u->peers[i].backup)
			n += (size_t)(BALANCE_POINTS * u->peers[i].weight);
	bd->ring = pt_palloc(cf->pool, (n ? n : 1) * sizeof(*bd->ring));
	balance_ring_build(u);
	return NULL;
}

static void
balance_hash_update(struct pt_upstream *u)
{
	balance_cum_update(u);
	if (u->hash_consistent)
		balance_ring_build(u);
}

static struct pt_upstream_peer *
balance_hash_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	struct balance_data *bd = u->balancer_data;
	struct pt_upstream_peer *p;
	struct pt_str key;
	uint32_t h32;
	size_t lo, hi, mid, k;
	uint64_t h;

	if (backup)
		return NULL;
	pt_cv_eval(r, u->hash_key, &key);
	h = balance_hash(key.data, key.len, 0);
	if (!u->hash_consistent)
		return balance_hash_pick(u, r, tried, h);
	if (bd->npoints == 0)
		return NULL;
	h32 = (uint32_t)h;
	lo = 0;
	hi = bd->npoints;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (bd->ring[mid].hash < h32)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* walk clockwise to the first point of a usable, untried server */
	for (k = 0; k < bd->npoints; k++) {
		struct balance_point *pt = &bd->ring[(lo + k) % bd->npoints];

		p = &u->peers[pt->peer];
		if (!pt_upstream_tried(tried, (int)pt->peer) && pt_upstream_peer_usable(u, p))
			return p;
	}
	return NULL;
}

const struct pt_upstream_balancer pt_upstream_balancer_hash = {
	"hash", balance_hash_get, NULL, balance_hash_init, balance_hash_update,
};

/*---- random [two [least_conn]] ----*/

static uint64_t balance_rng = 0x9e3779b97f4a7c15ull;

/* xorshift64*, seeded per worker by the pid on first use */
static uint64_t
balance_random(void)
{
	static int seeded;

	if (!seeded) {
		balance_rng ^= (uint64_t)getpid() * 0x2545f4914f6cdd1dull ^ pt_current_msec;
		seeded = 1;
	}
	balance_rng ^= balance_rng >> 12;
	balance_rng ^= balance_rng << 25;
	balance_rng ^= balance_rng >> 27;
	return balance_rng * 0x2545f4914f6cdd1dull;
}

static struct pt_upstream_peer *
balance_random_one(struct pt_upstream *u, const uint64_t *tried, int not)
{
	struct balance_data *bd = u->balancer_data;
	struct pt_upstream_peer *p;
	int i, k;

	for (k = 0; k < BALANCE_HASH_TRIES && bd->total > 0; k++) {
		i = balance_cum_find(u, bd, (long)(balance_random() % (uint64_t)bd->total));
		p = &u->peers[i];
		if (i != not && !p->backup && !pt_upstream_tried(tried, i)
		    && pt_upstream_peer_usable(u, p))
			return p;
	}
	return NULL;
}

/*
 * random: a peer drawn by weight. random two: two distinct peers drawn by
 * weight, and the one with fewer requests in flight per weight wins (the
 * power of two choices; "least_conn" is the only criterion, as in nginx).
 */
static struct pt_upstream_peer *
balance_random_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	struct pt_upstream_peer *a, *b;

	if (backup)
		return NULL;
	a = balance_random_one(u, tried, -1);
	if (a == NULL)
		return pt_upstream_balancer_wrr.get(u, r, tried, 0);
	if (!u->random_two)
		return a;
	b = balance_random_one(u, tried, (int)(a - u->peers));
	if (b == NULL)
		return a;
	if ((uint64_t)__atomic_load_n(&b->st->conns, __ATOMIC_RELAXED) *
	    (uint64_t)pt_upstream_peer_weight(a) <
	    (uint64_t)__atomic_load_n(&a->st->conns, __ATOMIC_RELAXED) *
	    (uint64_t)pt_upstream_peer_weight(b))
		return b;
	return a;
}

const struct pt_upstream_balancer pt_upstream_balancer_random = {
	"random", balance_random_get, NULL, balance_cum_init, balance_cum_update,
};

/*---- the directives ----*/

/* least_conn | ip_hash | hash KEY [consistent] | random [two [least_conn]] | least_time M */
const char *
pt_upstream_set_method(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	const char *err = NULL;

	(void)conf;
	if (u->balancer != &pt_upstream_balancer_wrr)
		return pt_psprintf(cf->pool, "load balancing method redefined by \"%s\" (was "
		    "\"%s\")", d->name, u->balancer->name);
	if (strcmp(d->name, "least_conn") == 0) {
		u->balancer = &pt_upstream_balancer_least_conn;
	} else if (strcmp(d->name, "ip_hash") == 0) {
		u->balancer = &pt_upstream_balancer_ip_hash;
	} else if (strcmp(d->name, "hash") == 0) {
		if (n->nargs == 2 && strcmp(n->args[1], "consistent") != 0)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    n->args[1], d->name);
		u->hash_consistent = n->nargs == 2;
		u->hash_key = pt_cv_compile(cf, n->args[0], &err);
		if (u->hash_key == NULL)
			return err;
		u->balancer = &pt_upstream_balancer_hash;
	} else if (strcmp(d->name, "random") == 0) {
		if (n->nargs >= 1 && strcmp(n->args[0], "two") != 0)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    n->args[0], d->name);
		if (n->nargs == 2 && strcmp(n->args[1], "least_conn") != 0)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    n->args[1], d->name);
		u->random_two = n->nargs >= 1;
		u->balancer = &pt_upstream_balancer_random;
	} else {
		if (strcmp(n->args[0], "header") != 0 && strcmp(n->args[0], "last_byte") != 0)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive "
			    "(header or last_byte)", n->args[0], d->name);
		u->least_time_last = strcmp(n->args[0], "last_byte") == 0;
		u->balancer = &pt_upstream_balancer_least_time;
	}
	return NULL;
}

/* sticky cookie NAME [expires=TIME|max] [domain=D] [path=P] [httponly] [secure] */
const char *
pt_upstream_set_sticky(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	const struct pt_conf_node *n = cf->node;
	struct pt_upstream *u = cf->block_data;
	struct pt_upstream_sticky *sk;
	const char *err = NULL, *path = "/", *domain = NULL;
	char attrs[512];
	size_t len;
	pt_msec_t ms;
	long maxage = -1;
	int i, httponly = 0, secure = 0;

	(void)conf;
	if (u->sticky != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate", d->name);
	if (strcmp(n->args[0], "cookie") != 0)
		return pt_psprintf(cf->pool, "invalid method \"%s\" in \"%s\" directive (only "
		    "\"cookie\")", n->args[0], d->name);
	if (strspn(n->args[1], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
	    != strlen(n->args[1]))
		return pt_psprintf(cf->pool, "invalid cookie name \"%s\" in \"%s\" directive",
		    n->args[1], d->name);
	for (i = 2; i < n->nargs; i++) {
		const char *a = n->args[i];

		if (strncmp(a, "expires=", 8) == 0) {
			if (strcmp(a + 8, "max") == 0)
				maxage = 315360000;	/* ten years */
			else if (pt_parse_msec(a + 8, &ms) == PT_OK)
				maxage = (long)(ms / 1000);
			else
				return pt_psprintf(cf->pool, "invalid value \"%s\" in \"%s\" directive",
				    a, d->name);
		} else if (strncmp(a, "domain=", 7) == 0 && a[7] != '\0' && !strpbrk(a, "; ")) {
			domain = a + 7;
		} else if (strncmp(a, "path=", 5) == 0 && a[5] == '/' && !strpbrk(a, "; ")) {
			path = a + 5;
		} else if (strcmp(a, "httponly") == 0) {
			httponly = 1;
		} else if (strcmp(a, "secure") == 0) {
			secure = 1;
		} else {
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
		}
	}
	sk = pt_pcalloc(cf->pool, sizeof(*sk));
	sk->name.data = pt_pstrdup(cf->pool, n->args[1]);
	sk->name.len = strlen(n->args[1]);
	sk->cookie = pt_cv_compile(cf, pt_psprintf(cf->pool, "$cookie_%s", n->args[1]), &err);
	if (sk->cookie == NULL)
		return err;
	len = (size_t)snprintf(attrs, sizeof(attrs), "%s%ld%s%s; Path=%s%s%s",
	    maxage >= 0 ? "; Max-Age=" : "", maxage >= 0 ? maxage : 0L,
	    domain ? "; Domain=" : "", domain ? domain : "", path,
	    httponly ? "; HttpOnly" : "", secure ? "; Secure" : "");
	if (maxage < 0) {
		/* no Max-Age: drop the "0" printed for it */
		len = (size_t)snprintf(attrs, sizeof(attrs), "%s%s; Path=%s%s%s",
		    domain ? "; Domain=" : "", domain ? domain : "", path,
		    httponly ? "; HttpOnly" : "", secure ? "; Secure" : "");
	}
	sk->attrs.data = pt_pstrndup(cf->pool, attrs, len);
	sk->attrs.len = len;
	u->sticky = sk;
	return NULL;
}
