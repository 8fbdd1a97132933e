/*
 * shm.c: shared-memory zones, their lock and their slab allocator.
 * See shm.h for the layout. All page links are page indices, so the
 * allocator state is position independent and holds no heap pointers.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>
#include "core.h"
#include "log.h"
#include "shm.h"

#define SLAB_NIL	UINT32_MAX	/* end of a page list */

enum slab_page_type {
	SLAB_PAGE_BODY = 0,	/* inside a large allocation (or never used) */
	SLAB_PAGE_FREE,		/* first page of a free run; <run> pages */
	SLAB_PAGE_FREE_TAIL,	/* last page of a free run; <run> = first page */
	SLAB_PAGE_SLOTS,	/* cut into 1 << <shift> byte slots */
	SLAB_PAGE_LARGE,	/* first page of a large allocation; <run> pages */
};

/* one per data page, in the mapping after struct pt_shm */
struct pt_slab_page {
	uint32_t	 next;			/* list link, SLAB_NIL ends */
	uint32_t	 prev;			/* list link, SLAB_NIL starts */
	uint32_t	 run;			/* see enum slab_page_type */
	uint16_t	 type;			/* enum slab_page_type */
	uint8_t		 shift;			/* SLOTS: slot size shift */
	uint16_t	 nfree;			/* SLOTS: free slots */
	uint64_t	 map[PT_SLAB_MAP_WORDS];/* SLOTS: 1 = used (or absent) */
};

static pid_t	shm_pid;		/* this process, 0 = not cached yet */
static long	shm_ncpu;		/* online CPUs, 0 = not known yet */

static void
shm_atfork_child(void)
{
	shm_pid = 0;
}

static inline pid_t
shm_self(void)
{
	if (pt_unlikely(shm_pid == 0))
		shm_pid = getpid();
	return shm_pid;
}

static inline void
shm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static inline struct pt_slab_page *
shm_pages(struct pt_shm *shm)
{
	return (struct pt_slab_page *)(void *)(shm->addr + shm->pages_off);
}

static inline char *
shm_page_addr(struct pt_shm *shm, uint32_t i)
{
	return shm->addr + shm->data_off + (size_t)i * PT_SHM_PAGE;
}

/* the data page count that fits in <size> bytes with header and descriptors */
static uint32_t
shm_fit_pages(size_t size, size_t pages_off)
{
	size_t	n;

	if (size <= pages_off + PT_SHM_PAGE)
		return 0;
	n = (size - pages_off) / (PT_SHM_PAGE + sizeof(struct pt_slab_page));
	while (n > 0 && PT_ALIGN(pages_off + n * sizeof(struct pt_slab_page),
	    PT_SHM_PAGE) + n * PT_SHM_PAGE > size)
		n--;
	return n > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)n;
}

/*---- page lists ----*/

static void
shm_list_push(struct pt_shm *shm, uint32_t *head, uint32_t i)
{
	struct pt_slab_page	*pg = shm_pages(shm);

	pg[i].prev = SLAB_NIL;
	pg[i].next = *head;
	if (*head != SLAB_NIL)
		pg[*head].prev = i;
	*head = i;
}

static void
shm_list_remove(struct pt_shm *shm, uint32_t *head, uint32_t i)
{
	struct pt_slab_page	*pg = shm_pages(shm);

	if (pg[i].prev != SLAB_NIL)
		pg[pg[i].prev].next = pg[i].next;
	else
		*head = pg[i].next;
	if (pg[i].next != SLAB_NIL)
		pg[pg[i].next].prev = pg[i].prev;
	pg[i].next = pg[i].prev = SLAB_NIL;
}

/* mark [first, first + n) as one free run and put it on the free list */
static void
shm_run_insert(struct pt_shm *shm, uint32_t first, uint32_t n)
{
	struct pt_slab_page	*pg = shm_pages(shm);

	pg[first].type = SLAB_PAGE_FREE;
	pg[first].run = n;
	if (n > 1) {
		pg[first + n - 1].type = SLAB_PAGE_FREE_TAIL;
		pg[first + n - 1].run = first;
	}
	shm_list_push(shm, &shm->free_runs, first);
}

