/*
 * upstream.c: the worker side of upstream groups: peer selection (smooth
 * weighted round robin, the default balancer) and the per-worker cache of
 * idle keep-alive connections. Everything here runs in a worker and
 * allocates nothing except, once per connection, from the connection's
 * pool. The configuration side is modules/upstream/upstream_module.c.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <stddef.h>
#include <unistd.h>

#include "portico.h"

/*---- peer state ----*/

#define UP_LOAD(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define UP_STORE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define UP_ADD(x, v)	__atomic_add_fetch(&(x), (v), __ATOMIC_RELAXED)

/* see upstream.h */
int
pt_upstream_peer_usable(const struct pt_upstream *u, const struct pt_upstream_peer *p)
{
	struct pt_upstream_state *st = p->st;

	if (p->down || p->absent || UP_LOAD(st->hc_down))
		return 0;
	if (p->max_conns > 0 && UP_LOAD(st->conns) >= (uint32_t)p->max_conns)
		return 0;
	if (p->max_fails > 0 && u->npeers - u->nabsent > 1 && UP_LOAD(st->fails) >= (uint32_t)p->max_fails
	    && pt_current_msec < UP_LOAD(st->unavail_until))
		return 0;
	if (u->outlier_consecutive > 0 && pt_current_msec < UP_LOAD(st->ejected_until))
		return 0;
	return 1;
}

/* see upstream.h */
long
pt_upstream_peer_weight(const struct pt_upstream_peer *p)
{
	pt_msec_t since, rec;
	long w;

	if (p->slow_start == 0)
		return p->weight;
	rec = UP_LOAD(p->st->recovered);
	if (rec == 0 || pt_current_msec >= rec + p->slow_start)
		return p->weight;
	since = pt_current_msec > rec ? pt_current_msec - rec : 0;
	w = (long)((uint64_t)p->weight * since / p->slow_start);
	return w > 0 ? w : 1;
}

/*
 * Outlier detection: <outlier_consecutive> failures in a row eject the
 * server for outlier_base x 2^(ejections in a row), at most outlier_max.
 * A success resets the count; a server that stays in for as long as its
 * last ejection lasted gets one doubling back.
 */
static void
upstream_outlier(struct pt_upstream *u, struct pt_upstream_peer *p, int failed)
{
	struct pt_upstream_state *st = p->st;
	struct pt_shm *shm = u->zone != NULL ? u->zone->shm : NULL;
	pt_msec_t period = 0;

	if (!failed && UP_LOAD(st->consec) == 0 && UP_LOAD(st->eject_level) == 0)
		return;
	if (shm != NULL)
		pt_shm_lock(shm);
	if (!failed) {
		st->consec = 0;
		if (st->eject_level > 0 && st->ejected_until != 0 && pt_current_msec >=
		    st->ejected_until + (u->outlier_base << (st->eject_level - 1))) {
			st->eject_level--;
			st->ejected_until = pt_current_msec;
		}
	} else if (++st->consec >= (uint32_t)u->outlier_consecutive
	    && pt_current_msec >= st->ejected_until) {
		period = u->outlier_base << PT_MIN(st->eject_level, 20u);
		if (period > u->outlier_max)
			period = u->outlier_max;
		else
			st->eject_level++;
		st->ejected_until = pt_current_msec + period;
		st->consec = 0;
		st->ejections++;
	}
	if (shm != NULL)
		pt_shm_unlock(shm);
	if (period > 0)
		pt_log(PT_LOG_WARN, 0, "upstream server \"%s\" of \"%s\" ejected for %llums after "
		    "%ld failures in a row", p->addr.text, u->name, (unsigned long long)period,
		    u->outlier_consecutive);
}

