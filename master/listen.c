/*
 * listen.c: listening sockets. The master holds one SO_REUSEPORT socket
 * per listen address and worker slot; worker slot i accepts on fds[i]
 * only, so the kernel spreads connections over the workers and a dying
 * worker's queue waits for its replacement in the same slot.
 *
 * SO_REUSEPORT lets any process of the same user join a group of
 * sockets, so an address this process does not hold yet is first bound
 * once without it: a second instance fails with EADDRINUSE instead of
 * silently sharing the first one's traffic.
 *
 * On reload the new cycle shares (dup(2)) the old cycle's sockets for
 * addresses that are still configured, so no queued connection is lost;
 * the old cycle's own descriptors are closed when its workers are told to
 * quit, which releases addresses that are no longer configured and slots
 * that no longer exist.
 */
#include <fcntl.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include "master.h"

#define LISTEN_DEFAULT_BACKLOG	511

static int
listen_addr_eq(const struct pt_sockaddr *a, const struct pt_sockaddr *b)
{
	const struct sockaddr_in	*a4, *b4;
	const struct sockaddr_in6	*a6, *b6;

	if (a->sa.ss_family != b->sa.ss_family)
		return 0;
	switch (a->sa.ss_family) {
	case AF_INET:
		a4 = (const struct sockaddr_in *)&a->sa;
		b4 = (const struct sockaddr_in *)&b->sa;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	case AF_INET6:
		a6 = (const struct sockaddr_in6 *)&a->sa;
		b6 = (const struct sockaddr_in6 *)&b->sa;
		return a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	default:
		return a->len == b->len && memcmp(&a->sa, &b->sa, a->len) == 0;
	}
}

static struct pt_listener *
listen_find(struct pt_cycle *cycle, const struct pt_sockaddr *addr)
{
	struct pt_listener	*ls;
	size_t			 i;

	if (cycle == NULL || cycle->listeners.elts == NULL)
		return NULL;
	ls = cycle->listeners.elts;
	for (i = 0; i < cycle->listeners.nelts; i++)
		if (ls[i].fds != NULL && listen_addr_eq(&ls[i].addr, addr))
			return &ls[i];
	return NULL;
}

static int
listen_setopt(int fd, int level, int name, int value, const char *what,
    const struct pt_listener *ls)
{
	if (setsockopt(fd, level, name, &value, sizeof(value)) == -1) {
		pt_log(PT_LOG_EMERG, errno, "setsockopt(%s) on %s failed", what,
		    ls->addr.text);
		return PT_ERROR;
	}
	return PT_OK;
}

/* a new bound, listening, non-blocking socket for <ls>, or -1 (logged) */
static int
listen_socket(const struct pt_listener *ls)
{
	int	fd, family = ls->addr.sa.ss_family;

	if (family != AF_INET && family != AF_INET6) {
		pt_log(PT_LOG_EMERG, 0, "cannot listen on %s: only IPv4 and IPv6 "
		    "addresses are supported", ls->addr.text);
		return -1;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "socket() for %s failed", ls->addr.text);
		return -1;
	}
	if (listen_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", ls) ||
	    listen_setopt(fd, SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT", ls) ||
	    (family == AF_INET6 &&
	    listen_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", ls)) ||
	    (ls->rcvbuf > 0 &&
	    listen_setopt(fd, SOL_SOCKET, SO_RCVBUF, ls->rcvbuf, "SO_RCVBUF", ls)) ||
	    (ls->sndbuf > 0 &&
	    listen_setopt(fd, SOL_SOCKET, SO_SNDBUF, ls->sndbuf, "SO_SNDBUF", ls)))
		goto failed;

	if (bind(fd, (const struct sockaddr *)&ls->addr.sa, ls->addr.len) == -1) {
		pt_log(PT_LOG_EMERG, errno, "bind() to %s failed", ls->addr.text);
		goto failed;
	}
	if (listen(fd, ls->backlog > 0 ? ls->backlog : LISTEN_DEFAULT_BACKLOG)
	    == -1) {
		pt_log(PT_LOG_EMERG, errno, "listen() to %s, backlog %d failed",
		    ls->addr.text, ls->backlog);
		goto failed;
	}
	/* an optimisation only: report it and go on, as nginx does */
	if (ls->deferred) {
		int	secs = 1;

		if (setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
		    sizeof(secs)) == -1)
			pt_log(PT_LOG_ALERT, errno, "setsockopt(TCP_DEFER_ACCEPT) "
			    "on %s failed, ignored", ls->addr.text);
	}
	return fd;

failed:
	close(fd);
	return -1;
}

/*
 * Check that nobody else listens on <ls>'s address: bind a socket without
 * SO_REUSEPORT and close it. Needed because SO_REUSEPORT would otherwise
 * let this process join the sockets of another instance running as the
 * same user, silently sharing its traffic. Returns PT_OK or PT_ERROR
 * (logged as the bind failure it is).
 */
static int
listen_probe(const struct pt_listener *ls)
{
	int	fd, family = ls->addr.sa.ss_family, rc = PT_OK;

	if (family != AF_INET && family != AF_INET6)
		return PT_OK;		/* refused by listen_socket() */
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "socket() for %s failed", ls->addr.text);
		return PT_ERROR;
	}
	if (listen_setopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR", ls) ||
	    (family == AF_INET6 &&
	    listen_setopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1, "IPV6_V6ONLY", ls))) {
		rc = PT_ERROR;
	} else if (bind(fd, (const struct sockaddr *)&ls->addr.sa,
	    ls->addr.len) == -1) {
		pt_log(PT_LOG_EMERG, errno, "bind() to %s failed", ls->addr.text);
		rc = PT_ERROR;
	}
	close(fd);
	return rc;
}

