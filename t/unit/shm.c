/*
 * t/unit/shm.c: shared-memory zone lock and slab allocator (TAP).
 *
 * Four forked processes hammer one zone with lock + counter updates and
 * slab allocations whose contents they verify before freeing (two owners
 * of one chunk would overwrite each other's pattern). Then the dead-holder
 * path: a process dies holding the lock, a waiter is stuck, the parent
 * force-unlocks as the master does when it reaps a worker. Last, the
 * master's zone table: declaration rules, mapping, reuse on reload.
 */
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "master.h"

#define NPROC		4
#define ITERATIONS	20000
#define LIVE		64		/* chunks held at once per process */

struct pt_heritage	pt_heritage;	/* the test runs as "master" */

static int	tests;
static int	failed;

static void
ok(int cond, const char *fmt, ...)
{
	va_list	ap;

	tests++;
	if (!cond)
		failed++;
	printf("%sok %d - ", cond ? "" : "not ", tests);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

/* shared state of the hammer test, allocated from the zone itself */
struct hammer {
	uint64_t	counter;	/* incremented under the lock */
	uint64_t	allocs;		/* successful allocations, under the lock */
};

static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
fill(void *p, size_t n, uint32_t tag)
{
	unsigned char	*c = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		c[i] = (unsigned char)(tag + i * 7);
}

static int
check(const void *p, size_t n, uint32_t tag)
{
	const unsigned char	*c = p;
	size_t			 i;

	for (i = 0; i < n; i++)
		if (c[i] != (unsigned char)(tag + i * 7))
			return 0;
	return 1;
}

/* one hammering process; exit status 0 = every chunk came back intact */
static void
hammer_child(struct pt_shm *shm, struct hammer *h, int id)
{
	void		*chunk[LIVE] = { NULL };
	size_t		 size[LIVE] = { 0 };
	uint32_t	 tag[LIVE] = { 0 }, seed = 2463534242u * (uint32_t)(id + 1);
	int		 i, k, bad = 0;

	for (i = 0; i < ITERATIONS; i++) {
		k = (int)(rnd(&seed) % LIVE);
		if (chunk[k] != NULL) {
			if (!check(chunk[k], size[k], tag[k]))
				bad++;
			pt_slab_free(shm, chunk[k]);
			chunk[k] = NULL;
		}
		/* mostly small, sometimes multi-page */
		size[k] = rnd(&seed) % 8 == 0 ? 1 + rnd(&seed) % 9000 :
		    1 + rnd(&seed) % 700;
		pt_shm_lock(shm);
		h->counter++;
		chunk[k] = pt_slab_alloc_locked(shm, size[k]);
		if (chunk[k] != NULL)
			h->allocs++;
		pt_shm_unlock(shm);
		if (chunk[k] != NULL) {
			tag[k] = (uint32_t)id * 1000003u + (uint32_t)i;
			fill(chunk[k], size[k], tag[k]);
		}
		if (i % 1000 == 0)
			sched_yield();
	}
	for (k = 0; k < LIVE; k++) {
		if (chunk[k] == NULL)
			continue;
		if (!check(chunk[k], size[k], tag[k]))
			bad++;
		pt_slab_free(shm, chunk[k]);
	}
	_exit(bad == 0 ? 0 : 1);
}

static void
test_single(void)
{
	struct pt_shm	*shm;
	void		*p[4096], *q;
	size_t		 n, i, j;
	char		*data_lo, *data_hi;
	int		 distinct = 1, inside = 1, aligned = 1;
	uint32_t	 all;

	errno = 0;
	ok(pt_shm_create(PT_SHM_MIN_SIZE - 1, NULL) == NULL && errno == EINVAL,
	    "a zone below %d pages is refused", PT_SHM_MIN_PAGES);

	shm = pt_shm_create(PT_SHM_MIN_SIZE, " in test zone \"single\"");
	ok(shm != NULL, "create a zone of the minimum size");
	if (shm == NULL)
		exit(1);
	shm->log_nomem = 0;
	all = shm->free_pages;
	ok(all == shm->npages && all >= PT_SHM_MIN_PAGES - 1,
	    "all %u data pages start free", all);

	data_lo = shm->addr + shm->data_off;
	data_hi = data_lo + (size_t)shm->npages * PT_SHM_PAGE;
	for (n = 0; n < PT_NELEM(p); n++) {
		p[n] = pt_slab_alloc(shm, 48);
		if (p[n] == NULL)
			break;
		if ((char *)p[n] < data_lo || (char *)p[n] + 48 > data_hi)
			inside = 0;
		if ((uintptr_t)p[n] % 64 != 0)
			aligned = 0;
	}
	ok(n > 0 && n == (size_t)all * (PT_SHM_PAGE / 64),
	    "%zu 48-byte chunks fill the zone exactly", n);
	ok(pt_slab_alloc(shm, 16) == NULL && shm->nfail > 0,
	    "a full zone returns NULL");
	for (i = 0; i < n && distinct; i++)
		for (j = i + 1; j < n; j++)
			if (p[i] == p[j]) {
				distinct = 0;
				break;
			}
	ok(distinct && inside && aligned,
	    "chunks are distinct, inside the data pages, aligned");
	for (i = 0; i < n; i++)
		pt_slab_free(shm, p[i]);
	ok(shm->free_pages == all, "freeing everything gives every page back");

	/* coalescing: single pages, free every other one, then all */
	for (n = 0; n < all; n++)
		p[n] = pt_slab_alloc(shm, PT_SHM_PAGE);
	ok(p[all - 1] != NULL && pt_slab_alloc(shm, PT_SHM_PAGE) == NULL,
	    "page-sized allocations take the %u pages", all);
	for (i = 0; i < all; i += 2)
		pt_slab_free(shm, p[i]);
	ok(pt_slab_alloc(shm, 2 * PT_SHM_PAGE) == NULL,
	    "no two-page run in a fragmented zone");
	for (i = 1; i < all; i += 2)
		pt_slab_free(shm, p[i]);
	q = pt_slab_alloc(shm, (size_t)all * PT_SHM_PAGE);
	ok(q != NULL, "free neighbours merge into one run of the whole zone");
	pt_slab_free(shm, q);

	q = pt_slab_calloc(shm, 3000);
	ok(q != NULL && ((char *)q)[0] == 0 &&
	    ((char *)q)[2999] == 0, "calloc returns zeroed memory");
	pt_slab_free(shm, q);
	ok(shm->free_pages == all, "no page leaked");

	pt_shm_destroy(shm);
}

static void
test_hammer(void)
{
	struct pt_shm	*shm;
	struct hammer	*h;
	pid_t		 pid[NPROC];
	int		 i, st, clean = 1;
	uint32_t	 all;

	shm = pt_shm_create(64 * PT_SHM_PAGE, " in test zone \"hammer\"");
	if (shm == NULL)
		exit(1);
	/* NPROC * LIVE chunks up to 9000 bytes do not all fit: refusals happen */
	shm->log_nomem = 0;
	h = pt_slab_calloc(shm, sizeof(*h));
	all = shm->free_pages;

	for (i = 0; i < NPROC; i++) {
		pid[i] = fork();
		if (pid[i] == 0)
			hammer_child(shm, h, i);
		if (pid[i] == -1) {
			perror("fork");
			exit(1);
		}
	}
	for (i = 0; i < NPROC; i++) {
		if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) ||
		    WEXITSTATUS(st) != 0)
			clean = 0;
	}
	ok(clean, "%d processes saw no chunk overwritten (no double allocation)",
	    NPROC);
	ok(h->counter == (uint64_t)NPROC * ITERATIONS,
	    "counter under the lock is exact: %llu",
	    (unsigned long long)h->counter);
	ok(h->allocs > 0 && h->allocs + shm->nfail ==
	    (uint64_t)NPROC * ITERATIONS,
	    "allocations %llu + refusals %llu add up",
	    (unsigned long long)h->allocs, (unsigned long long)shm->nfail);
	ok(shm->free_pages == all, "all pages free again after the children");
	ok(pt_shm_lock_holder(shm) == 0, "the lock is free at the end");
	pt_slab_free(shm, h);
	pt_shm_destroy(shm);
}

