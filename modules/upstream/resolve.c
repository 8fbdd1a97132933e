/*
 * resolve.c: `server NAME resolve` in an upstream block, `resolver` and
 * `resolver_timeout`. The names are looked up again at run time, with
 * c-ares driven by the worker's event loop (its sockets are pt_io
 * registrations, its timeouts a pt_timer): no worker ever blocks on DNS.
 *
 * Who resolves. Without `zone`, every worker looks the names up for
 * itself and changes its own peers, as every worker keeps its own peer
 * state then. With `zone`, only the worker in slot 0 asks the DNS and
 * publishes each name's address list in the zone with a generation
 * number; every worker (slot 0 included) brings its peers in line when
 * it sees the generation move, before its next pick. So all workers use
 * the same addresses, the health checker (slot 0 too) probes them, and
 * the per-address state records ("group/address" keys) stay shared.
 *
 * Peers. A `resolve` server owns UPSTREAM_MAX_ADDRS peer slots made at
 * config time (pointers to peers stay valid, and the <tried> bitmaps of
 * requests in flight keep their meaning). A slot with no address is
 * `absent`: never usable. An address that goes away makes its slot
 * absent (requests in flight on it finish normally); a new address takes
 * an absent slot that no request of this worker is using, with a fresh
 * state record (or the zone's record of that address). Idle keep-alive
 * connections to an address that went away are closed.
 *
 * When. Each name is asked again after the valid= time of `resolver`,
 * or else the smallest TTL of the answer (1 second at least). A failed
 * lookup keeps the addresses (a DNS outage does not empty the pool)
 * except "no such name", which empties it, as nginx does; a failure is
 * retried after valid= or 10 seconds, and logged once until a success.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <ctype.h>
#include <strings.h>
#include <ares.h>

#include "upstream_priv.h"

#define RESOLVE_RETRY	10000	/* ms before asking again after a failure */
#define RESOLVE_MIN_TTL	1000	/* ms: the shortest wait between two asks */
#define RESOLVE_MAX_FDS	16	/* c-ares sockets at once */

/* a c-ares socket in the loop */
struct resolve_sock {
	struct pt_io	 io;
	int		 used;
};

static ares_channel		 resolve_ch;
static int			 resolve_on;	/* this worker resolves */
static struct pt_timer		 resolve_tick;	/* c-ares timeouts */
static struct resolve_sock	 resolve_socks[RESOLVE_MAX_FDS];
static struct pt_upstream_main	*resolve_um;

/*---- configuration ----*/

/* resolver ADDRESS[:PORT]... [valid=T] [ipv4=on|off] [ipv6=on|off] */
const char *
pt_upstream_set_resolver(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];
	const struct pt_conf_node *n = cf->node;
	struct pt_sockaddr sa;
	char *csv, *p;
	size_t len = 1;
	int i, nsa, naddr = 0;

	(void)conf;
	if (um->resolver != NULL)
		return pt_psprintf(cf->pool, "\"%s\" directive is duplicate (first at %s:%d)",
		    d->name, um->resolver_file, um->resolver_line);
	for (i = 0; i < n->nargs; i++)
		len += strlen(n->args[i]) + 8;
	csv = p = pt_palloc(cf->pool, len);
	*p = '\0';
	for (i = 0; i < n->nargs; i++) {
		const char *a = n->args[i], *err = NULL;

		if (strncmp(a, "valid=", 6) == 0) {
			if (pt_parse_msec(a + 6, &um->resolver_valid) != PT_OK
			    || um->resolver_valid == 0)
				return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" "
				    "directive", a, d->name);
			continue;
		}
		if (strcmp(a, "ipv4=on") == 0 || strcmp(a, "ipv4=off") == 0) {
			um->resolver_ipv4 = a[6] == 'n';
			continue;
		}
		if (strcmp(a, "ipv6=on") == 0 || strcmp(a, "ipv6=off") == 0) {
			um->resolver_ipv6 = a[6] == 'n';
			continue;
		}
		if (strchr(a, '=') != NULL)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\" in \"%s\" directive",
			    a, d->name);
		/* an address (numeric: the resolver cannot resolve itself), port 53 */
		if (pt_sockaddr_parse(a, 53, &sa, 1, &nsa, &err) != PT_OK || nsa != 1
		    || (a[0] != '[' && !isdigit((unsigned char)a[0])))
			return pt_psprintf(cf->pool, "invalid address \"%s\" in \"%s\" directive%s%s",
			    a, d->name, err ? ": " : " (an IP address is needed)", err ? err : "");
		p += sprintf(p, "%s%s", naddr++ ? "," : "", sa.text);
	}
	if (naddr == 0)
		return pt_psprintf(cf->pool, "no address in \"%s\" directive", d->name);
	if (!um->resolver_ipv4 && !um->resolver_ipv6)
		return pt_psprintf(cf->pool, "\"ipv4=off\" and \"ipv6=off\" together in \"%s\" "
		    "directive", d->name);
	um->resolver = csv;
	um->resolver_file = n->file;
	um->resolver_line = n->line;
	return NULL;
}

