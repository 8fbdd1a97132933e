/*
 * upstream.c: the worker side of upstream groups: peer selection (smooth
 * weighted round robin, the default balancer) and the per-worker cache of
 * idle keep-alive connections. Everything here runs in a worker and
 * allocates nothing except, once per connection, from the connection's
 * pool. The configuration side is modules/upstream/upstream_module.c.
 */
#include <sys/socket.h>

#include "portico.h"

/*---- smooth weighted round robin ----*/

/* is bit <i> set in the <tried> bitmap (NULL: no bit set) */
static inline int
upstream_tried(const uint64_t *tried, int i)
{
	return tried != NULL && (tried[i / 64] & ((uint64_t)1 << (i % 64))) != 0;
}

/*
 * Every eligible peer gains its effective weight; the one with the highest
 * current weight is chosen and loses the sum of the gains. Over a round of
 * sum(weights) picks each peer is chosen <weight> times, interleaved.
 * Peers that are down or already tried for this request take no part.
 */
static struct pt_upstream_peer *
upstream_wrr_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried)
{
	struct pt_upstream_peer *p, *best = NULL;
	long total = 0;
	int i;

	(void)r;
	for (i = 0; i < u->npeers; i++) {
		p = &u->peers[i];
		if (p->down || upstream_tried(tried, i))
			continue;
		p->current_weight += p->effective_weight;
		total += p->effective_weight;
		/* a weight lowered after failures comes back one step per pick */
		if (p->effective_weight < p->weight)
			p->effective_weight++;
		if (best == NULL || p->current_weight > best->current_weight)
			best = p;
	}
	if (best != NULL)
		best->current_weight -= total;
	return best;
}

/* count consecutive failures; passive health checks will use them */
static void
upstream_wrr_put(struct pt_upstream *u, struct pt_upstream_peer *peer, int failed)
{
	(void)u;
	if (failed)
		peer->fails++;
	else
		peer->fails = 0;
}

const struct pt_upstream_balancer pt_upstream_balancer_wrr = {
	"round_robin",
	upstream_wrr_get,
	upstream_wrr_put,
};

/*
 * Pick a peer of <u> for <r> with the group's balancer, skipping the peers
 * whose bit is set in <tried> (may be NULL). Counts the connection in
 * peer->conns; pt_upstream_peer_put() must follow. NULL: none available.
 */
struct pt_upstream_peer *
pt_upstream_peer_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried)
{
	struct pt_upstream_peer *p;

	if (u->npeers == 0)
		return NULL;
	p = u->balancer->get(u, r, tried);
	if (p != NULL)
		p->conns++;
	return p;
}

/*
 * The request is done with <p> (from pt_upstream_peer_get); <failed> when
 * the peer failed it (connect error, timeout, invalid response).
 */
void
pt_upstream_peer_put(struct pt_upstream *u, struct pt_upstream_peer *p, int failed)
{
	if (p->conns > 0)
		p->conns--;
	if (u->balancer->put != NULL)
		u->balancer->put(u, p, failed);
}

/*---- keep-alive cache ----*/

#define UPSTREAM_KCONN_MAGIC	0x55504b43u
#define UPSTREAM_BUSY_BITS	8

/*
 * What the cache knows about one upstream connection, allocated once from
 * the connection's pool. See upstream.h for where it is kept.
 */
struct upstream_kconn {
	unsigned		 magic;		/* UPSTREAM_KCONN_MAGIC */
	struct pt_conn		*conn;		/* the connection */
	struct pt_upstream	*group;		/* group whose idle list holds it */
	struct pt_upstream_peer	*peer;		/* peer it is connected to */
	unsigned		 requests;	/* requests finished on it */
	unsigned		 idle:1;	/* on group->idle */
	unsigned		 busy:1;	/* in upstream_busy[] */
	struct upstream_kconn	*busy_next;	/* busy bucket chain */
	struct upstream_kconn	**busy_pprev;
};

/* records of connections taken from the cache and not put back yet */
static struct upstream_kconn	*upstream_busy[1u << UPSTREAM_BUSY_BITS];

static struct upstream_kconn **
upstream_busy_bucket(const struct pt_conn *c)
{
	uint64_t h = (uint64_t)(uintptr_t)c;

	h ^= h >> 17;
	h *= 0x9e3779b97f4a7c15ull;
	return &upstream_busy[h >> (64 - UPSTREAM_BUSY_BITS)];
}

static void
upstream_busy_add(struct upstream_kconn *kc)
{
	struct upstream_kconn **b = upstream_busy_bucket(kc->conn);

	kc->busy_next = *b;
	if (*b != NULL)
		(*b)->busy_pprev = &kc->busy_next;
	kc->busy_pprev = b;
	*b = kc;
	kc->busy = 1;
}

static void
upstream_busy_del(struct upstream_kconn *kc)
{
	*kc->busy_pprev = kc->busy_next;
	if (kc->busy_next != NULL)
		kc->busy_next->busy_pprev = kc->busy_pprev;
	kc->busy_next = NULL;
	kc->busy_pprev = NULL;
	kc->busy = 0;
}

static struct upstream_kconn *
upstream_busy_find(const struct pt_conn *c)
{
	struct upstream_kconn *kc;

	for (kc = *upstream_busy_bucket(c); kc != NULL; kc = kc->busy_next)
		if (kc->conn == c)
			return kc;
	return NULL;
}

/* push <c> at the head (most recent) of <u>'s circular idle list */
static void
upstream_idle_push(struct pt_upstream *u, struct pt_conn *c)
{
	struct pt_conn *head = u->idle;

	if (head == NULL) {
		c->idle_next = c->idle_prev = c;
	} else {
		c->idle_next = head;
		c->idle_prev = head->idle_prev;
		head->idle_prev->idle_next = c;
		head->idle_prev = c;
	}
	u->idle = c;
	u->nidle++;
}

