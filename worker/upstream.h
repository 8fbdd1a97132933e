/*
 * upstream.h: upstream groups (`upstream NAME { server ...; }` and the
 * implicit group of a `proxy_pass http://host:port`), peer selection and
 * the per-worker cache of idle keep-alive connections. The proxy module
 * (and later others: health checks, stream) use this API; the balancing
 * algorithms plug in through struct pt_upstream_balancer.
 */
#ifndef PT_UPSTREAM_H
#define PT_UPSTREAM_H

#include "conn.h"
#include "module.h"

extern struct pt_module pt_mod_upstream;

struct pt_request;
struct pt_cv;
struct pt_zone;
struct pt_upstream_hc;

/*
 * Run-time state of one peer. With `zone` in the upstream block it lives
 * in that shared-memory zone and all workers (and the health checker)
 * update the same record; without, each worker has its own copy. Counters
 * are updated with atomic builtins; transitions of the passive-check
 * window happen under the zone lock when there is one.
 */
struct pt_upstream_state {
	uint32_t		 conns;		/* requests in flight to the peer */
	uint32_t		 fails;		/* failures in the current window */
	pt_msec_t		 fail_start;	/* first failure of the window */
	pt_msec_t		 unavail_until;	/* passive: out until then (max_fails) */
	pt_msec_t		 recovered;	/* came back at (slow_start), 0 = never out */
	uint64_t		 requests;	/* requests sent (tries) */
	uint64_t		 failures;	/* failed tries */
	uint64_t		 ejections;	/* times marked unavailable */
	/* active health checks */
	uint32_t		 hc_down;	/* 1: failed its checks */
	uint32_t		 hc_fails;	/* consecutive failed checks */
	uint32_t		 hc_passes;	/* consecutive passed checks */
	int32_t			 hc_status;	/* last check: HTTP status, -1 error, 0 none */
	pt_msec_t		 hc_checked;	/* time of the last check */
	uint32_t		 ewma_us;	/* latency EWMA (least_time), microseconds */
	uint32_t		 consec;	/* outlier detection: failures in a row */
	uint32_t		 eject_level;	/* ejections in a row: the period doubles */
	pt_msec_t		 ejected_until;	/* outlier detection: out until then */
	int64_t			 current_weight;/* smooth WRR with a zone (under its lock) */
	uint32_t		 gen;		/* zone record: bumped when reused */
	char			 key[72];	/* zone record: "group/addr" it belongs to */
};

/* one address of a `server` line (a name may resolve to several) */
struct pt_upstream_peer {
	struct pt_sockaddr	 addr;		/* where to connect */
	const char		*name;		/* "host:port" as written, for $upstream_addr */
	long			 weight;	/* weight= (1) */
	long			 current_weight;/* smooth WRR state without a zone (per worker) */
	long			 max_fails;	/* max_fails= (1), 0 = never out */
	pt_msec_t		 fail_timeout;	/* fail_timeout= (10s) */
	long			 max_conns;	/* max_conns= (0 = no limit) */
	pt_msec_t		 slow_start;	/* slow_start= (0 = off) */
	struct pt_upstream_state *st;		/* run-time state (zone or per worker) */
	uint32_t		 sid;		/* sticky cookie value (hash of the address) */
	unsigned		 inflight;	/* this worker's requests on it (resolve) */
	unsigned		 down:1;	/* `down` parameter */
	unsigned		 backup:1;	/* `backup` parameter */
	unsigned		 absent:1;	/* resolve: a slot with no address now */
};

struct pt_upstream;
/* a balancing algorithm; all callbacks run in the worker */
struct pt_upstream_balancer {
	const char	*name;
	/*
	 * Pick a usable peer among the primaries (<backup> 0) or the backups
	 * (<backup> 1) for <r>, skipping peers whose bit is set in <tried>;
	 * NULL = none. pt_upstream_peer_usable() says which peers qualify.
	 */
	struct pt_upstream_peer *(*get)(struct pt_upstream *u, struct pt_request *r,
		    const uint64_t *tried, int backup);
	/* the request is done with <peer>; <failed> when it failed (may be NULL) */
	void	(*put)(struct pt_upstream *u, struct pt_upstream_peer *peer, int failed);
	/* config time: prepare <u>->balancer_data once all servers are known */
	const char *(*init)(struct pt_conf_ctx *cf, struct pt_upstream *u);
	/*
	 * Run time (may be NULL): peers changed address or came and went
	 * (`resolve`); rebuild <u>->balancer_data in place, no allocation.
	 */
	void	(*update)(struct pt_upstream *u);
};