/* see upstream.h */
void
pt_upstream_peer_report(struct pt_upstream *u, struct pt_upstream_peer *p, int failed)
{
	struct pt_upstream_state *st = p->st;
	struct pt_shm *shm = u->zone != NULL ? u->zone->shm : NULL;
	int out = 0, back = 0;

	if (u->outlier_consecutive > 0)
		upstream_outlier(u, p, failed);
	if (!failed && UP_LOAD(st->fails) == 0)
		return;				/* the common case takes no lock */
	if (shm != NULL)
		pt_shm_lock(shm);
	if (failed) {
		st->failures++;
		if (st->fails == 0 || pt_current_msec >= st->fail_start + p->fail_timeout) {
			/* a new window; an outage that ran out starts over */
			st->fails = 0;
			st->fail_start = pt_current_msec;
		}
		st->fails++;
		if (p->max_fails > 0 && st->fails >= (uint32_t)p->max_fails) {
			out = st->unavail_until <= pt_current_msec;
			st->unavail_until = pt_current_msec + p->fail_timeout;
			if (out)
				st->ejections++;
		}
	} else if (st->fails > 0 && (pt_current_msec >= st->unavail_until
	    || p->max_fails == 0 || st->fails < (uint32_t)p->max_fails)
	    && pt_current_msec >= st->fail_start + p->fail_timeout) {
		/* a success after the window: the failures are forgiven */
		back = p->max_fails > 0 && st->fails >= (uint32_t)p->max_fails;
		st->fails = 0;
		st->unavail_until = 0;
		if (back)
			st->recovered = pt_current_msec;
	}
	if (shm != NULL)
		pt_shm_unlock(shm);
	if (out && u->npeers - u->nabsent > 1)
		pt_log(PT_LOG_WARN, 0, "upstream server \"%s\" of \"%s\" temporarily disabled "
		    "for %llums after %ld failures", p->addr.text, u->name,
		    (unsigned long long)p->fail_timeout, p->max_fails);
	if (back)
		pt_log(PT_LOG_NOTICE, 0, "upstream server \"%s\" of \"%s\" is back",
		    p->addr.text, u->name);
}

/* see upstream.h: EWMA with a 1/8 weight per response */
void
pt_upstream_peer_latency(struct pt_upstream_peer *p, pt_msec_t ms)
{
	uint32_t us = ms > 4000000 ? 4000000000u : (uint32_t)ms * 1000u + 1;
	uint32_t old = UP_LOAD(p->st->ewma_us);

	UP_STORE(p->st->ewma_us, old == 0 ? us : old - old / 8 + us / 8);
}

static void upstream_queue_wake_one(struct pt_upstream *u);
static void upstream_queue_notify(struct pt_upstream *u);

/*---- smooth weighted round robin ----*/

/*
 * Every eligible peer gains its weight; the one with the highest current
 * weight is chosen and loses the sum of the gains. Over a round of
 * sum(weights) picks each peer is chosen <weight> times, interleaved.
 * Peers that are unusable or already tried for this request take no part.
 * With a zone the current weights are the zone's, updated under its lock,
 * so all workers take turns in one rotation (as nginx does); without, each
 * worker has its own.
 */
static struct pt_upstream_peer *
upstream_wrr_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried,
    int backup)
{
	struct pt_upstream_peer *p, *best = NULL;
	int64_t total = 0, w, best_cw = 0;
	int i, shared = u->zone != NULL;

	(void)r;
	if (shared)
		pt_shm_lock(u->zone->shm);
	for (i = 0; i < u->npeers; i++) {
		int64_t cw;

		p = &u->peers[i];
		if ((int)p->backup != backup || pt_upstream_tried(tried, i)
		    || !pt_upstream_peer_usable(u, p))
			continue;
		w = pt_upstream_peer_weight(p);
		if (shared)
			cw = p->st->current_weight += w;
		else
			cw = p->current_weight += w;
		total += w;
		if (best == NULL || cw > best_cw) {
			best = p;
			best_cw = cw;
		}
	}
	if (best != NULL) {
		if (shared)
			best->st->current_weight -= total;
		else
			best->current_weight -= total;
	}
	if (shared)
		pt_shm_unlock(u->zone->shm);
	return best;
}

const struct pt_upstream_balancer pt_upstream_balancer_wrr = {
	"round_robin",
	upstream_wrr_get,
	NULL,
	NULL,
	NULL,
};

/*---- sticky cookie ----*/

/* the 8 hex digits of a cookie value, or -1 */
static int64_t
upstream_sticky_parse(struct pt_str v)
{
	uint32_t x = 0;
	size_t i;

	if (v.len != 8)
		return -1;
	for (i = 0; i < 8; i++) {
		char ch = v.data[i];

		x <<= 4;
		if (ch >= '0' && ch <= '9')
			x |= (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			x |= (uint32_t)(ch - 'a' + 10);
		else
			return -1;
	}
	return x;
}

/* the server named by the request's sticky cookie, if usable and not tried */
static struct pt_upstream_peer *
upstream_sticky_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried)
{
	struct pt_str v;
	int64_t sid;
	int i;

	pt_cv_eval(r, u->sticky->cookie, &v);
	if ((sid = upstream_sticky_parse(v)) < 0)
		return NULL;
	for (i = 0; i < u->npeers; i++)
		if (u->peers[i].sid == (uint32_t)sid) {
			if (pt_upstream_tried(tried, i) || !pt_upstream_peer_usable(u, &u->peers[i]))
				return NULL;
			return &u->peers[i];
		}
	return NULL;
}