static void
upstream_idle_unlink(struct pt_upstream *u, struct pt_conn *c)
{
	struct upstream_kconn *kc = c->data;

	if (c->idle_next == c) {
		u->idle = NULL;
	} else {
		c->idle_prev->idle_next = c->idle_next;
		c->idle_next->idle_prev = c->idle_prev;
		if (u->idle == c)
			u->idle = c->idle_next;
	}
	c->idle_next = c->idle_prev = NULL;
	u->nidle--;
	kc->idle = 0;
	kc->group = NULL;
}

/* a cached connection's pool is going away: drop its record from our lists */
static void
upstream_kconn_cleanup(void *data)
{
	struct upstream_kconn *kc = data;

	if (kc->busy)
		upstream_busy_del(kc);
	if (kc->idle)
		upstream_idle_unlink(kc->group, kc->conn);
	kc->magic = 0;
}

/*
 * 1 when nothing is waiting on <c>'s socket (no byte, no EOF, no error):
 * an idle HTTP/1.1 upstream connection must stay silent.
 */
static int
upstream_conn_quiet(struct pt_conn *c)
{
	char ch;
	ssize_t n;

	if (c->io.fd < 0 || c->eof || c->error || c->hup)
		return 0;
	n = recv(c->io.fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		c->readable = 0;
		return 1;
	}
	return 0;
}

static void
upstream_idle_close(struct pt_conn *c, enum pt_close_reason why)
{
	struct upstream_kconn *kc = c->data;

	upstream_idle_unlink(kc->group, c);
	pt_conn_close(c, why);
}

/* readable or hung up while cached: the server closed it or broke HTTP */
static void
upstream_idle_read(struct pt_conn *c)
{
	if (upstream_conn_quiet(c))
		return;
	upstream_idle_close(c, PT_CLOSE_DONE);
}

static void
upstream_idle_expired(struct pt_timer *t)
{
	upstream_idle_close(t->data, PT_CLOSE_KEEPALIVE_TIMEOUT);
}

static void
upstream_timer_noop(struct pt_timer *t)
{
	(void)t;
}

/*
 * Take the most recently cached idle connection of <u> to <peer> out of
 * the cache, with its handlers, c->data and timer reset. NULL if none.
 */
struct pt_conn *
pt_upstream_idle_get(struct pt_upstream *u, struct pt_upstream_peer *peer)
{
	struct upstream_kconn *kc;
	struct pt_conn *c;

	if (u->idle == NULL)
		return NULL;
	c = u->idle;
	for (;;) {
		kc = c->data;
		PT_CHECK_OBJ(kc, UPSTREAM_KCONN_MAGIC);
		if (kc->peer == peer)
			break;
		c = c->idle_next;
		if (c == u->idle)
			return NULL;
	}
	upstream_idle_unlink(u, c);
	pt_timer_del(&c->timer);
	pt_timer_init(&c->timer, upstream_timer_noop, c);
	c->on_read = NULL;
	c->on_write = NULL;
	c->data = NULL;
	upstream_busy_add(kc);
	return c;
}

/*
 * Give <c>, connected to <peer> of <u>, back after a complete response:
 * cache it for reuse or close it (see upstream.h for when). Takes
 * ownership of <c> in both cases.
 */
void
pt_upstream_idle_put(struct pt_upstream *u, struct pt_upstream_peer *peer, struct pt_conn *c)
{
	struct upstream_kconn *kc;
	unsigned requests;

	PT_CHECK_OBJ(c, PT_CONN_MAGIC);
	kc = upstream_busy_find(c);
	if (kc != NULL)
		upstream_busy_del(kc);
	requests = (kc != NULL ? kc->requests : 0) + 1;

	if (u->keepalive == 0 || pt_worker.exiting
	    || (long)requests >= u->keepalive_requests || !upstream_conn_quiet(c)) {
		pt_conn_close(c, PT_CLOSE_DONE);
		return;
	}
	if (kc == NULL) {
		kc = pt_pcalloc(c->pool, sizeof(*kc));
		kc->magic = UPSTREAM_KCONN_MAGIC;
		kc->conn = c;
		pt_pool_cleanup_add(c->pool, upstream_kconn_cleanup, kc);
	}
	kc->requests = requests;
	kc->peer = peer;
	kc->group = u;
	kc->idle = 1;

	c->data = kc;
	c->on_read = upstream_idle_read;
	c->on_write = NULL;
	pt_timer_del(&c->timer);
	pt_timer_init(&c->timer, upstream_idle_expired, c);
	pt_timer_set(&c->timer, u->keepalive_timeout);
	upstream_idle_push(u, c);

	/* over the limit: the connection idle for the longest time goes */
	if (u->nidle > (unsigned)u->keepalive)
		upstream_idle_close(u->idle->idle_prev, PT_CLOSE_DONE);
}

/*
 * Requests already finished on <c>, a connection its caller is using:
 * 0 when it was never cached, otherwise the count since it was opened.
 */
unsigned
pt_upstream_conn_requests(struct pt_conn *c)
{
	struct upstream_kconn *kc = upstream_busy_find(c);

	return kc != NULL ? kc->requests : 0;
}

/* Close every cached idle connection of every group of <cycle>. */
void
pt_upstream_idle_close_all(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	size_t i;

	if (cycle == NULL || cycle->http_conf == NULL)
		return;
	um = cycle->http_conf[pt_mod_upstream.index];
	if (um == NULL)
		return;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		while (ups[i]->idle != NULL)
			upstream_idle_close(ups[i]->idle, PT_CLOSE_SHUTDOWN);
}