/* resolver_timeout TIME */
const char *
pt_upstream_set_resolver_timeout(struct pt_conf_ctx *cf, const struct pt_directive *d,
    void *conf)
{
	struct pt_upstream_main *um = cf->http_conf[pt_mod_upstream.index];

	(void)conf;
	if (pt_parse_msec(cf->node->args[0], &um->resolver_timeout) != PT_OK
	    || um->resolver_timeout == 0)
		return pt_psprintf(cf->pool, "invalid time \"%s\" in \"%s\" directive",
		    cf->node->args[0], d->name);
	return NULL;
}

/*---- applying an address list ----*/

static int
resolve_has(const struct pt_sockaddr *addrs, int n, const char *text)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(addrs[i].text, text) == 0)
			return 1;
	return 0;
}

/* the sticky cookie id of an address (as upstream_module.c computes it) */
static uint32_t
resolve_sid(const char *text)
{
	uint32_t h = 2166136261u;

	for (; *text != '\0'; text++) {
		h ^= (unsigned char)*text;
		h *= 16777619u;
	}
	return h;
}

/* see upstream_priv.h */
void
pt_upstream_resolve_apply(struct pt_upstream_rserver *rs, const struct pt_sockaddr *addrs,
    int naddrs)
{
	struct pt_upstream *u = rs->u;
	struct pt_upstream_peer *p, *slot;
	char list[UPSTREAM_MAX_ADDRS * 66 + 8], *lp = list;
	int i, k, changed = 0, skipped = 0;

	/* addresses that went away */
	for (i = 0; i < rs->nslots; i++) {
		p = &u->peers[rs->first + i];
		if (!p->absent && !resolve_has(addrs, naddrs, p->addr.text)) {
			p->absent = 1;
			u->nabsent++;
			pt_upstream_idle_drop(u, p);
			changed = 1;
		}
	}
	/* new ones */
	for (k = 0; k < naddrs; k++) {
		slot = NULL;
		for (i = 0; i < rs->nslots; i++) {
			p = &u->peers[rs->first + i];
			if (strcmp(p->addr.text, addrs[k].text) == 0 && p->addr.text[0] != '\0') {
				slot = p;	/* present already, or back in its old slot */
				break;
			}
		}
		if (slot != NULL && !slot->absent)
			continue;
		if (slot == NULL)
			for (i = 0; i < rs->nslots; i++) {
				p = &u->peers[rs->first + i];
				if (p->absent && p->inflight == 0) {
					slot = p;
					break;
				}
			}
		if (slot == NULL) {
			skipped++;	/* every free slot still has requests: next time */
			continue;
		}
		if (strcmp(slot->addr.text, addrs[k].text) != 0) {
			pt_upstream_idle_drop(u, slot);
			slot->addr = addrs[k];
			slot->sid = resolve_sid(slot->addr.text);
			if (u->zone != NULL)
				slot->st = pt_upstream_zone_state(u, slot->addr.text);
			else
				slot->st = NULL;
			if (slot->st == NULL) {
				/* no zone, or a full one: this worker's own record */
				slot->st = &u->local_st[slot - u->peers];
				memset(slot->st, 0, sizeof(*slot->st));
			}
		}
		slot->current_weight = 0;
		slot->absent = 0;
		u->nabsent--;
		changed = 1;
	}
	if (!changed)
		return;
	if (u->balancer->update != NULL)
		u->balancer->update(u);
	*lp = '\0';
	for (i = 0; i < rs->nslots; i++) {
		p = &u->peers[rs->first + i];
		if (!p->absent)
			lp += sprintf(lp, "%s%s", lp == list ? "" : " ", p->addr.text);
	}
	pt_log(PT_LOG_NOTICE, 0, "upstream \"%s\": \"%s\" now has the addresses \"%s\"%s",
	    u->name, rs->name, list, skipped ? " (some wait for requests to finish)" : "");
}

