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

/* one address of a `server` line (a name may resolve to several) */
struct pt_upstream_peer {
	struct pt_sockaddr	 addr;		/* where to connect */
	const char		*name;		/* "host:port" as written, for $upstream_addr */
	long			 weight;	/* weight= (1) */
	long			 current_weight;/* smooth WRR state (per worker) */
	long			 effective_weight;
	unsigned		 conns;		/* active connections from this worker */
	unsigned		 fails;		/* recent failures (passive checks, later) */
	unsigned		 down:1;	/* `down` parameter */
};

struct pt_upstream;
/* a balancing algorithm; all callbacks run in the worker */
struct pt_upstream_balancer {
	const char	*name;
	/* pick a peer for <r>, skipping peers whose bit is set in <tried>; NULL = none */
	struct pt_upstream_peer *(*get)(struct pt_upstream *u, struct pt_request *r,
		    const uint64_t *tried);
	/* the request is done with <peer>; <failed> when it failed */
	void	(*put)(struct pt_upstream *u, struct pt_upstream_peer *peer, int failed);
};

struct pt_upstream {
	char			*name;		/* group name, or "host:port" when implicit */
	const char		*file;		/* where declared (first use when implicit) */
	int			 line;
	unsigned		 implicit:1;	/* from proxy_pass, not an upstream block */
	unsigned		 defined:1;	/* an upstream block with this name exists */
	struct pt_upstream_peer	*peers;		/* [npeers] */
	int			 npeers;
	const struct pt_upstream_balancer *balancer;
	void			*balancer_data;

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
};

/* most peers in one group: <tried> bitmaps have PT_UPSTREAM_MAX_PEERS bits */
#define PT_UPSTREAM_MAX_PEERS	256
#define PT_UPSTREAM_TRIED_WORDS	(PT_UPSTREAM_MAX_PEERS / 64)

/* smooth weighted round robin, the default balancer of every group */
extern const struct pt_upstream_balancer pt_upstream_balancer_wrr;

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
