/*
 * cycle.h: one configuration generation. The master builds a cycle from a
 * configuration file, maps its zones and binds its listeners, and forks
 * workers that run it. A reload builds a new cycle next to the old one,
 * moving listening sockets and zones whose address/name match.
 */
#ifndef PT_CYCLE_H
#define PT_CYCLE_H

#include <sys/socket.h>
#include <netinet/in.h>
#include "conf.h"
#include "module.h"
#include "pool.h"

#define PT_CYCLE_MAGIC	0x43594331u
#define PT_ZONE_MAGIC	0x5a4f4e45u

/* process-level settings (main and events context), the core module's conf */
struct pt_core_conf {
	int		 daemon;		/* daemon on|off */
	int		 master_process;	/* master_process on|off */
	long		 worker_processes;	/* 0 = auto (one per CPU) */
	long		 worker_connections;	/* per worker, clients + upstreams */
	long		 worker_rlimit_nofile;	/* 0 = leave RLIMIT_NOFILE */
	pt_msec_t	 worker_shutdown_timeout; /* 0 = wait for drained conns */
	char		*pid;			/* pid file path (absolute) */
	char		*user;			/* user for workers, NULL = keep */
	char		*group;			/* group for workers, NULL = user's */
	char		*error_log;		/* path or "stderr" */
	int		 error_log_level;	/* enum pt_log_level */
};

struct pt_conn;

/* a socket address with its printable form */
/*
 * An IPv4 or IPv6 socket address. Not sockaddr_storage: these sit in
 * every connection (peer and local), and 128 bytes each would be most
 * of an idle connection's memory.
 */
union pt_sa {
	sa_family_t		 ss_family;	/* AF_INET or AF_INET6 */
	struct sockaddr		 sa;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
};

struct pt_sockaddr {
	union pt_sa		 sa;		/* address */
	socklen_t		 len;		/* used bytes of <sa> */
	char			 text[64];	/* "127.0.0.1:80", "[::1]:80" */
};

/*
 * One listening address. The master keeps one SO_REUSEPORT socket per
 * worker slot in <fds>; worker slot i accepts only on fds[i].
 */
struct pt_listener {
	struct pt_sockaddr	 addr;		/* bound address */
	int			 backlog;	/* listen(2) backlog */
	int			 rcvbuf, sndbuf;/* 0 = system default */
	unsigned		 ssl:1;		/* TLS on this address */
	unsigned		 ipv6only:1;	/* IPV6_V6ONLY */
	unsigned		 deferred:1;	/* TCP_DEFER_ACCEPT */
	int			*fds;		/* [nfds] sockets, -1 = not open */
	int			 nfds;		/* == number of worker slots */
	void			*servers;	/* protocol data: servers on this address */
	/* set by the TLS module on ssl listeners: handshake, then HTTP */
	void			(*init_conn)(struct pt_conn *c);
};

struct pt_zone;
/*
 * Called in the master after a zone is mapped. <old_data> is the data
 * pointer of the previous cycle's zone with the same name, size and owner,
 * or NULL; the zone keeps the same memory in that case.
 */
typedef int (*pt_zone_init_fn)(struct pt_zone *zone, void *old_data);

/* a shared-memory zone, mapped before fork at the same address everywhere */
struct pt_zone {
	unsigned		 magic;		/* PT_ZONE_MAGIC */
	const char		*name;		/* zone name */
	size_t			 size;		/* bytes, incl. the slab header */
	const struct pt_module	*owner;		/* module that declared it */
	pt_zone_init_fn		 init;		/* see above */
	void			*data;		/* owner's data, set by init */
	struct pt_shm		*shm;		/* mapping + slab, set by the master */
	int			 reused;	/* init got old data */
};

/*
 * Declare zone <name> of <size> bytes for <owner>; from a setter only.
 * The same name with another owner or size is an error (returns NULL,
 * with the message in *err).
 */
struct pt_zone	*pt_zone_add(struct pt_conf_ctx *cf, const char *name, size_t size,
		    const struct pt_module *owner, pt_zone_init_fn init, const char **err);

struct pt_cycle {
	unsigned		 magic;		/* PT_CYCLE_MAGIC */
	struct pt_pool		*pool;		/* everything of this generation */
	unsigned		 generation;	/* 1 at start, +1 per reload */
	const char		*conf_file;	/* absolute path */
	const char		*prefix;	/* -p prefix, ends with '/' */
	struct pt_conf_node	*conf_root;	/* the tree read, kept for -T */
	void			**core_conf;	/* per module, PT_LEVEL_CORE */
	void			**http_conf;	/* per module, PT_LEVEL_HTTP */
	struct pt_core_conf	*core;		/* == core module's core conf */
	struct pt_array		 listeners;	/* struct pt_listener */
	struct pt_array		 zones;		/* struct pt_zone * */
	struct pt_array		 phases[PT_PHASE_MAX]; /* struct pt_phase_handler */
	void			*http;		/* struct pt_http_main, NULL without http{} */
	int			 nworkers;	/* resolved worker_processes */
	struct pt_array		 open_files;	/* struct pt_open_file *: logs to (re)open */
};

struct pt_phase_handler {
	int		 priority;		/* lower first */
	pt_phase_fn	 handler;
	const char	*owner;			/* module name, for error messages */
};

/*
 * A log file a module writes to (access_log); opened by the master,
 * reopened on USR1. Deduplicated by path within a cycle.
 */
struct pt_open_file {
	char		*path;			/* absolute */
	int		 fd;			/* -1 until opened */
	struct pt_buf	*buf;			/* per-worker write buffer, or NULL */
};
/* find or add <path> in cycle->open_files */
struct pt_open_file *pt_open_file_get(struct pt_cycle *cycle, const char *path);

/* what a worker inherits from the master (Varnish-style heritage) */
struct pt_heritage {
	struct pt_cycle		*cycle;		/* generation this worker runs */
	int			 slot;		/* worker index: listener fds[slot] */
	pid_t			 master_pid;	/* getppid() at fork */
	int			 channel;	/* socketpair end to the master, -1 none */
	int			 is_worker;	/* 1 in a worker process */
};
extern struct pt_heritage pt_heritage;

#define PT_ASSERT_WORKER()	PT_ASSERT(pt_heritage.is_worker)
#define PT_ASSERT_MASTER()	PT_ASSERT(!pt_heritage.is_worker)

/* resolve <path> against cycle->prefix into cycle->pool (absolute kept) */
char	*pt_cycle_path(struct pt_cycle *cycle, const char *path);

/* build/free a cycle; implemented in master/cycle.c (master only) */
struct pt_cycle	*pt_cycle_create(const char *conf_file, const char *prefix,
		    const char *extra_directives, struct pt_cycle *old);
void		 pt_cycle_free(struct pt_cycle *cycle);

/*
 * The worker entry point (worker/worker.c): never returns. Runs <cycle>
 * as worker <slot>; closes listener fds of other slots first.
 */
void	pt_worker_main(struct pt_cycle *cycle, int slot) __attribute__((noreturn));

#endif /* PT_CYCLE_H */
