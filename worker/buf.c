/*
 * buf.c: buffers and the per-process free list of I/O blocks.
 */
#include "buf.h"

struct buf_free {
	struct buf_free	*next;
	size_t		 size;
};

/* recycled I/O memory kept per process, in bytes: enough for a busy
 * worker's churn, small next to the connections it serves */
#define BUF_FREE_MAX	(256 * 1024)

static struct buf_free	*buf_free_list;
static size_t		 buf_free_count;	/* bytes on the list */

struct pt_buf *
pt_buf_create(struct pt_pool *p, size_t size)
{
	struct pt_buf *b = pt_pcalloc(p, sizeof(*b));

	b->start = b->pos = b->last = pt_palloc(p, size);
	b->end = b->start + size;
	return b;
}

struct pt_buf *
pt_buf_wrap(struct pt_pool *p, const char *data, size_t len)
{
	struct pt_buf *b = pt_pcalloc(p, sizeof(*b));

	b->start = b->pos = (char *)data;
	b->last = b->end = (char *)data + len;
	return b;
}

void
pt_iobuf_fill(struct pt_buf *b, size_t size)
{
	struct buf_free *f, **fp;

	memset(b, 0, sizeof(*b));
	for (fp = &buf_free_list; (f = *fp) != NULL; fp = &f->next) {
		if (f->size == size) {
			*fp = f->next;
			buf_free_count -= size;
			b->start = (char *)f;
			goto done;
		}
	}
	b->start = pt_xmalloc(PT_MAX(size, sizeof(struct buf_free)));
done:
	b->pos = b->last = b->start;
	b->end = b->start + size;
	b->recycled = 1;
}

struct pt_buf *
pt_iobuf_get(struct pt_pool *p, size_t size)
{
	struct pt_buf *b = pt_palloc(p, sizeof(*b));

	pt_iobuf_fill(b, size);
	return b;
}

void
pt_iobuf_put(struct pt_buf *b)
{
	struct buf_free *f;
	size_t size;

	if (b == NULL || !b->recycled || b->start == NULL)
		return;
	size = (size_t)(b->end - b->start);
	if (buf_free_count + size > BUF_FREE_MAX || size < sizeof(*f)) {
		free(b->start);
	} else {
		f = (struct buf_free *)(void *)b->start;
		f->size = size;
		f->next = buf_free_list;
		buf_free_list = f;
		buf_free_count += size;
	}
	b->start = b->pos = b->last = b->end = NULL;
	b->recycled = 0;
}
