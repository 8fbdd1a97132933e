/*
 * shm.h: shared-memory zones and their slab allocator.
 *
 * A zone is one anonymous MAP_SHARED mapping created by the master before
 * it forks the workers, so every process sees it at the same address.
 * The mapping starts with a struct pt_shm (lock, allocator state, log
 * context), followed by one page descriptor per data page, followed by the
 * page-aligned data pages. Nothing in the mapping points into a process
 * heap; the allocator links pages by index.
 *
 * Allocation: requests up to half a page come from pages cut into
 * power-of-two slots (16 .. 2048 bytes), with the slot bitmap kept in the
 * page descriptor; larger requests take whole contiguous pages. Free runs
 * of pages are coalesced.
 *
 * Lock: a spinlock on an atomic word in the mapping that holds the pid of
 * its holder (0 = free), with sched_yield(2) backoff. When a worker dies
 * holding it, the master calls pt_shm_force_unlock() with the dead pid.
 */
#ifndef PT_SHM_H
#define PT_SHM_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include "core.h"

#define PT_SHM_MAGIC		0x53484d5au	/* "SHMZ" */
#define PT_SHM_PAGE		4096		/* allocator page */
#define PT_SHM_MIN_PAGES	8		/* smallest zone, in pages */
#define PT_SHM_MIN_SIZE		(PT_SHM_MIN_PAGES * PT_SHM_PAGE)

#define PT_SLAB_MIN_SHIFT	4		/* smallest slot: 16 bytes */
#define PT_SLAB_MAX_SHIFT	11		/* largest slot: half a page */
#define PT_SLAB_NCLASS		(PT_SLAB_MAX_SHIFT - PT_SLAB_MIN_SHIFT + 1)
#define PT_SLAB_MAP_WORDS	((PT_SHM_PAGE >> PT_SLAB_MIN_SHIFT) / 64)

struct pt_slab_page;

/* the head of a zone mapping; lives at the mapping's first byte */
struct pt_shm {
	unsigned		 magic;		/* PT_SHM_MAGIC */
	_Atomic int32_t		 lock;		/* holder pid, 0 = free */
	char			*addr;		/* the mapping (== this struct) */
	size_t			 size;		/* bytes mapped */
	uint32_t		 npages;	/* data pages */
	uint32_t		 free_pages;	/* data pages in free runs */
	uint32_t		 free_runs;	/* first free run (page index) */
	uint32_t		 partial[PT_SLAB_NCLASS]; /* slab pages with free slots */
	size_t			 pages_off;	/* offset of the page descriptors */
	size_t			 data_off;	/* offset of the first data page */
	uint64_t		 nalloc;	/* successful allocations */
	uint64_t		 nfail;		/* allocations refused: zone full */
	unsigned		 log_nomem:1;	/* log "no memory" on a refusal */
	char			 log_ctx[96];	/* " in limit_req zone \"one\"" */
};

/*
 * Map a zone of <size> bytes (rounded up to a page; at least
 * PT_SHM_MIN_SIZE) and initialise its allocator. <log_ctx> is appended to
 * the zone's log messages, may be NULL. Returns the zone, or NULL with
 * errno set (EINVAL: too small); the caller logs. Master, before fork.
 */
struct pt_shm	*pt_shm_create(size_t size, const char *log_ctx);
/* unmap <shm> (may be NULL); no process may use it any more. Master. */
void		 pt_shm_destroy(struct pt_shm *shm);

/*
 * Take the zone lock, spinning then yielding until it is free. Not
 * recursive: taking it twice in one process is an assertion failure.
 * Any process.
 */
void	pt_shm_lock(struct pt_shm *shm);
/* release the lock held by this process */
void	pt_shm_unlock(struct pt_shm *shm);
/*
 * Release the lock if process <pid> holds it (the master calls this for
 * every zone when it reaps a worker). Returns 1 if it was held by <pid>,
 * else 0. The data the dead holder was changing may be inconsistent.
 */
int	pt_shm_force_unlock(struct pt_shm *shm, pid_t pid);
/* pid holding the lock, 0 if free (diagnostics and tests) */
pid_t	pt_shm_lock_holder(const struct pt_shm *shm);

/*
 * Allocate <size> bytes from the zone. The _locked variants require the
 * caller to hold <shm>'s lock; the others take and release it. Returns
 * memory aligned to min(slot size, page) (at least 16 bytes), or NULL
 * when the zone is full; never blocks beyond the lock. pt_slab_calloc
 * zeroes the memory.
 */
void	*pt_slab_alloc(struct pt_shm *shm, size_t size);
void	*pt_slab_alloc_locked(struct pt_shm *shm, size_t size);
void	*pt_slab_calloc(struct pt_shm *shm, size_t size);
void	*pt_slab_calloc_locked(struct pt_shm *shm, size_t size);
/*
 * Give back <p> (from an allocation in <shm>; NULL is ignored). A pointer
 * outside the zone or already free is logged at alert and ignored.
 */
void	 pt_slab_free(struct pt_shm *shm, void *p);
void	 pt_slab_free_locked(struct pt_shm *shm, void *p);

#endif /* PT_SHM_H */