static void
test_force_unlock(void)
{
	struct pt_shm	*shm;
	pid_t		 dead, waiter;
	int		 st, pfd[2];
	char		 c;

	shm = pt_shm_create(PT_SHM_MIN_SIZE, NULL);
	if (shm == NULL || pipe(pfd) == -1)
		exit(1);

	dead = fork();
	if (dead == 0) {
		pt_shm_lock(shm);
		_exit(0);		/* dies holding the lock */
	}
	waitpid(dead, &st, 0);
	ok(pt_shm_lock_holder(shm) == dead, "a dead process still holds the lock");

	waiter = fork();
	if (waiter == 0) {
		alarm(10);		/* fail rather than hang */
		close(pfd[0]);
		pt_shm_lock(shm);
		if (write(pfd[1], "x", 1) != 1)
			_exit(2);
		pt_shm_unlock(shm);
		_exit(0);
	}
	close(pfd[1]);
	usleep(200000);
	ok(waitpid(waiter, &st, WNOHANG) == 0, "a waiter blocks behind it");

	ok(pt_shm_force_unlock(shm, waiter) == 0,
	    "force-unlock for a pid that does not hold it does nothing");
	ok(pt_shm_force_unlock(shm, dead) == 1,
	    "force-unlock for the dead holder releases it");
	ok(read(pfd[0], &c, 1) == 1 && waitpid(waiter, &st, 0) == waiter &&
	    WIFEXITED(st) && WEXITSTATUS(st) == 0, "the waiter gets the lock");

	pt_shm_lock(shm);
	ok(pt_shm_lock_holder(shm) == getpid(), "the parent can lock again");
	pt_shm_unlock(shm);
	close(pfd[0]);
	pt_shm_destroy(shm);
}

static struct pt_module	zone_mod_a = { .name = "mod_a" };
static struct pt_module	zone_mod_b = { .name = "mod_b" };
static int		zone_inits;