/* see master.h */
int
pt_listeners_open(struct pt_cycle *cycle, struct pt_cycle *old)
{
	struct pt_listener	*ls, *o;
	size_t			 i, j;
	int			 slot, fd, nslots = cycle->nworkers;

	PT_ASSERT_MASTER();
	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	PT_ASSERT(nslots >= 1);
	ls = cycle->listeners.elts;

	for (i = 0; i < cycle->listeners.nelts; i++) {
		PT_ASSERT(ls[i].fds == NULL);
		ls[i].fds = pt_palloc(cycle->pool, (size_t)nslots * sizeof(int));
		ls[i].nfds = nslots;
		for (slot = 0; slot < nslots; slot++)
			ls[i].fds[slot] = -1;
		for (j = 0; j < i; j++) {
			if (listen_addr_eq(&ls[i].addr, &ls[j].addr)) {
				pt_log(PT_LOG_EMERG, 0, "duplicate listen %s",
				    ls[i].addr.text);
				goto failed;
			}
		}
	}

	/* addresses this process does not hold yet must be free: probe all first */
	for (i = 0; i < cycle->listeners.nelts; i++) {
		if (listen_find(old, &ls[i].addr) == NULL &&
		    listen_probe(&ls[i]) != PT_OK)
			goto failed;
	}

	for (i = 0; i < cycle->listeners.nelts; i++) {
		o = listen_find(old, &ls[i].addr);
		for (slot = 0; slot < nslots; slot++) {
			if (o == NULL || slot >= o->nfds || o->fds[slot] == -1) {
				fd = listen_socket(&ls[i]);
				if (fd == -1)
					goto failed;
				ls[i].fds[slot] = fd;
				continue;
			}
			fd = fcntl(o->fds[slot], F_DUPFD_CLOEXEC, 0);
			if (fd == -1) {
				pt_log(PT_LOG_EMERG, errno, "dup() of the socket "
				    "of %s failed", ls[i].addr.text);
				goto failed;
			}
			ls[i].fds[slot] = fd;
			/* listen(2) again applies a changed backlog */
			if (ls[i].backlog != o->backlog && listen(fd,
			    ls[i].backlog > 0 ? ls[i].backlog :
			    LISTEN_DEFAULT_BACKLOG) == -1)
				pt_log(PT_LOG_ALERT, errno, "listen() to %s, backlog "
				    "%d failed, ignored", ls[i].addr.text,
				    ls[i].backlog);
		}
	}
	return PT_OK;

failed:
	pt_listeners_close(cycle);
	return PT_ERROR;
}

/* see master.h */
struct pt_cycle *
pt_listeners_inherited(void)
{
	const char		*env = getenv(PT_LISTEN_ENV), *err = NULL;
	struct pt_cycle		*pc;
	struct pt_listener	*ls;
	char			*copy, *item, *save = NULL, *eq, *fdtext, *fsave;
	int			 n;

	PT_ASSERT_MASTER();
	if (env == NULL || *env == '\0')
		return NULL;
	pc = pt_xcalloc(1, sizeof(*pc));
	pc->magic = PT_CYCLE_MAGIC;
	pc->pool = pt_pool_create(1024);
	pt_array_init(&pc->listeners, pc->pool, 4, sizeof(struct pt_listener));
	copy = pt_pstrdup(pc->pool, env);
	for (item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
		if ((eq = strrchr(item, '=')) == NULL)
			continue;
		*eq = '\0';
		ls = pt_array_push(&pc->listeners);
		if (pt_sockaddr_parse(item, 0, &ls->addr, 1, &n, &err) != PT_OK) {
			pt_log(PT_LOG_ALERT, 0, "inherited socket \"%s\" ignored: %s", item, err);
			pc->listeners.nelts--;
			continue;
		}
		ls->fds = pt_palloc(pc->pool, 64 * sizeof(int));
		for (fdtext = strtok_r(eq + 1, ",", &fsave); fdtext && ls->nfds < 64;
		    fdtext = strtok_r(NULL, ",", &fsave)) {
			long fd;

			if (pt_parse_int(fdtext, 3, 1 << 20, &fd) != PT_OK ||
			    fcntl((int)fd, F_GETFD) == -1)
				continue;
			/* ours now: not passed on to workers or further upgrades */
			(void)fcntl((int)fd, F_SETFD, FD_CLOEXEC);
			ls->fds[ls->nfds++] = (int)fd;
		}
		pt_log(PT_LOG_NOTICE, 0, "using %d inherited socket(s) of %s", ls->nfds,
		    ls->addr.text);
	}
	unsetenv(PT_LISTEN_ENV);
	return pc;
}

/* see master.h */
void
pt_listeners_close(struct pt_cycle *cycle)
{
	struct pt_listener	*ls = cycle->listeners.elts;
	size_t			 i;
	int			 slot;

	for (i = 0; i < cycle->listeners.nelts; i++) {
		if (ls[i].fds == NULL)
			continue;
		for (slot = 0; slot < ls[i].nfds; slot++) {
			if (ls[i].fds[slot] != -1 && close(ls[i].fds[slot]) == -1)
				pt_log(PT_LOG_ALERT, errno, "close() of a socket of "
				    "%s failed", ls[i].addr.text);
			ls[i].fds[slot] = -1;
		}
	}
}
