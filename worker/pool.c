/*
 * pool.c: region allocator with cleanups, plus the only malloc(3) calls
 * of the process (besides shm.c). Standard-size blocks are recycled on a
 * per-process free list so creating a request pool costs no syscall and
 * usually no malloc.
 */
#include <stdarg.h>
#include <stdio.h>

#include "core.h"
#include "log.h"
#include "pool.h"

#define POOL_ALIGN	16
#define POOL_FREE_MAX	64	/* standard blocks kept for reuse */

struct pool_block {
	struct pool_block	*next;		/* next block of the pool */
	char			*last;		/* first free byte */
	char			*end;		/* end of the block */
	size_t			 size;		/* usable bytes (PT_POOL_BLOCK for recycled) */
};

struct pool_cleanup {
	pt_cleanup_fn		 fn;
	void			*data;
	struct pool_cleanup	*next;
};

struct pool_large {
	struct pool_large	*next;
	/* the allocation follows, aligned */
};

struct pt_pool {
	struct pool_block	*current;	/* block allocations come from */
	struct pool_block	*first;		/* first block (kept on reset) */
	struct pool_large	*large;		/* oversize allocations */
	struct pool_cleanup	*cleanups;	/* run in reverse registration order */
	size_t			 bytes;		/* total held, for diagnostics */
};

static struct pool_block	*pool_free_list;
static int			 pool_free_count;

static void
pool_oom(size_t n)
{
	pt_log(PT_LOG_EMERG, errno, "out of memory allocating %zu bytes", n);
	abort();
}

void *
pt_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		pool_oom(n);
	return p;
}

void *
pt_xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (p == NULL)
		pool_oom(n * m);
	return p;
}

void *
pt_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		pool_oom(n);
	return q;
}

char *
pt_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(pt_xmalloc(n), s, n);
}

/* a block of <size> usable bytes, from the free list when standard */
static struct pool_block *
pool_block_new(size_t size)
{
	struct pool_block *b;
	size_t hdr = PT_ALIGN(sizeof(*b), POOL_ALIGN);

	if (size <= PT_POOL_BLOCK && size > PT_POOL_BLOCK / 2 && pool_free_list != NULL) {
		b = pool_free_list;
		pool_free_list = b->next;
		pool_free_count--;
	} else {
		/* small pools (connections) get exactly what they ask for */
		if (size < PT_POOL_BLOCK && size > PT_POOL_BLOCK / 2)
			size = PT_POOL_BLOCK;
		b = pt_xmalloc(hdr + size);
		b->size = size;
	}
	b->next = NULL;
	b->last = (char *)b + hdr;
	b->end = b->last + b->size;
	return b;
}

static void
pool_block_release(struct pool_block *b)
{
	if (b->size == PT_POOL_BLOCK && pool_free_count < POOL_FREE_MAX) {
		b->next = pool_free_list;
		pool_free_list = b;
		pool_free_count++;
		return;
	}
	free(b);
}

struct pt_pool *
pt_pool_create(size_t size)
{
	struct pool_block *b;
	struct pt_pool *p;

	b = pool_block_new(size + sizeof(*p) + POOL_ALIGN);
	p = (struct pt_pool *)b->last;
	b->last += PT_ALIGN(sizeof(*p), POOL_ALIGN);
	p->current = p->first = b;
	p->large = NULL;
	p->cleanups = NULL;
	p->bytes = b->size;
	return p;
}

static void
pool_run_cleanups(struct pt_pool *p)
{
	struct pool_cleanup *c;

	/* a cleanup may register another one; take the list each round */
	while ((c = p->cleanups) != NULL) {
		p->cleanups = c->next;
		c->fn(c->data);
	}
}

static void
pool_free_extra(struct pt_pool *p)
{
	struct pool_block *b, *next;
	struct pool_large *l, *lnext;

	for (l = p->large; l != NULL; l = lnext) {
		lnext = l->next;
		free(l);
	}
	p->large = NULL;
	for (b = p->first->next; b != NULL; b = next) {
		next = b->next;
		pool_block_release(b);
	}
	p->first->next = NULL;
}

void
pt_pool_destroy(struct pt_pool *p)
{
	if (p == NULL)
		return;
	pool_run_cleanups(p);
	pool_free_extra(p);
	pool_block_release(p->first);
}

void
pt_pool_reset(struct pt_pool *p)
{
	size_t hdr = PT_ALIGN(sizeof(struct pool_block), POOL_ALIGN);

	pool_run_cleanups(p);
	pool_free_extra(p);
	p->current = p->first;
	p->first->last = (char *)p->first + hdr + PT_ALIGN(sizeof(*p), POOL_ALIGN);
	p->bytes = p->first->size;
}

void *
pt_palloc(struct pt_pool *p, size_t n)
{
	struct pool_block *b = p->current;
	char *m;

	n = PT_ALIGN(n ? n : 1, POOL_ALIGN);
	if (pt_likely((size_t)(b->end - b->last) >= n)) {
		m = b->last;
		b->last += n;
		return m;
	}
	if (n > PT_POOL_BLOCK / 2) {
		struct pool_large *l;
		size_t hdr = PT_ALIGN(sizeof(*l), POOL_ALIGN);

		l = pt_xmalloc(hdr + n);
		l->next = p->large;
		p->large = l;
		p->bytes += n;
		return (char *)l + hdr;
	}
	b = pool_block_new(PT_POOL_BLOCK);
	b->next = p->current->next;
	p->current->next = b;
	p->current = b;
	p->bytes += b->size;
	m = b->last;
	b->last += n;
	return m;
}

void *
pt_pcalloc(struct pt_pool *p, size_t n)
{
	return memset(pt_palloc(p, n), 0, n);
}

char *
pt_pstrndup(struct pt_pool *p, const char *s, size_t n)
{
	char *d = pt_palloc(p, n + 1);

	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *
pt_pstrdup(struct pt_pool *p, const char *s)
{
	return pt_pstrndup(p, s, strlen(s));
}

char *
pt_psprintf(struct pt_pool *p, const char *fmt, ...)
{
	va_list ap;
	char small[256], *d;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof(small))
		return pt_pstrndup(p, small, (size_t)n);
	d = pt_palloc(p, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return d;
}

void
pt_pool_cleanup_add(struct pt_pool *p, pt_cleanup_fn fn, void *data)
{
	struct pool_cleanup *c = pt_palloc(p, sizeof(*c));

	c->fn = fn;
	c->data = data;
	c->next = p->cleanups;
	p->cleanups = c;
}

size_t
pt_pool_size(const struct pt_pool *p)
{
	return p->bytes;
}

void
pt_array_init(struct pt_array *a, struct pt_pool *p, size_t n, size_t size)
{
	a->nelts = 0;
	a->size = size;
	a->nalloc = n ? n : 4;
	a->pool = p;
	a->elts = pt_palloc(p, a->nalloc * size);
}

void *
pt_array_push(struct pt_array *a)
{
	void *e;

	if (a->nelts == a->nalloc) {
		void *n = pt_palloc(a->pool, 2 * a->nalloc * a->size);

		memcpy(n, a->elts, a->nalloc * a->size);
		a->elts = n;
		a->nalloc *= 2;
	}
	e = (char *)a->elts + a->nelts * a->size;
	a->nelts++;
	return memset(e, 0, a->size);
}
