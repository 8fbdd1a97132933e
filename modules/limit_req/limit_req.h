/*
 * limit_req.h: the limit_req module's types, shared by its config and
 * runtime half (limit_req_module.c) and the Redis client (limit_redis.c).
 */
#ifndef PT_LIMIT_REQ_H
#define PT_LIMIT_REQ_H

#include "portico.h"
#include "limit_shm.h"

extern struct pt_module pt_mod_limit_req;

/* what a Redis-backed zone does while Redis cannot answer */
enum lr_redis_fail {
	LR_FAIL_LOCAL = 0,	/* check against the local zone (default) */
	LR_FAIL_OPEN,		/* let every request pass */
	LR_FAIL_CLOSED,		/* reject every request */
};

struct lr_redis;

/* one limit_req_zone (referenced by name from limit_req, maybe earlier) */
struct lr_zone {
	char			*name;		/* zone=NAME */
	struct pt_cv		*key;		/* the key, NULL until declared */
	uint64_t		 rate;		/* milli-requests per second */
	long			 rate_n;	/* N of "Nr/s" / "Nr/m" (headers) */
	int			 rate_window;	/* 1 or 60 seconds (headers) */
	struct pt_zone		*zone;		/* the shared-memory zone */
	const char		*file;		/* where limit_req_zone was written */
	int			 line;
	/* redis=HOST:PORT, or NULL: local only */
	char			*redis_addr;	/* as written */
	struct pt_sockaddr	 redis_sa;	/* resolved at config time */
	pt_msec_t		 redis_timeout;	/* redis_timeout=, default 100ms */
	enum lr_redis_fail	 redis_fail;	/* redis_fail= */
	struct lr_redis		*redis;		/* per-worker client (worker heap) */
};

/* the value of a key in a local zone */
struct lr_node_value {
	int64_t			 level;		/* bucket level, milli-requests */
	pt_msec_t		 last;		/* time of the last accepted request */
	pt_msec_t		 idle_at;	/* when the bucket will be empty */
};

/* the outcome of one check of one key against one zone */
struct lr_result {
	int			 rejected;	/* over burst */
	int64_t			 excess;	/* milli-requests over the rate after it */
	int			 from_redis;	/* answered by Redis */
};

/*
 * Redis client (limit_redis.c), worker only. pt_lr_redis_check() sends
 * the check of <key> against <z> with <burst> (milli-requests) and
 * returns PT_AGAIN: <done>(<data>, <res>, <ok>) is called later from the
 * event loop, <ok> = 0 when Redis did not answer (down, timeout, error).
 * pt_lr_redis_cancel() drops the callback of a pending check (the
 * request went away). Returns PT_DECLINED at once when Redis is known
 * to be down (the caller falls back per redis_fail).
 */
typedef void (*lr_redis_done_fn)(void *data, const struct lr_result *res, int ok);
struct lr_redis_op;
int	pt_lr_redis_check(struct lr_zone *z, struct pt_str key, int64_t burst,
	    lr_redis_done_fn done, void *data, struct lr_redis_op **op);
void	pt_lr_redis_cancel(struct lr_redis_op *op);
/* start/stop the clients of every Redis-backed zone of <cycle> (worker) */
int	pt_lr_redis_init_worker(struct pt_cycle *cycle, struct pt_array *zones);
void	pt_lr_redis_exit_worker(struct pt_array *zones);

#endif /* PT_LIMIT_REQ_H */