/* see upstream.h */
void
pt_upstream_resolve_sync(struct pt_upstream *u)
{
	struct pt_upstream_rserver *rs;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	uint32_t gen;
	int n;

	for (rs = u->resolve; rs != NULL; rs = rs->next) {
		if (rs->z == NULL)
			continue;
		gen = __atomic_load_n(&rs->z->gen, __ATOMIC_ACQUIRE);
		if (gen == rs->applied)
			continue;
		pt_shm_lock(u->zone->shm);
		gen = rs->z->gen;
		n = (int)PT_MIN(rs->z->naddrs, (uint32_t)UPSTREAM_MAX_ADDRS);
		memcpy(addrs, rs->z->addrs, (size_t)n * sizeof(addrs[0]));
		pt_shm_unlock(u->zone->shm);
		rs->applied = gen;
		pt_upstream_resolve_apply(rs, addrs, n);
	}
}

/*---- c-ares on the event loop ----*/

static void resolve_query(struct pt_timer *t);

/* after any c-ares call: arm the timer for its next timeout */
static void
resolve_rearm(void)
{
	struct timeval tv, *tvp;

	if (resolve_ch == NULL)
		return;
	tvp = ares_timeout(resolve_ch, NULL, &tv);
	if (tvp == NULL) {
		pt_timer_del(&resolve_tick);
		return;
	}
	pt_timer_set(&resolve_tick, (pt_msec_t)tvp->tv_sec * 1000 +
	    (pt_msec_t)(tvp->tv_usec + 999) / 1000 + 1);
}

static void
resolve_tick_fired(struct pt_timer *t)
{
	(void)t;
	ares_process_fd(resolve_ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	resolve_rearm();
}

static struct resolve_sock *
resolve_sock_find(int fd)
{
	int i;

	for (i = 0; i < RESOLVE_MAX_FDS; i++)
		if (resolve_socks[i].used && resolve_socks[i].io.fd == fd)
			return &resolve_socks[i];
	return NULL;
}

/*
 * A c-ares socket has events. The loop is edge-triggered: a readable
 * socket is handed to c-ares until it has taken everything (UDP reads
 * loop inside c-ares; a TCP read takes one segment per call, so call
 * again while the socket is still ours; extra calls just see EAGAIN).
 */
static void
resolve_io(struct pt_io *io, uint32_t events)
{
	int fd = io->fd, i;

	if (events & EPOLLOUT)
		ares_process_fd(resolve_ch, ARES_SOCKET_BAD, fd);
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		for (i = 0; i < 8 && resolve_sock_find(fd) != NULL; i++)
			ares_process_fd(resolve_ch, fd, ARES_SOCKET_BAD);
	resolve_rearm();
}

/* c-ares opens or closes a socket */
static void
resolve_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolve_sock *s = resolve_sock_find(fd);
	int i;

	(void)data;
	if (readable || writable) {
		if (s != NULL)
			return;		/* registered once for IN|OUT, edge-triggered */
		for (i = 0; i < RESOLVE_MAX_FDS && resolve_socks[i].used; i++)
			;
		if (i == RESOLVE_MAX_FDS) {
			pt_log(PT_LOG_ALERT, 0, "too many resolver sockets");
			return;
		}
		s = &resolve_socks[i];
		s->io.fd = fd;
		s->io.handler = resolve_io;
		s->io.data = s;
		if (pt_io_add(&s->io) != PT_OK)
			return;
		s->used = 1;
	} else if (s != NULL) {
		pt_io_del(&s->io);
		s->used = 0;
		s->io.fd = -1;
	}
}

