/*
 * pool.h: region allocator. Every allocation on the request path comes
 * from a pool owned by a cycle, a connection or a request, and is freed
 * all at once when that owner ends (cleanups run first, in reverse order).
 * malloc(3) is called only from pool.c and shm.c.
 */
#ifndef PT_POOL_H
#define PT_POOL_H

#include "core.h"

#define PT_POOL_BLOCK	4096	/* standard block, recycled per process */

struct pt_pool;
typedef void (*pt_cleanup_fn)(void *data);

/* create a pool whose first block has at least <size> usable bytes */
struct pt_pool	*pt_pool_create(size_t size);
/* run cleanups, free every block; <p> may be NULL */
void		 pt_pool_destroy(struct pt_pool *p);
/* run cleanups and release all but the first block, keep <p> usable */
void		 pt_pool_reset(struct pt_pool *p);
/* aligned allocation; never NULL (aborts on out-of-memory like xmalloc) */
void		*pt_palloc(struct pt_pool *p, size_t n);
void		*pt_pcalloc(struct pt_pool *p, size_t n);
char		*pt_pstrdup(struct pt_pool *p, const char *s);
char		*pt_pstrndup(struct pt_pool *p, const char *s, size_t n);
char		*pt_psprintf(struct pt_pool *p, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
/* register <fn>(<data>) to run when the pool is reset or destroyed */
void		 pt_pool_cleanup_add(struct pt_pool *p, pt_cleanup_fn fn, void *data);
/* bytes currently held by <p> (for diagnostics) */
size_t		 pt_pool_size(const struct pt_pool *p);

/* heap helpers for long-lived process objects; abort on out-of-memory */
void		*pt_xmalloc(size_t n);
void		*pt_xcalloc(size_t n, size_t m);
void		*pt_xrealloc(void *p, size_t n);
char		*pt_xstrdup(const char *s);

/* a growable array allocated from a pool */
struct pt_array {
	void		*elts;		/* element storage */
	size_t		 nelts;		/* used elements */
	size_t		 size;		/* element size */
	size_t		 nalloc;	/* allocated elements */
	struct pt_pool	*pool;		/* owner of <elts> */
};
void	 pt_array_init(struct pt_array *a, struct pt_pool *p, size_t n, size_t size);
/* append one zeroed element and return it */
void	*pt_array_push(struct pt_array *a);

#endif /* PT_POOL_H */
