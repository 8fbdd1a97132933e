/*
 * buf.c: buffers and the per-process free list of I/O blocks.
 */
#include "buf.h"

struct buf_free {
	struct buf_free	*next;
	size_t		 size;
};

#define BUF_FREE_MAX	1024

static struct buf_free	*buf_free_list;
static int		 buf_free_count;

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

struct pt_buf *
pt_iobuf_get(struct pt_pool *p, size_t size)
{
	struct pt_buf *b = pt_pcalloc(p, sizeof(*b));
	struct buf_free *f, **fp;

	for (fp = &buf_free_list; (f = *fp) != NULL; fp = &f->next) {
		if (f->size == size) {
			*fp = f->next;
			buf_free_count--;
			b->start = (char *)f;
			goto done;
		}
	}
	b->start = pt_xmalloc(PT_MAX(size, sizeof(struct buf_free)));
done:
	b->pos = b->last = b->start;
	b->end = b->start + size;
	b->recycled = 1;
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
	if (buf_free_count >= BUF_FREE_MAX || size < sizeof(*f)) {
		free(b->start);
	} else {
		f = (struct buf_free *)(void *)b->start;
		f->size = size;
		f->next = buf_free_list;
		buf_free_list = f;
		buf_free_count++;
	}
	b->start = b->pos = b->last = b->end = NULL;
	b->recycled = 0;
}