struct pt_upstream {
	char			*name;		/* group name, or "host:port" when implicit */
	const char		*file;		/* where declared (first use when implicit) */
	int			 line;
	unsigned		 implicit:1;	/* from proxy_pass, not an upstream block */
	unsigned		 defined:1;	/* an upstream block with this name exists */
	struct pt_upstream_peer	*peers;		/* [npeers], primaries and backups */
	int			 npeers;
	int			 nbackup;	/* how many of them are `backup` */
	int			 nabsent;	/* `resolve` slots with no address now */
	const struct pt_upstream_balancer *balancer;
	void			*balancer_data;
	struct pt_cv		*hash_key;	/* hash KEY */
	unsigned		 hash_consistent:1; /* hash KEY consistent */
	unsigned		 random_two:1;	/* random two */
	unsigned		 least_time_last:1; /* least_time last_byte */
	struct pt_zone		*zone;		/* `zone`: shared peer state, or NULL */
	struct pt_upstream_state *local_st;	/* [npeers] state without a zone */
	struct pt_upstream_hc	*hc;		/* health_check, or NULL */
	struct pt_upstream_sticky *sticky;	/* sticky cookie, or NULL */
	long			 outlier_consecutive; /* outlier_detection, 0 = off */
	pt_msec_t		 outlier_base;	/* first ejection period */
	pt_msec_t		 outlier_max;	/* longest ejection period */
	long			 queue_max;	/* queue N: waiting requests per worker, 0 = off */
	pt_msec_t		 queue_timeout;	/* queue timeout= (60s) */
	struct pt_upstream_waiter *qhead;	/* this worker's queue, oldest first */
	struct pt_upstream_waiter *qtail;
	long			 nqueued;
	struct pt_upstream_zqueue *zqueue;	/* queue + zone: the waiting workers */
	/*
	 * proxy_retry_budget (modules/proxy/proxy_retry.c): requests and
	 * retries to this group in this worker, in the current 10-second
	 * window [0] and the one before [1]
	 */
	struct {
		pt_msec_t	 start;
		uint64_t	 req[2];
		uint64_t	 retry[2];
	} budget;
	unsigned		 qlisted:1;	/* this worker is in zqueue->pids */
	/* `server NAME resolve` lines (modules/upstream/resolve.c), or NULL */
	struct pt_upstream_rserver *resolve;

	/* keep-alive cache of idle upstream connections (per worker) */
	long			 keepalive;	/* max idle connections, 0 = off */
	long			 keepalive_requests; /* requests per upstream connection */
	pt_msec_t		 keepalive_timeout;  /* idle time before closing */
	struct pt_conn		*idle;		/* idle list head (via idle_next) */
	unsigned		 nidle;
};

/*
 * Find the group <name>, or create it (config time, from a setter).
 * <implicit>: the name is "host:port" from proxy_pass; its single server
 * is added when the group is first created and no `upstream` block of that
 * name exists by the end of the configuration.
 */
struct pt_upstream	*pt_upstream_get(struct pt_conf_ctx *cf, const char *name, int implicit);

/* pick a peer (NULL: none available); <tried> is a bitmap of peer indexes */
struct pt_upstream_peer	*pt_upstream_peer_get(struct pt_upstream *u, struct pt_request *r,
			    const uint64_t *tried);
void			 pt_upstream_peer_put(struct pt_upstream *u, struct pt_upstream_peer *p,
			    int failed);

/*
 * Keep-alive cache. pt_upstream_idle_get() returns an idle connection to
 * <peer> (removed from the cache, handlers reset to NULL) or NULL.
 * pt_upstream_idle_put() takes ownership of <c>: caches it (closing the
 * oldest when full) or closes it when keepalive is off. A cached
 * connection that becomes readable or hangs up is closed.
 */
