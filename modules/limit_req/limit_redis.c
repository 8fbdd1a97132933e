/*
 * limit_redis.c: limit_req zones backed by Redis, so that every portico
 * host using one Redis enforces one rate (worker only).
 *
 * Each worker keeps one hiredis asynchronous connection per Redis-backed
 * zone, driven by the worker's epoll loop through hiredis's adapter
 * hooks: the socket is a pt_io (edge-triggered, registered for both
 * directions once), so reads are drained while FIONREAD says bytes are
 * left, and writes are retried on the next EPOLLOUT edge after hiredis
 * met EAGAIN. A check is one round trip: EVALSHA of a Lua script that
 * runs the same leaky bucket as the local zones, atomically, with Redis's
 * clock (EVAL when the script is not cached). Replies and timeouts are
 * handed to the request from a posted callback, never from inside hiredis.
 *
 * When Redis is down (connect refused, connection lost) checks fail at
 * once and limit_req_module.c falls back as redis_fail says; a check that
 * gets no answer within redis_timeout falls back alone. The connection is
 * retried with exponential backoff (100 ms to 5 s); the first failure and
 * then at most one message per 10 s are logged, and the recovery too.
 * hiredis allocates its command and reply buffers with malloc(3); that is
 * the library's way and the only allocation here on the request path
 * (operations are recycled through a free list).
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include "portico.h"
#include "limit_req.h"

#define LR_REDIS_LOG_MSEC	10000	/* at most one failure message per this */
#define LR_REDIS_BACKOFF_MIN	100
#define LR_REDIS_BACKOFF_MAX	5000

/* the leaky bucket of lr_check_local(), in Redis: KEYS[1], rate, burst */
static const char lr_redis_script[] =
    "pcall(redis.replicate_commands)\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local rate = tonumber(ARGV[1])\n"
    "local burst = tonumber(ARGV[2])\n"
    "local v = redis.call('HMGET', KEYS[1], 'l', 't')\n"
    "local level = 0\n"
    "if v[1] then\n"
    "  level = tonumber(v[1])\n"
    "  local last = tonumber(v[2])\n"
    "  if now > last then level = level - math.floor(rate * (now - last) / 1000) end\n"
    "  if level < 0 then level = 0 end\n"
    "end\n"
    "level = level + 1000\n"
    "if level - 1000 > burst then return {0, level - 1000} end\n"
    "redis.call('HSET', KEYS[1], 'l', level, 't', now)\n"
    "redis.call('PEXPIRE', KEYS[1], math.floor(level * 1000 / rate) + 1000)\n"
    "return {1, level - 1000}\n";

enum lr_redis_state {
	LR_REDIS_DOWN = 0,	/* not connected; a retry is scheduled */
	LR_REDIS_CONNECTING,	/* connect(2) in progress */
	LR_REDIS_UP,		/* connected */
};

/* one zone's connection in this worker */
struct lr_redis {
	struct lr_zone		*z;		/* the zone */
	redisAsyncContext	*ac;		/* NULL when down */
	enum lr_redis_state	 state;
	struct pt_io		 io;		/* ac's socket in the loop */
	struct pt_timer		 retry;		/* reconnect */
	struct pt_posted	 wpost;		/* write what hiredis queued */
	pt_msec_t		 backoff;	/* next reconnect delay */
	pt_msec_t		 logged;	/* last failure message */
	unsigned		 want_write:1;	/* hiredis has bytes to write */
	unsigned		 out_ready:1;	/* the socket was seen writable */
	unsigned		 in_write:1;	/* inside redisAsyncHandleWrite */
	unsigned		 failed:1;	/* a failure was logged, recovery not yet */
	unsigned		 exiting:1;	/* worker exit: no reconnect */
	char			 sha[41];	/* SCRIPT LOAD result, "" until known */
	char			 host[64];	/* address to connect to */
	int			 port;
	struct lr_redis_op	*free_ops;	/* recycled operations */
};

