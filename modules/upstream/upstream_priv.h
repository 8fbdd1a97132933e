/*
 * upstream_priv.h: shared between the files of the upstream module:
 * upstream_module.c (directives, zones), balance.c (methods other than
 * round robin), health.c (active health checks, match blocks) and
 * status.c (the upstream_status JSON handler).
 */
#ifndef PT_UPSTREAM_PRIV_H
#define PT_UPSTREAM_PRIV_H

#include "portico.h"

/* one `header` test of a match block */
struct upstream_match_header {
	struct pt_str		 name;		/* field name */
	int			 op;		/* 0 exists, 1 =, 2 !=, 3 ~, 4 !~, 5 absent */
	struct pt_str		 value;		/* for = and != */
	void			*re;		/* pcre2_code, for ~ and !~ */
};

/* match NAME { status ...; header ...; body ~ ...; } */
struct upstream_match {
	const char		*name;		/* block title */
	const char		*file;		/* where declared */
	int			 line;
	uint64_t		 status[10];	/* bitmap of accepted statuses 0..639 */
	unsigned		 has_status:1;	/* a status test was written */
	struct pt_array		 headers;	/* struct upstream_match_header */
	void			*body;		/* pcre2_code: body ~ / !~, NULL = none */
	unsigned		 body_neg:1;	/* body !~ */
};

/* health_check [interval=] [fails=] [passes=] [uri=] [port=] [match=] [timeout=] */
struct pt_upstream_hc {
	pt_msec_t		 interval;	/* between two checks of a peer (5s) */
	pt_msec_t		 timeout;	/* for one check (interval, at most 5s) */
	long			 fails;		/* consecutive failures to mark down (1) */
	long			 passes;	/* consecutive passes to mark up (1) */
	char			*uri;		/* request target ("/") */
	long			 port;		/* 0: the server's port */
	const char		*match_name;	/* match=NAME, resolved at merge */
	struct upstream_match	*match;		/* NULL: status 200-399 */
	const char		*file;		/* where written, for errors */
	int			 line;
};

/* addresses one server name may resolve to (slots of a `resolve` server) */
#define UPSTREAM_MAX_ADDRS	16

/*
 * The address list of a `server NAME resolve` line in the group's zone,
 * keyed "group/=NAME": written by the resolving worker (slot 0), read by
 * the others when <gen> moves. Kept across reloads.
 */
struct upstream_zaddrs {
	uint32_t		 gen;		/* bumped at each change */
	uint32_t		 naddrs;
	struct pt_sockaddr	 addrs[UPSTREAM_MAX_ADDRS];
	char			 key[72];
};

/* one `server NAME ... resolve` line */
struct pt_upstream_rserver {
	struct pt_upstream_rserver *next;	/* next of the group */
	struct pt_upstream	*u;
	const char		*name;		/* "host:port" as written */
	char			*host;		/* the name to look up */
	int			 port;
	int			 first;		/* its slots: u->peers[first .. first+nslots) */
	int			 nslots;
	const char		*file;		/* where written */
	int			 line;
	struct upstream_zaddrs	*z;		/* with a zone: the published list */
	uint32_t		 applied;	/* z->gen this worker applied */
	struct pt_timer		 timer;		/* next query (resolving worker) */
	unsigned		 busy:1;	/* a query is out */
	unsigned		 failing:1;	/* the last one failed (logged) */
};

/* the group list's owner, for the zone init (set in conf_create) */
extern struct pt_upstream_main	*pt_upstream_building;

const char	*pt_upstream_set_method(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_upstream_set_sticky(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_upstream_set_health_check(struct pt_conf_ctx *, const struct pt_directive *,
		    void *);
const char	*pt_upstream_set_match(struct pt_conf_ctx *, const struct pt_directive *, void *);
const char	*pt_upstream_set_status(struct pt_conf_ctx *, const struct pt_directive *, void *);
/* resolve match= names after the whole configuration; NULL or error text */
const char	*pt_upstream_hc_merge(struct pt_conf_ctx *cf, struct pt_upstream_main *um);
/*
 * With a zone: the state record of address <text> in <u>'s group, found
 * or made (a `resolve` server got a new address). NULL when the zone is
 * full. Worker; takes the zone lock.
 */
struct pt_upstream_state *pt_upstream_zone_state(struct pt_upstream *u, const char *text);
/* replace the addresses of <rs> in this worker by <addrs> (resolve.c) */
void		 pt_upstream_resolve_apply(struct pt_upstream_rserver *rs,
		    const struct pt_sockaddr *addrs, int naddrs);
const char	*pt_upstream_set_resolver(struct pt_conf_ctx *, const struct pt_directive *,
		    void *);
const char	*pt_upstream_set_resolver_timeout(struct pt_conf_ctx *,
		    const struct pt_directive *, void *);
int		 pt_upstream_resolve_init_worker(struct pt_cycle *cycle);
void		 pt_upstream_resolve_exit_worker(struct pt_cycle *cycle);

/* worker: start the active checks (worker slot 0 only) */
int		 pt_upstream_hc_init_worker(struct pt_cycle *cycle);
void		 pt_upstream_hc_exit_worker(struct pt_cycle *cycle);

#endif /* PT_UPSTREAM_PRIV_H */