struct pt_conn		*pt_upstream_idle_get(struct pt_upstream *u, struct pt_upstream_peer *peer);
void			 pt_upstream_idle_put(struct pt_upstream *u, struct pt_upstream_peer *peer,
			    struct pt_conn *c);
/* close every cached idle connection (worker shutdown) */
void			 pt_upstream_idle_close_all(struct pt_cycle *cycle);

/*
 * Additions by the upstream module (upstream.c, upstream_module.c).
 *
 * The group list: the module's PT_LEVEL_HTTP conf, reached with
 * cycle->http_conf[pt_mod_upstream.index].
 */
struct pt_upstream_main {
	struct pt_array		 upstreams;	/* struct pt_upstream *, in order of creation */
	struct pt_array		 matches;	/* match blocks (health checks) */
	/* resolver ADDR... [valid=T] [ipv4=] [ipv6=], resolver_timeout */
	char			*resolver;	/* "addr:port,..." for c-ares, NULL = none */
	const char		*resolver_file;	/* where written */
	int			 resolver_line;
	pt_msec_t		 resolver_valid; /* valid=, 0 = the answer's TTL */
	unsigned		 resolver_ipv4:1;
	unsigned		 resolver_ipv6:1;
	pt_msec_t		 resolver_timeout; /* resolver_timeout (30s) */
};

/* most peers in one group: <tried> bitmaps have PT_UPSTREAM_MAX_PEERS bits */
#define PT_UPSTREAM_MAX_PEERS	256
#define PT_UPSTREAM_TRIED_WORDS	(PT_UPSTREAM_MAX_PEERS / 64)

/* sticky cookie NAME [expires=] [domain=] [path=] [httponly] [secure] */
struct pt_upstream_sticky {
	struct pt_cv		*cookie;	/* "$cookie_NAME" */
	struct pt_str		 name;		/* NAME */
	struct pt_str		 attrs;		/* "; Max-Age=...; Path=/..." */
};

/*
 * Sticky cookie, called by the proxy with the response head of <peer>
 * not sent yet: adds "Set-Cookie: NAME=<peer's id>" when the request did
 * not carry that id already. Worker.
 */
void	pt_upstream_sticky_header(struct pt_request *r, struct pt_upstream *u,
	    struct pt_upstream_peer *peer);

/*
 * A request waiting for a server of a group with `queue` (no server could
 * take it: all down, failed or at max_conns). Lives in the caller's
 * request context; the caller zeroes it once.
 */
struct pt_upstream_waiter {
	struct pt_upstream_waiter *next, *prev;	/* queue links */
	struct pt_upstream	*u;		/* group it waits on, NULL = not queued */
	struct pt_timer		 timer;		/* poll / deadline */
	struct pt_posted	 posted;	/* wake-up after a local release */
	pt_msec_t		 deadline;	/* give up at (set on first wait) */
	void			(*wake)(void *data, int timed_out);
	void			*data;		/* for <wake> */
};

/*
 * With `queue` and `zone`: the workers that have requests waiting for a
 * server of the group, in the zone. A worker that releases a server
 * sends a datagram to each of them (an abstract unix socket named after
 * the pid), which wakes their oldest waiting request.
 */
#define PT_UPSTREAM_ZQUEUE_PIDS	64
struct pt_upstream_zqueue {
	char			 key[72];	/* group name */
	uint32_t		 npids;		/* used entries of <pids>; read without the lock */
	int32_t			 pids[PT_UPSTREAM_ZQUEUE_PIDS];
};

/*
 * Put <w> in <u>'s queue (at the end; back at the head when it was woken
 * and found no server again): <wake>(<data>, 0) runs when a server may be
 * free again, that is when a request of this worker released one or,
 * with a zone, a request of another worker did; <wake>(<data>, 1) once
 * the queue timeout has passed since the first wait. Each release wakes
 * the oldest waiting request of each worker that has one. Returns PT_OK,
 * or PT_DECLINED when the group has no queue or it is full. Worker.
 */
