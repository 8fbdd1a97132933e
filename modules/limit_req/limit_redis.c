/*
 * limit_redis.c: Redis-backed limit_req zones (in progress: redis= is
 * refused at config time until the client lands).
 */
#include "portico.h"
#include "limit_req.h"

int
pt_lr_redis_check(struct lr_zone *z, struct pt_str key, int64_t burst, lr_redis_done_fn done,
    void *data, struct lr_redis_op **op)
{
	(void)z; (void)key; (void)burst; (void)done; (void)data;
	*op = NULL;
	return PT_DECLINED;
}

void
pt_lr_redis_cancel(struct lr_redis_op *op)
{
	(void)op;
}

int
pt_lr_redis_init_worker(struct pt_cycle *cycle, struct pt_array *zones)
{
	(void)cycle; (void)zones;
	return PT_OK;
}

void
pt_lr_redis_exit_worker(struct pt_array *zones)
{
	(void)zones;
}