/* take <n> contiguous pages (first fit); returns the first or SLAB_NIL */
static uint32_t
shm_pages_alloc(struct pt_shm *shm, uint32_t n)
{
	struct pt_slab_page	*pg = shm_pages(shm);
	uint32_t		 i, run;

	for (i = shm->free_runs; i != SLAB_NIL; i = pg[i].next) {
		if (pg[i].run < n)
			continue;
		run = pg[i].run;
		shm_list_remove(shm, &shm->free_runs, i);
		if (run > n)
			shm_run_insert(shm, i + n, run - n);
		shm->free_pages -= n;
		return i;
	}
	return SLAB_NIL;
}

/* give back <n> pages from <first>, merging with free neighbours */
static void
shm_pages_free(struct pt_shm *shm, uint32_t first, uint32_t n)
{
	struct pt_slab_page	*pg = shm_pages(shm);
	uint32_t		 i, head;

	shm->free_pages += n;
	for (i = first; i < first + n; i++) {
		pg[i].type = SLAB_PAGE_BODY;
		pg[i].run = 0;
	}
	if (first + n < shm->npages && pg[first + n].type == SLAB_PAGE_FREE) {
		i = first + n;
		n += pg[i].run;
		shm_list_remove(shm, &shm->free_runs, i);
		pg[i].type = SLAB_PAGE_BODY;
	}
	if (first > 0 && (pg[first - 1].type == SLAB_PAGE_FREE ||
	    pg[first - 1].type == SLAB_PAGE_FREE_TAIL)) {
		head = pg[first - 1].type == SLAB_PAGE_FREE ? first - 1 :
		    pg[first - 1].run;
		shm_list_remove(shm, &shm->free_runs, head);
		n += pg[head].run;
		pg[first - 1].type = SLAB_PAGE_BODY;
		first = head;
	}
	shm_run_insert(shm, first, n);
}

/*---- zone ----*/

/*
 * Map and initialise a zone; see shm.h. The master calls it before fork
 * (the unit test also calls it).
 */
struct pt_shm *
pt_shm_create(size_t size, const char *log_ctx)
{
	static int		 atfork_done;
	struct pt_shm		*shm;
	struct pt_slab_page	*pg;
	size_t			 pages_off;
	uint32_t		 i, n;
	void			*addr;

	if (size < PT_SHM_MIN_SIZE || size > SIZE_MAX - PT_SHM_PAGE) {
		errno = EINVAL;
		return NULL;
	}
	size = PT_ALIGN(size, PT_SHM_PAGE);
	pages_off = PT_ALIGN(sizeof(struct pt_shm), 64);
	n = shm_fit_pages(size, pages_off);
	if (n == 0) {
		errno = EINVAL;
		return NULL;
	}

	if (!atfork_done) {
		/* a forked child must not keep its parent's pid as lock owner */
		if ((errno = pthread_atfork(NULL, NULL, shm_atfork_child)) != 0)
			return NULL;
		atfork_done = 1;
	}

	addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (addr == MAP_FAILED)
		return NULL;

	/* anonymous mappings are zero-filled */
	shm = addr;
	shm->magic = PT_SHM_MAGIC;
	atomic_init(&shm->lock, 0);
	shm->addr = addr;
	shm->size = size;
	shm->npages = n;
	shm->pages_off = pages_off;
	shm->data_off = PT_ALIGN(pages_off + (size_t)n *
	    sizeof(struct pt_slab_page), PT_SHM_PAGE);
	shm->free_runs = SLAB_NIL;
	shm->log_nomem = 1;
	for (i = 0; i < PT_SLAB_NCLASS; i++)
		shm->partial[i] = SLAB_NIL;
	if (log_ctx != NULL)
		snprintf(shm->log_ctx, sizeof(shm->log_ctx), "%s", log_ctx);

	pg = shm_pages(shm);
	for (i = 0; i < n; i++) {
		pg[i].next = pg[i].prev = SLAB_NIL;
		pg[i].type = SLAB_PAGE_BODY;
	}
	shm_run_insert(shm, 0, n);
	shm->free_pages = n;
	return shm;
}

/* see shm.h */
void
pt_shm_destroy(struct pt_shm *shm)
{
	if (shm == NULL)
		return;
	PT_CHECK_OBJ(shm, PT_SHM_MAGIC);
	if (munmap(shm->addr, shm->size) == -1)
		pt_log(PT_LOG_ALERT, errno, "munmap(%p, %zu) failed",
		    (void *)shm->addr, shm->size);
}