int	pt_upstream_queue_wait(struct pt_upstream *u, struct pt_upstream_waiter *w,
	    void (*wake)(void *data, int timed_out), void *data);
/* take <w> out of its queue, if queued (request ended) */
void	pt_upstream_queue_cancel(struct pt_upstream_waiter *w);
/* worker start/exit: the socket other workers wake this one through */
int	pt_upstream_queue_init_worker(struct pt_cycle *cycle);
void	pt_upstream_queue_exit_worker(struct pt_cycle *cycle);

/*
 * `resolve`: bring the peers of <u> in line with the address lists that
 * worker slot 0 published in the group's zone, if they changed since the
 * last call (one atomic load per resolved server when they did not).
 * Called before each pick. Worker.
 */
void	pt_upstream_resolve_sync(struct pt_upstream *u);
/* close the idle keep-alive connections of <u> to <p> (its address changed) */
void	pt_upstream_idle_drop(struct pt_upstream *u, struct pt_upstream_peer *p);

/* smooth weighted round robin, the default balancer of every group */
extern const struct pt_upstream_balancer pt_upstream_balancer_wrr;
/* the other methods (modules/upstream/balance.c) */
extern const struct pt_upstream_balancer pt_upstream_balancer_least_conn;
extern const struct pt_upstream_balancer pt_upstream_balancer_ip_hash;
extern const struct pt_upstream_balancer pt_upstream_balancer_hash;
extern const struct pt_upstream_balancer pt_upstream_balancer_random;
extern const struct pt_upstream_balancer pt_upstream_balancer_least_time;

/*
 * May <p> of <u> take a request now: not `down`, not failed by health
 * checks, under max_conns, and not out after max_fails failures (a group
 * of one server ignores max_fails, as nginx does). Worker.
 */
int	pt_upstream_peer_usable(const struct pt_upstream *u, const struct pt_upstream_peer *p);
/* the weight of <p> now: weight=, ramped up during slow_start after recovery */
long	pt_upstream_peer_weight(const struct pt_upstream_peer *p);
/* is bit <i> set in <tried> (NULL: none) */
static inline int
pt_upstream_tried(const uint64_t *tried, int i)
{
	return tried != NULL && (tried[i / 64] & ((uint64_t)1 << (i % 64))) != 0;
}
/*
 * Report the outcome of a check or a try on <p> to the passive-check
 * state: <failed> counts a failure in the fail_timeout window, else a
 * success ends an outage. Worker; takes the zone lock when there is one.
 */
void	pt_upstream_peer_report(struct pt_upstream *u, struct pt_upstream_peer *p, int failed);
/* a response took <ms> from <p> (least_time): update its latency EWMA */
void	pt_upstream_peer_latency(struct pt_upstream_peer *p, pt_msec_t ms);

/*
 * Requests per upstream connection (keepalive_requests). The count lives
 * in a small record allocated once from c->pool by the upstream code, not
 * in struct pt_conn, and the caller keeps c->data for itself while it
 * uses the connection:
 *   - while <c> is cached, c->data points to that record and <c> is on the
 *     group's idle list, a circular list through c->idle_next/idle_prev
 *     (c->idle stays 0: cached upstream connections are not on the
 *     worker's client idle list);
 *   - pt_upstream_idle_get() sets c->data to NULL and files the record in
 *     a per-worker table keyed by the connection;
 *   - pt_upstream_idle_put() takes it back from that table and counts the
 *     request just finished; it closes <c> instead of caching it when the
 *     count reaches keepalive_requests, when keepalive is off, when the
 *     worker is exiting, or when <c> has an error, hung up or has unread
 *     bytes (checked with recv(MSG_PEEK)).
 * A connection closed by its user (pt_conn_close) drops its record with
 * its pool. pt_upstream_conn_requests() returns the requests already
 * finished on <c>, which the caller is using now: 0 for a fresh
 * connection, >= 1 for one taken from the cache (a failure on such a
 * connection may be the server closing it, and worth a retry).
 */
unsigned		 pt_upstream_conn_requests(struct pt_conn *c);

#endif /* PT_UPSTREAM_H */