/* one check in flight */
struct lr_redis_op {
	struct lr_redis		*rc;
	lr_redis_done_fn	 done;		/* NULL once answered or cancelled */
	void			*data;
	struct pt_timer		 timer;		/* redis_timeout */
	struct pt_posted	 post;		/* hands the answer over */
	struct lr_result	 res;		/* the answer */
	int			 ok;		/* Redis answered */
	int			 pending;	/* hiredis callbacks not yet called */
	struct pt_str		 key;		/* the request's key (alive while done set) */
	int64_t			 burst;
	struct lr_redis_op	*next;		/* free list */
};

static void lr_redis_connect(struct lr_redis *rc);

static void
lr_redis_log_down(struct lr_redis *rc, const char *why)
{
	static const char *const fail[] = { "the local zone", "letting requests pass",
		"rejecting requests" };

	if (rc->failed && pt_current_msec - rc->logged < LR_REDIS_LOG_MSEC)
		return;
	rc->failed = 1;
	rc->logged = pt_current_msec;
	pt_log(PT_LOG_ERR, 0, "redis \"%s\" of limit_req zone \"%s\" is unavailable (%s), "
	    "falling back to %s", rc->z->redis_addr, rc->z->name, why,
	    fail[rc->z->redis_fail]);
}

static void
lr_redis_schedule(struct lr_redis *rc)
{
	rc->state = LR_REDIS_DOWN;
	if (rc->exiting || pt_timer_armed(&rc->retry))
		return;
	pt_timer_set(&rc->retry, rc->backoff);
	rc->backoff = PT_MIN(rc->backoff * 2, LR_REDIS_BACKOFF_MAX);
}

/*---- hiredis adapter ----*/

static void
lr_redis_do_write(struct lr_redis *rc)
{
	if (rc->ac == NULL || !rc->want_write)
		return;
	rc->in_write = 1;
	redisAsyncHandleWrite(rc->ac);
	rc->in_write = 0;
}

static void
lr_redis_wpost(struct pt_posted *p)
{
	lr_redis_do_write(p->data);
}

static void
lr_ev_add_read(void *priv)
{
	(void)priv;	/* always registered for reading */
}

static void
lr_ev_del_read(void *priv)
{
	(void)priv;
}

static void
lr_ev_add_write(void *priv)
{
	struct lr_redis *rc = priv;

	rc->want_write = 1;
	/* edge-triggered: write now if the socket is known writable */
	if (rc->out_ready && !rc->in_write)
		pt_post(&rc->wpost);
}

static void
lr_ev_del_write(void *priv)
{
	struct lr_redis *rc = priv;

	rc->want_write = 0;
}

static void
lr_ev_cleanup(void *priv)
{
	struct lr_redis *rc = priv;

	/* hiredis frees the context and closes the fd right after this */
	if (rc->io.fd >= 0)
		pt_io_del(&rc->io);
	rc->io.fd = -1;
	rc->ac = NULL;
	rc->want_write = rc->out_ready = 0;
	rc->sha[0] = '\0';
	pt_post_cancel(&rc->wpost);
	lr_redis_schedule(rc);
}

static void
lr_redis_io(struct pt_io *io, uint32_t events)
{
	struct lr_redis *rc = io->data;
	int n;

	if (events & EPOLLOUT) {
		rc->out_ready = 1;
		if (rc->want_write)
			lr_redis_do_write(rc);
		else if (rc->ac != NULL && rc->state == LR_REDIS_CONNECTING)
			redisAsyncHandleWrite(rc->ac);	/* completes the connect */
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* hiredis reads once per call: drain what the socket holds */
		do {
			if (rc->ac == NULL)
				return;
			redisAsyncHandleRead(rc->ac);
			n = 0;
			if (rc->ac != NULL && ioctl(rc->ac->c.fd, FIONREAD, &n) != 0)
				n = 0;
		} while (n > 0);
	}
}

/*---- connection ----*/

static void
lr_redis_script_loaded(redisAsyncContext *ac, void *r, void *priv)
{
	struct lr_redis *rc = priv;
	redisReply *reply = r;

	(void)ac;
	if (reply != NULL && reply->type == REDIS_REPLY_STRING && reply->len == 40)
		memcpy(rc->sha, reply->str, 41);
}