/*---- lock ----*/

/* see shm.h; any process */
void
pt_shm_lock(struct pt_shm *shm)
{
	int32_t		 self = shm_self(), cur;
	unsigned	 round, i;

	if (pt_unlikely(shm_ncpu == 0)) {
		shm_ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		if (shm_ncpu < 1)
			shm_ncpu = 1;
	}

	for (round = 0;; round++) {
		cur = atomic_load_explicit(&shm->lock, memory_order_relaxed);
		if (cur == 0 && atomic_compare_exchange_weak_explicit(&shm->lock,
		    &cur, self, memory_order_acquire, memory_order_relaxed))
			return;
		/* the holder is this process: a missing unlock, not contention */
		PT_ASSERT(cur != self);

		if (shm_ncpu > 1 && round < 10) {
			for (i = 0; i < (2u << round); i++)
				shm_cpu_relax();
		} else {
			sched_yield();
		}
	}
}

/* see shm.h; the process holding the lock */
void
pt_shm_unlock(struct pt_shm *shm)
{
	PT_ASSERT(atomic_load_explicit(&shm->lock, memory_order_relaxed) ==
	    shm_self());
	atomic_store_explicit(&shm->lock, 0, memory_order_release);
}

/* see shm.h; the master, after reaping <pid> */
int
pt_shm_force_unlock(struct pt_shm *shm, pid_t pid)
{
	int32_t	expect = pid;

	if (pid <= 0)
		return 0;
	return atomic_compare_exchange_strong(&shm->lock, &expect, 0);
}

/* see shm.h */
pid_t
pt_shm_lock_holder(const struct pt_shm *shm)
{
	return atomic_load_explicit(&shm->lock,
	    memory_order_relaxed);
}

/*---- allocator ----*/

static void *
shm_slot_alloc(struct pt_shm *shm, unsigned shift)
{
	struct pt_slab_page	*pg = shm_pages(shm);
	unsigned		 cls = shift - PT_SLAB_MIN_SHIFT, w, nslots, b;
	uint32_t		 i;

	i = shm->partial[cls];
	if (i == SLAB_NIL) {
		i = shm_pages_alloc(shm, 1);
		if (i == SLAB_NIL)
			return NULL;
		nslots = PT_SHM_PAGE >> shift;
		pg[i].type = SLAB_PAGE_SLOTS;
		pg[i].shift = shift;
		pg[i].nfree = nslots;
		/* slots beyond <nslots> are marked used once and for all */
		for (w = 0; w < PT_SLAB_MAP_WORDS; w++) {
			if (w * 64 >= nslots)
				pg[i].map[w] = ~(uint64_t)0;
			else if (nslots - w * 64 >= 64)
				pg[i].map[w] = 0;
			else
				pg[i].map[w] = ~(uint64_t)0 << (nslots - w * 64);
		}
		shm_list_push(shm, &shm->partial[cls], i);
	}

	for (w = 0; w < PT_SLAB_MAP_WORDS; w++) {
		if (pg[i].map[w] != ~(uint64_t)0)
			break;
	}
	PT_ASSERT(w < PT_SLAB_MAP_WORDS && pg[i].nfree > 0);
	b = (unsigned)__builtin_ctzll(~pg[i].map[w]);
	pg[i].map[w] |= (uint64_t)1 << b;
	if (--pg[i].nfree == 0)
		shm_list_remove(shm, &shm->partial[cls], i);
	return shm_page_addr(shm, i) + ((size_t)(w * 64 + b) << shift);
}