/* see upstream.h */
void
pt_upstream_sticky_header(struct pt_request *r, struct pt_upstream *u,
    struct pt_upstream_peer *peer)
{
	struct pt_upstream_sticky *sk = u->sticky;
	struct pt_str v;
	char *p;
	int n;

	if (sk == NULL)
		return;
	pt_cv_eval(r, sk->cookie, &v);
	if (upstream_sticky_parse(v) == (int64_t)peer->sid)
		return;
	p = pt_palloc(r->pool, sk->name.len + 10 + sk->attrs.len);
	memcpy(p, sk->name.data, sk->name.len);
	n = snprintf(p + sk->name.len, 10, "=%08x", peer->sid);
	memcpy(p + sk->name.len + n, sk->attrs.data, sk->attrs.len);
	pt_http_out_add(r, PT_STR("Set-Cookie"),
	    (struct pt_str){ sk->name.len + (size_t)n + sk->attrs.len, p });
}

/*
 * Pick a peer of <u> for <r> with the group's balancer, skipping the peers
 * whose bit is set in <tried> (may be NULL); the backups are used only
 * when no primary can take the request, and always in round robin. Counts
 * the request in the peer's state; pt_upstream_peer_put() must follow.
 * NULL: none available.
 */
struct pt_upstream_peer *
pt_upstream_peer_get(struct pt_upstream *u, struct pt_request *r, const uint64_t *tried)
{
	struct pt_upstream_peer *p;

	if (u->npeers == 0)
		return NULL;
	if (u->resolve != NULL)
		pt_upstream_resolve_sync(u);
	p = u->sticky != NULL ? upstream_sticky_get(u, r, tried) : NULL;
	if (p == NULL)
		p = u->balancer->get(u, r, tried, 0);
	if (p == NULL && u->nbackup > 0)
		p = upstream_wrr_get(u, r, tried, 1);
	if (p != NULL) {
		p->inflight++;
		UP_ADD(p->st->conns, 1);
		UP_ADD(p->st->requests, 1);
	}
	return p;
}

/*
 * The request is done with <p> (from pt_upstream_peer_get); <failed> when
 * the try counts as a failure of the peer (passive health check).
 */