static void
lr_redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct lr_redis *rc = ac->data;

	if (status != REDIS_OK) {
		/* hiredis frees the context after this (cleanup hook) */
		lr_redis_log_down(rc, ac->errstr);
		return;
	}
	rc->state = LR_REDIS_UP;
	rc->backoff = LR_REDIS_BACKOFF_MIN;
	if (rc->failed) {
		rc->failed = 0;
		pt_log(PT_LOG_NOTICE, 0, "redis \"%s\" of limit_req zone \"%s\" is back",
		    rc->z->redis_addr, rc->z->name);
	}
	redisAsyncCommand(rc->ac, lr_redis_script_loaded, rc, "SCRIPT LOAD %s", lr_redis_script);
}

static void
lr_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct lr_redis *rc = ac->data;

	if (status != REDIS_OK && !rc->exiting)
		lr_redis_log_down(rc, ac->errstr[0] ? ac->errstr : "connection closed");
	else if (!rc->exiting)
		lr_redis_log_down(rc, "connection closed");
}

static void
lr_redis_connect(struct lr_redis *rc)
{
	redisAsyncContext *ac;

	ac = redisAsyncConnect(rc->host, rc->port);
	if (ac == NULL) {
		lr_redis_log_down(rc, "out of memory");
		lr_redis_schedule(rc);
		return;
	}
	if (ac->err) {
		lr_redis_log_down(rc, ac->errstr);
		redisAsyncFree(ac);
		lr_redis_schedule(rc);
		return;
	}
	rc->ac = ac;
	ac->data = rc;
	ac->ev.data = rc;
	ac->ev.addRead = lr_ev_add_read;
	ac->ev.delRead = lr_ev_del_read;
	ac->ev.addWrite = lr_ev_add_write;
	ac->ev.delWrite = lr_ev_del_write;
	ac->ev.cleanup = lr_ev_cleanup;
	redisAsyncSetConnectCallback(ac, lr_redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, lr_redis_on_disconnect);
	rc->io.fd = ac->c.fd;
	rc->io.handler = lr_redis_io;
	rc->io.data = rc;
	rc->state = LR_REDIS_CONNECTING;
	rc->out_ready = 0;
	rc->want_write = 0;
	if (pt_io_add(&rc->io) != PT_OK) {
		rc->io.fd = -1;
		redisAsyncFree(ac);	/* cleanup hook schedules the retry */
	}
}

static void
lr_redis_retry(struct pt_timer *t)
{
	struct lr_redis *rc = t->data;

	if (rc->ac == NULL && !rc->exiting)
		lr_redis_connect(rc);
}

/*---- checks ----*/

static void
lr_op_free(struct lr_redis_op *op)
{
	struct lr_redis *rc = op->rc;

	pt_timer_del(&op->timer);
	pt_post_cancel(&op->post);
	op->next = rc->free_ops;
	rc->free_ops = op;
}

/* posted: give the answer to the request */
static void
lr_op_deliver(struct pt_posted *p)
{
	struct lr_redis_op *op = p->data;
	lr_redis_done_fn done = op->done;

	op->done = NULL;
	pt_timer_del(&op->timer);
	if (done != NULL)
		done(op->data, &op->res, op->ok);
	if (op->pending == 0)
		lr_op_free(op);
}

static void
lr_op_timeout(struct pt_timer *t)
{
	struct lr_redis_op *op = t->data;

	if (op->done == NULL)
		return;
	lr_redis_log_down(op->rc, "timed out");
	op->ok = 0;
	pt_post(&op->post);
}

static int lr_op_send(struct lr_redis_op *op, int eval);

static void
lr_op_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct lr_redis_op *op = priv;
	redisReply *reply = r;

	(void)ac;
	op->pending--;
	if (op->done == NULL || op->post.queued) {
		/* answered already (timeout) or cancelled */
		if (op->pending == 0 && op->done == NULL && !op->post.queued)
			lr_op_free(op);
		return;
	}
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && lr_op_send(op, 1) == PT_OK)
		return;
	op->ok = 0;
	if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
	    reply->element[0]->type == REDIS_REPLY_INTEGER &&
	    reply->element[1]->type == REDIS_REPLY_INTEGER) {
		op->ok = 1;
		op->res.rejected = reply->element[0]->integer == 0;
		op->res.excess = reply->element[1]->integer;
		op->res.from_redis = 1;
	} else if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
		lr_redis_log_down(op->rc, reply->str);
	}
	pt_post(&op->post);
}