/* see shm.h; caller holds <shm>->lock; returns NULL when full, never blocks */
void *
pt_slab_alloc_locked(struct pt_shm *shm, size_t size)
{
	struct pt_slab_page	*pg;
	unsigned		 shift;
	uint32_t		 n, i, j;
	void			*p;

	PT_CHECK_OBJ(shm, PT_SHM_MAGIC);
	if (size <= (size_t)1 << PT_SLAB_MAX_SHIFT) {
		shift = PT_SLAB_MIN_SHIFT;
		while (((size_t)1 << shift) < size)
			shift++;
		p = shm_slot_alloc(shm, shift);
	} else if (size > (size_t)shm->npages * PT_SHM_PAGE) {
		p = NULL;
	} else {
		n = (uint32_t)((size + PT_SHM_PAGE - 1) / PT_SHM_PAGE);
		i = shm_pages_alloc(shm, n);
		if (i == SLAB_NIL) {
			p = NULL;
		} else {
			pg = shm_pages(shm);
			pg[i].type = SLAB_PAGE_LARGE;
			pg[i].run = n;
			for (j = i + 1; j < i + n; j++)
				pg[j].type = SLAB_PAGE_BODY;
			p = shm_page_addr(shm, i);
		}
	}

	if (p == NULL) {
		shm->nfail++;
		if (shm->log_nomem)
			pt_log(PT_LOG_CRIT, 0, "pt_slab_alloc() failed: no memory%s",
			    shm->log_ctx);
		return NULL;
	}
	shm->nalloc++;
	return p;
}

/* see shm.h; takes and releases <shm>->lock */
void *
pt_slab_alloc(struct pt_shm *shm, size_t size)
{
	void	*p;

	pt_shm_lock(shm);
	p = pt_slab_alloc_locked(shm, size);
	pt_shm_unlock(shm);
	return p;
}

/* see shm.h; caller holds <shm>->lock */
void *
pt_slab_calloc_locked(struct pt_shm *shm, size_t size)
{
	void	*p = pt_slab_alloc_locked(shm, size);

	if (p != NULL)
		memset(p, 0, size);
	return p;
}

/* see shm.h; takes and releases <shm>->lock */
void *
pt_slab_calloc(struct pt_shm *shm, size_t size)
{
	void	*p;

	pt_shm_lock(shm);
	p = pt_slab_calloc_locked(shm, size);
	pt_shm_unlock(shm);
	return p;
}

/* see shm.h; caller holds <shm>->lock */
void
pt_slab_free_locked(struct pt_shm *shm, void *p)
{
	struct pt_slab_page	*pg;
	char			*data;
	size_t			 off;
	uint32_t		 i, slot;
	unsigned		 cls, nslots;
	uint64_t		 bit;

	if (p == NULL)
		return;
	PT_CHECK_OBJ(shm, PT_SHM_MAGIC);
	pg = shm_pages(shm);
	data = shm->addr + shm->data_off;
	if ((char *)p < data || (char *)p >= data + (size_t)shm->npages * PT_SHM_PAGE)
		goto wrong;

	off = (size_t)((char *)p - data);
	i = (uint32_t)(off / PT_SHM_PAGE);
	off %= PT_SHM_PAGE;

	switch (pg[i].type) {
	case SLAB_PAGE_SLOTS:
		if (off & (((size_t)1 << pg[i].shift) - 1))
			goto wrong;
		slot = (uint32_t)(off >> pg[i].shift);
		bit = (uint64_t)1 << (slot % 64);
		if (!(pg[i].map[slot / 64] & bit))
			goto already;
		pg[i].map[slot / 64] &= ~bit;
		cls = pg[i].shift - PT_SLAB_MIN_SHIFT;
		nslots = PT_SHM_PAGE >> pg[i].shift;
		if (pg[i].nfree++ == 0)
			shm_list_push(shm, &shm->partial[cls], i);
		if (pg[i].nfree == nslots) {
			shm_list_remove(shm, &shm->partial[cls], i);
			shm_pages_free(shm, i, 1);
		}
		return;
	case SLAB_PAGE_LARGE:
		if (off != 0)
			goto wrong;
		shm_pages_free(shm, i, pg[i].run);
		return;
	case SLAB_PAGE_FREE:
	case SLAB_PAGE_FREE_TAIL:
		goto already;
	default:
		goto wrong;
	}

already:
	pt_log(PT_LOG_ALERT, 0, "pt_slab_free(): chunk %p is already free%s",
	    p, shm->log_ctx);
	return;
wrong:
	pt_log(PT_LOG_ALERT, 0, "pt_slab_free(): pointer %p is outside "
	    "any allocation%s", p, shm->log_ctx);
}

/* see shm.h; takes and releases <shm>->lock */
void
pt_slab_free(struct pt_shm *shm, void *p)
{
	if (p == NULL)
		return;
	pt_shm_lock(shm);
	pt_slab_free_locked(shm, p);
	pt_shm_unlock(shm);
}