/* the answer for <rs>: its addresses with the server's port, deduplicated */
static int
resolve_collect(struct pt_upstream_rserver *rs, struct ares_addrinfo *res,
    struct pt_sockaddr *addrs, pt_msec_t *ttl)
{
	struct ares_addrinfo_node *nd;
	int n = 0, over = 0;

	*ttl = 0;
	for (nd = res != NULL ? res->nodes : NULL; nd != NULL; nd = nd->ai_next) {
		struct pt_sockaddr sa;

		memset(&sa, 0, sizeof(sa));
		if (nd->ai_family == AF_INET && nd->ai_addrlen >= sizeof(struct sockaddr_in)) {
			memcpy(&sa.sa, nd->ai_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)&sa.sa)->sin_port = htons((uint16_t)rs->port);
			sa.len = sizeof(struct sockaddr_in);
		} else if (nd->ai_family == AF_INET6
		    && nd->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			memcpy(&sa.sa, nd->ai_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)&sa.sa)->sin6_port = htons((uint16_t)rs->port);
			sa.len = sizeof(struct sockaddr_in6);
		} else {
			continue;
		}
		pt_sockaddr_format(&sa);
		if (nd->ai_ttl > 0 && (*ttl == 0 || (pt_msec_t)nd->ai_ttl * 1000 < *ttl))
			*ttl = (pt_msec_t)nd->ai_ttl * 1000;
		if (resolve_has(addrs, n, sa.text))
			continue;
		if (n == UPSTREAM_MAX_ADDRS) {
			over = 1;
			continue;
		}
		addrs[n++] = sa;
	}
	if (over)
		pt_log(PT_LOG_WARN, 0, "\"%s\" of upstream \"%s\" has more than %d addresses; "
		    "the first %d are used", rs->name, rs->u->name, UPSTREAM_MAX_ADDRS,
		    UPSTREAM_MAX_ADDRS);
	return n;
}

/* publish <addrs> in the zone (slot 0), bumping the generation on a change */
static void
resolve_publish(struct pt_upstream_rserver *rs, const struct pt_sockaddr *addrs, int n)
{
	struct upstream_zaddrs *z = rs->z;
	int i, same;

	pt_shm_lock(rs->u->zone->shm);
	same = z->naddrs == (uint32_t)n;
	for (i = 0; same && i < n; i++)
		same = resolve_has(z->addrs, (int)z->naddrs, addrs[i].text);
	if (!same) {
		memcpy(z->addrs, addrs, (size_t)n * sizeof(addrs[0]));
		z->naddrs = (uint32_t)n;
		__atomic_store_n(&z->gen, z->gen + 1, __ATOMIC_RELEASE);
	}
	pt_shm_unlock(rs->u->zone->shm);
}

/* c-ares: the lookup of <arg> (an rserver) is over */
static void
resolve_done(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	struct pt_upstream_rserver *rs = arg;
	struct pt_sockaddr addrs[UPSTREAM_MAX_ADDRS];
	pt_msec_t ttl = 0, next;
	int n = 0, keep = 0;

	(void)timeouts;
	rs->busy = 0;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		if (res != NULL)
			ares_freeaddrinfo(res);
		return;			/* the worker is going away */
	}
	if (status == ARES_SUCCESS) {
		n = resolve_collect(rs, res, addrs, &ttl);
		if (rs->failing)
			pt_log(PT_LOG_NOTICE, 0, "\"%s\" of upstream \"%s\" resolves again",
			    rs->name, rs->u->name);
		rs->failing = 0;
		next = resolve_um->resolver_valid ? resolve_um->resolver_valid
		    : PT_MAX(ttl, (pt_msec_t)RESOLVE_MIN_TTL);
	} else {
		/* "no such name" (or no address of the family) empties; others keep */
		keep = status != ARES_ENOTFOUND && status != ARES_ENODATA;
		if (!rs->failing)
			pt_log(PT_LOG_ERR, 0, "\"%s\" of upstream \"%s\" could not be resolved "
			    "(%s)%s", rs->name, rs->u->name, ares_strerror(status),
			    keep ? ", its addresses are kept" : "");
		rs->failing = 1;
		next = resolve_um->resolver_valid ? resolve_um->resolver_valid : RESOLVE_RETRY;
	}
	if (res != NULL)
		ares_freeaddrinfo(res);
	if (!keep) {
		if (rs->z != NULL) {
			resolve_publish(rs, addrs, n);
			pt_upstream_resolve_sync(rs->u);
		} else {
			pt_upstream_resolve_apply(rs, addrs, n);
		}
	}
	if (!pt_worker.exiting)
		pt_timer_set(&rs->timer, next);
}