/* a zone owner: keeps a counter in the zone, carried across reloads */
static int
zone_init(struct pt_zone *zone, void *old_data)
{
	uint64_t	*counter = old_data;

	zone_inits++;
	if (counter == NULL) {
		counter = pt_slab_calloc(zone->shm, sizeof(*counter));
		if (counter == NULL)
			return PT_ERROR;
	}
	(*counter)++;
	zone->data = counter;
	return PT_OK;
}

static struct pt_cycle *
zone_cycle(unsigned generation)
{
	struct pt_cycle	*cycle;
	struct pt_pool	*pool = pt_pool_create(4096);

	cycle = pt_pcalloc(pool, sizeof(*cycle));
	cycle->magic = PT_CYCLE_MAGIC;
	cycle->pool = pool;
	cycle->generation = generation;
	return cycle;
}

static void
test_zones(void)
{
	struct pt_conf_ctx	 cf;
	struct pt_cycle		*c1, *c2, *c3;
	struct pt_zone		*a, *b, *ref, *a2, *b2, *a3, *z;
	const char		*err = NULL;
	struct pt_shm		*a_shm;
	pid_t			 pid;
	int			 st;

	memset(&cf, 0, sizeof(cf));
	c1 = zone_cycle(1);
	cf.cycle = c1;
	cf.pool = c1->pool;

	z = pt_zone_add(&cf, "one", PT_SHM_MIN_SIZE - 1, &zone_mod_a, zone_init,
	    &err);
	ok(z == NULL && err != NULL && strstr(err, "too small") != NULL,
	    "a zone under the minimum size is a configuration error: %s", err);
	ref = pt_zone_add(&cf, "one", 0, &zone_mod_a, NULL, &err);
	a = pt_zone_add(&cf, "one", 64 * 1024, &zone_mod_a, zone_init, &err);
	ok(ref != NULL && a == ref && a->size == 64 * 1024 && a->init == zone_init,
	    "a reference (size 0) and the declaration are one zone");
	z = pt_zone_add(&cf, "one", 64 * 1024, &zone_mod_b, zone_init, &err);
	ok(z == NULL && strstr(err, "already used by module mod_a") != NULL,
	    "the same name for another module is an error: %s", err);
	z = pt_zone_add(&cf, "one", 128 * 1024, &zone_mod_a, zone_init, &err);
	ok(z == NULL && strstr(err, "size") != NULL,
	    "the same name with another size is an error: %s", err);
	b = pt_zone_add(&cf, "two", 64 * 1024, &zone_mod_b, zone_init, &err);
	ok(pt_zones_map(c1, NULL) == PT_OK && a->shm != NULL && b->shm != NULL &&
	    !a->reused && *(uint64_t *)a->data == 1, "zones are mapped and initialised");

	/* reload: "one" unchanged, "two" resized */
	c2 = zone_cycle(2);
	cf.cycle = c2;
	cf.pool = c2->pool;
	a2 = pt_zone_add(&cf, "one", 64 * 1024, &zone_mod_a, zone_init, &err);
	b2 = pt_zone_add(&cf, "two", 96 * 1024, &zone_mod_b, zone_init, &err);
	a_shm = a->shm;
	ok(pt_zones_map(c2, c1) == PT_OK && a2->shm == a_shm && a2->reused &&
	    a2->data == a->data && *(uint64_t *)a2->data == 2 && a->shm == NULL,
	    "an identical zone keeps its memory and data across a reload");
	ok(!b2->reused && b2->shm != NULL && b2->shm != b->shm &&
	    *(uint64_t *)b2->data == 1, "a resized zone starts afresh");

	/* a failed reload gives the memory back to the running cycle */
	c3 = zone_cycle(3);
	cf.cycle = c3;
	cf.pool = c3->pool;
	a3 = pt_zone_add(&cf, "one", 64 * 1024, &zone_mod_a, zone_init, &err);
	pt_zone_add(&cf, "undeclared", 0, &zone_mod_b, NULL, &err);
	ok(pt_zones_map(c3, c2) == PT_ERROR && a3->shm == NULL && a2->shm == a_shm,
	    "a zone without a size fails the mapping; nothing is taken over");

	/* the master's force-unlock after a worker died holding a zone lock */
	pid = fork();
	if (pid == 0) {
		pt_shm_lock(a2->shm);
		_exit(0);
	}
	waitpid(pid, &st, 0);
	pt_zones_force_unlock(c2, pid);
	ok(pt_shm_lock_holder(a2->shm) == 0,
	    "pt_zones_force_unlock releases a dead worker's lock");

	pt_zones_unmap(c3, c2);
	pt_zones_unmap(c1, NULL);
	pt_zones_unmap(c2, NULL);
	pt_pool_destroy(c3->pool);
	pt_pool_destroy(c1->pool);
	pt_pool_destroy(c2->pool);
}

int
main(void)
{
	pt_errlog.also_stderr = 0;
	test_single();
	test_hammer();
	test_force_unlock();
	test_zones();
	printf("1..%d\n", tests);
	return failed == 0 ? 0 : 1;
}