void
pt_upstream_peer_put(struct pt_upstream *u, struct pt_upstream_peer *p, int failed)
{
	uint32_t c = UP_LOAD(p->st->conns);

	if (p->inflight > 0)
		p->inflight--;
	/* a record shared with an older generation never goes below zero */
	while (c > 0 && !__atomic_compare_exchange_n(&p->st->conns, &c, c - 1, 0,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	pt_upstream_peer_report(u, p, failed);
	if (u->balancer->put != NULL)
		u->balancer->put(u, p, failed);
	/* a server may be free: the oldest waiting request tries again */
	if (u->qhead != NULL)
		upstream_queue_wake_one(u);
	if (u->zqueue != NULL)
		upstream_queue_notify(u);
}

/*---- queue ----*/

/*
 * The queue of a group is per worker. A waiting request is woken by a
 * release of a server in its own worker, or, with a zone, in any worker:
 * a worker with requests waiting lists its pid in the group's zone
 * record, and a worker that releases a server sends a one-byte datagram
 * to the abstract unix socket "portico-queue-PID" of every listed worker
 * (the check costs one atomic load when nobody waits). A worker that is
 * woken with nothing waiting takes itself off the list. Without a socket
 * (it could not be made) or with the list full, the waiting requests of
 * this worker look again every UPSTREAM_QUEUE_POLL ms instead.
 */
#define UPSTREAM_QUEUE_POLL	50	/* ms, only without a wake-up socket */

static int		 upstream_qfd = -1;	/* this worker's wake-up socket */
static struct pt_io	 upstream_qio;
static struct pt_cycle	*upstream_qcycle;

static socklen_t
upstream_queue_addr(struct sockaddr_un *sun, int pid)
{
	int n;

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "portico-queue-%d", pid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void
upstream_queue_unlink(struct pt_upstream_waiter *w)
{
	struct pt_upstream *u = w->u;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		u->qhead = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		u->qtail = w->prev;
	w->next = w->prev = NULL;
	w->u = NULL;
	u->nqueued--;
	pt_timer_del(&w->timer);
	pt_post_cancel(&w->posted);
}

/* take the oldest waiter of <u> out of the queue and let it try again */
static void
upstream_queue_wake_one(struct pt_upstream *u)
{
	struct pt_upstream_waiter *w = u->qhead;

	upstream_queue_unlink(w);
	pt_post(&w->posted);
}

/* add (<add>) or remove this worker's pid in <u>'s zone list; 1 if it changed */
static int
upstream_queue_list(struct pt_upstream *u, int add)
{
	struct pt_upstream_zqueue *zq = u->zqueue;
	struct pt_shm *shm = u->zone->shm;
	int32_t self = (int32_t)getpid();
	uint32_t i, n;
	int changed = 0;

	pt_shm_lock(shm);
	n = zq->npids;
	for (i = 0; i < n && zq->pids[i] != self; i++)
		;
	if (add && i == n && n < PT_UPSTREAM_ZQUEUE_PIDS) {
		zq->pids[n] = self;
		__atomic_store_n(&zq->npids, n + 1, __ATOMIC_SEQ_CST);
		changed = 1;
	} else if (!add && i < n) {
		zq->pids[i] = zq->pids[n - 1];
		__atomic_store_n(&zq->npids, n - 1, __ATOMIC_SEQ_CST);
		changed = 1;
	}
	pt_shm_unlock(shm);
	if (changed)
		u->qlisted = add ? 1 : 0;
	return changed;
}

/* a server of <u> was released: wake the other workers that wait on it */
static void
upstream_queue_notify(struct pt_upstream *u)
{
	struct pt_upstream_zqueue *zq = u->zqueue;
	int32_t pids[PT_UPSTREAM_ZQUEUE_PIDS], self;
	struct sockaddr_un sun;
	socklen_t len;
	uint32_t i, n;
	char one = 'w';

	/* pairs with the waiter's listing then retrying: no wake-up is lost */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&zq->npids, __ATOMIC_SEQ_CST) == 0 || upstream_qfd < 0)
		return;
	pt_shm_lock(u->zone->shm);
	n = PT_MIN(zq->npids, (uint32_t)PT_UPSTREAM_ZQUEUE_PIDS);
	memcpy(pids, zq->pids, n * sizeof(pids[0]));
	pt_shm_unlock(u->zone->shm);
	self = (int32_t)getpid();
	for (i = 0; i < n; i++) {
		if (pids[i] == self)
			continue;
		len = upstream_queue_addr(&sun, pids[i]);
		if (sendto(upstream_qfd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL,
		    (struct sockaddr *)&sun, len) == -1 && (errno == ECONNREFUSED
		    || errno == ENOENT)) {
			/* that worker is gone: take it off the list */
			pt_shm_lock(u->zone->shm);
			for (n = 0; n < zq->npids; n++)
				if (zq->pids[n] == pids[i]) {
					zq->pids[n] = zq->pids[zq->npids - 1];
					__atomic_store_n(&zq->npids, zq->npids - 1, __ATOMIC_SEQ_CST);
					break;
				}
			pt_shm_unlock(u->zone->shm);
		}
	}
}

/* another worker released a server: wake the oldest waiter of each group */
static void
upstream_queue_io(struct pt_io *io, uint32_t events)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	char buf[64];
	size_t i;
	int got = 0, k;

	(void)events;
	while (recv(io->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		got++;			/* one datagram per release */
	if (got == 0 || upstream_qcycle == NULL)
		return;
	um = upstream_qcycle->http_conf[pt_mod_upstream.index];
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++) {
		if (ups[i]->zqueue == NULL)
			continue;
		if (ups[i]->qhead != NULL)
			for (k = 0; k < got && ups[i]->qhead != NULL; k++)
				upstream_queue_wake_one(ups[i]);
		else if (ups[i]->qlisted)
			upstream_queue_list(ups[i], 0);
	}
}

static void
upstream_queue_fire(struct pt_upstream_waiter *w)
{
	int timed_out = pt_current_msec >= w->deadline;

	if (w->u != NULL)
		upstream_queue_unlink(w);
	w->wake(w->data, timed_out);
}

static void
upstream_queue_timer(struct pt_timer *t)
{
	upstream_queue_fire(t->data);
}

static void
upstream_queue_posted(struct pt_posted *p)
{
	upstream_queue_fire(p->data);
}

/* see upstream.h */
int
pt_upstream_queue_wait(struct pt_upstream *u, struct pt_upstream_waiter *w,
    void (*wake)(void *data, int timed_out), void *data)
{
	pt_msec_t left;
	int again = w->deadline != 0, poll = 0;

	if (u->queue_max == 0 || w->u != NULL)
		return PT_DECLINED;
	if (!again) {
		if (u->nqueued >= u->queue_max)
			return PT_DECLINED;
		w->deadline = pt_current_msec + u->queue_timeout;
	} else if (pt_current_msec >= w->deadline) {
		return PT_DECLINED;
	}
	w->wake = wake;
	w->data = data;
	w->u = u;
	if (again) {
		/* woken and beaten to the server: still the oldest */
		w->prev = NULL;
		w->next = u->qhead;
		if (u->qhead != NULL)
			u->qhead->prev = w;
		else
			u->qtail = w;
		u->qhead = w;
	} else {
		w->next = NULL;
		w->prev = u->qtail;
		if (u->qtail != NULL)
			u->qtail->next = w;
		else
			u->qhead = w;
		u->qtail = w;
	}
	u->nqueued++;
	pt_timer_init(&w->timer, upstream_queue_timer, w);
	w->posted.handler = upstream_queue_posted;
	w->posted.data = w;
	if (u->zqueue != NULL) {
		if (upstream_qfd < 0)
			poll = 1;
		else if (!u->qlisted && upstream_queue_list(u, 1))
			pt_post(&w->posted);	/* a release may have come just before */
		else if (!u->qlisted)
			poll = 1;		/* the list is full */
	}
	left = w->deadline - pt_current_msec;
	pt_timer_set(&w->timer, poll ? PT_MIN(left, (pt_msec_t)UPSTREAM_QUEUE_POLL) : left);
	return PT_OK;
}

/* see upstream.h */
void
pt_upstream_queue_cancel(struct pt_upstream_waiter *w)
{
	if (w->u != NULL)
		upstream_queue_unlink(w);
	else
		pt_post_cancel(&w->posted);	/* woken, not run yet */
}

/* see upstream.h */
int
pt_upstream_queue_init_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	struct sockaddr_un sun;
	socklen_t len;
	size_t i;
	int fd, need = 0;

	if (cycle->http_conf == NULL)
		return PT_OK;
	um = cycle->http_conf[pt_mod_upstream.index];
	if (um == NULL)
		return PT_OK;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		if (ups[i]->zqueue != NULL)
			need = 1;
	if (!need)
		return PT_OK;
	upstream_qcycle = cycle;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pt_log(PT_LOG_ALERT, errno, "socket() failed for the upstream queue");
		return PT_OK;		/* the queue polls */
	}
	len = upstream_queue_addr(&sun, (int)getpid());
	if (bind(fd, (struct sockaddr *)&sun, len) == -1) {
		pt_log(PT_LOG_ALERT, errno, "bind() of the upstream queue socket failed");
		close(fd);
		return PT_OK;
	}
	upstream_qio.fd = fd;
	upstream_qio.handler = upstream_queue_io;
	upstream_qio.data = NULL;
	if (pt_io_add(&upstream_qio) != PT_OK) {
		close(fd);
		return PT_OK;
	}
	upstream_qfd = fd;
	return PT_OK;
}

/* see upstream.h */
void
pt_upstream_queue_exit_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	size_t i;

	if (upstream_qcycle == NULL || cycle->http_conf == NULL)
		return;
	um = cycle->http_conf[pt_mod_upstream.index];
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		if (ups[i]->qlisted)
			upstream_queue_list(ups[i], 0);
	if (upstream_qfd >= 0) {
		pt_io_del(&upstream_qio);
		close(upstream_qfd);
		upstream_qfd = -1;
	}
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

	if (u->keepalive == 0 || pt_worker.exiting || peer->absent
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

/* see upstream.h */
void
pt_upstream_idle_drop(struct pt_upstream *u, struct pt_upstream_peer *p)
{
	struct pt_conn *c, *next;
	unsigned n = u->nidle;

	for (c = u->idle; n > 0 && c != NULL; c = next, n--) {
		next = c->idle_next;
		if (((struct upstream_kconn *)c->data)->peer == p) {
			if (next == c)
				next = NULL;
			upstream_idle_close(c, PT_CLOSE_DONE);
		}
	}
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