/* timer: ask for <rs>'s name */
static void
resolve_query(struct pt_timer *t)
{
	struct pt_upstream_rserver *rs = t->data;
	struct ares_addrinfo_hints hints;

	if (pt_worker.exiting || rs->busy || resolve_ch == NULL)
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = !resolve_um->resolver_ipv6 ? AF_INET
	    : !resolve_um->resolver_ipv4 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;
	rs->busy = 1;
	ares_getaddrinfo(resolve_ch, rs->host, NULL, &hints, resolve_done, rs);
	resolve_rearm();
}

/* see upstream_priv.h */
int
pt_upstream_resolve_init_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	struct pt_upstream_rserver *rs;
	struct ares_options opts;
	pt_msec_t per_try;
	size_t i;
	int rc, n = 0;

	if (cycle->http_conf == NULL)
		return PT_OK;
	um = cycle->http_conf[pt_mod_upstream.index];
	if (um == NULL || um->resolver == NULL)
		return PT_OK;
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		for (rs = ups[i]->resolve; rs != NULL; rs = rs->next)
			if (rs->z == NULL || pt_heritage.slot == 0)
				n++;
	if (n == 0)
		return PT_OK;

	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		pt_log(PT_LOG_EMERG, 0, "ares_library_init() failed: %s", ares_strerror(rc));
		return PT_ERROR;
	}
	/* resolver_timeout over two tries, the second twice as long */
	per_try = PT_MAX(um->resolver_timeout / 3, (pt_msec_t)100);
	memset(&opts, 0, sizeof(opts));
	opts.sock_state_cb = resolve_sock_state;
	opts.sock_state_cb_data = NULL;
	opts.timeout = (int)PT_MIN(per_try, (pt_msec_t)INT32_MAX);
	opts.tries = 2;
	opts.lookups = (char *)"b";	/* DNS only: no hosts file read in a worker */
	opts.ndomains = 0;		/* no search list: names as written */
	opts.domains = NULL;
	opts.ndots = 1;
	rc = ares_init_options(&resolve_ch, &opts, ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS
	    | ARES_OPT_TRIES | ARES_OPT_LOOKUPS | ARES_OPT_DOMAINS | ARES_OPT_NDOTS);
	if (rc == ARES_SUCCESS)
		rc = ares_set_servers_ports_csv(resolve_ch, um->resolver);
	if (rc != ARES_SUCCESS) {
		pt_log(PT_LOG_EMERG, 0, "resolver \"%s\" could not be set up: %s", um->resolver,
		    ares_strerror(rc));
		return PT_ERROR;
	}
	resolve_um = um;
	resolve_on = 1;
	pt_timer_init(&resolve_tick, resolve_tick_fired, NULL);
	for (i = 0; i < um->upstreams.nelts; i++)
		for (rs = ups[i]->resolve; rs != NULL; rs = rs->next) {
			pt_timer_init(&rs->timer, resolve_query, rs);
			if (rs->z == NULL || pt_heritage.slot == 0)
				pt_timer_set(&rs->timer, 1 + (pt_msec_t)n--);
		}
	return PT_OK;
}

/* see upstream_priv.h */
void
pt_upstream_resolve_exit_worker(struct pt_cycle *cycle)
{
	struct pt_upstream_main *um;
	struct pt_upstream **ups;
	struct pt_upstream_rserver *rs;
	size_t i;

	if (!resolve_on)
		return;
	um = cycle->http_conf[pt_mod_upstream.index];
	ups = um->upstreams.elts;
	for (i = 0; i < um->upstreams.nelts; i++)
		for (rs = ups[i]->resolve; rs != NULL; rs = rs->next)
			pt_timer_del(&rs->timer);
	pt_timer_del(&resolve_tick);
	ares_destroy(resolve_ch);
	resolve_ch = NULL;
	resolve_on = 0;
}