static int
lr_op_send(struct lr_redis_op *op, int eval)
{
	struct lr_redis *rc = op->rc;
	struct lr_zone *z = rc->z;
	int rc2;

	if (rc->ac == NULL || rc->state != LR_REDIS_UP)
		return PT_ERROR;
	if (eval || rc->sha[0] == '\0')
		rc2 = redisAsyncCommand(rc->ac, lr_op_reply, op, "EVAL %s 1 portico:lr:%s:%b %llu %lld",
		    lr_redis_script, z->name, op->key.data, op->key.len,
		    (unsigned long long)z->rate, (long long)op->burst);
	else
		rc2 = redisAsyncCommand(rc->ac, lr_op_reply, op,
		    "EVALSHA %s 1 portico:lr:%s:%b %llu %lld", rc->sha, z->name, op->key.data,
		    op->key.len, (unsigned long long)z->rate, (long long)op->burst);
	if (rc2 != REDIS_OK)
		return PT_ERROR;
	op->pending++;
	return PT_OK;
}

/* see limit_req.h */
int
pt_lr_redis_check(struct lr_zone *z, struct pt_str key, int64_t burst, lr_redis_done_fn done,
    void *data, struct lr_redis_op **opp)
{
	struct lr_redis *rc = z->redis;
	struct lr_redis_op *op;

	*opp = NULL;
	if (rc == NULL || rc->state != LR_REDIS_UP) {
		if (rc != NULL)
			lr_redis_log_down(rc, "not connected");
		return PT_DECLINED;
	}
	op = rc->free_ops;
	if (op != NULL)
		rc->free_ops = op->next;
	else
		op = pt_xcalloc(1, sizeof(*op));
	memset(op, 0, sizeof(*op));
	op->rc = rc;
	op->done = done;
	op->data = data;
	op->key = key;
	op->burst = burst;
	pt_timer_init(&op->timer, lr_op_timeout, op);
	op->post.handler = lr_op_deliver;
	op->post.data = op;
	if (lr_op_send(op, 0) != PT_OK) {
		op->done = NULL;
		lr_op_free(op);
		return PT_DECLINED;
	}
	pt_timer_set(&op->timer, z->redis_timeout);
	*opp = op;
	return PT_AGAIN;
}

/* see limit_req.h */
void
pt_lr_redis_cancel(struct lr_redis_op *op)
{
	if (op == NULL || op->done == NULL)
		return;
	op->done = NULL;
	pt_timer_del(&op->timer);
	if (op->post.queued)
		pt_post_cancel(&op->post);
	if (op->pending == 0)
		lr_op_free(op);
}

/* see limit_req.h */
int
pt_lr_redis_init_worker(struct pt_cycle *cycle, struct pt_array *zones)
{
	struct lr_zone **zs = zones->elts;
	size_t i;

	(void)cycle;
	for (i = 0; i < zones->nelts; i++) {
		struct lr_zone *z = zs[i];
		struct lr_redis *rc;

		if (z->redis_addr == NULL)
			continue;
		rc = pt_xcalloc(1, sizeof(*rc));
		rc->z = z;
		rc->io.fd = -1;
		rc->backoff = LR_REDIS_BACKOFF_MIN;
		pt_timer_init(&rc->retry, lr_redis_retry, rc);
		rc->wpost.handler = lr_redis_wpost;
		rc->wpost.data = rc;
		pt_sockaddr_host(&z->redis_sa, rc->host, sizeof(rc->host));
		rc->port = pt_sockaddr_port(&z->redis_sa);
		z->redis = rc;
		lr_redis_connect(rc);
	}
	return PT_OK;
}

/* see limit_req.h */
void
pt_lr_redis_exit_worker(struct pt_array *zones)
{
	struct lr_zone **zs = zones->elts;
	size_t i;

	for (i = 0; i < zones->nelts; i++) {
		struct lr_redis *rc = zs[i]->redis;

		if (rc == NULL)
			continue;
		rc->exiting = 1;
		pt_timer_del(&rc->retry);
		if (rc->ac != NULL)
			redisAsyncFree(rc->ac);
	}
}
