/*
 * buf.h: byte buffers. A buffer is [start, end) memory with the unread
 * data in [pos, last). Buffers chain for writev(2).
 */
#ifndef PT_BUF_H
#define PT_BUF_H

#include "core.h"
#include "pool.h"

struct pt_buf {
	char		*start;		/* first byte of the memory */
	char		*pos;		/* first unread byte */
	char		*last;		/* one past the last written byte */
	char		*end;		/* one past the memory */
	struct pt_buf	*next;		/* chain link */
	unsigned	 last_buf:1;	/* final buffer of a body */
	unsigned	 flush:1;	/* send now, do not wait for more */
	unsigned	 recycled:1;	/* memory comes from the worker's free list */
	unsigned	 in_file:1;	/* the data is [file_pos, file_last) of <file_fd>,
					   not memory; sent with sendfile(2), so only
					   on plain TCP connections (c->ssl == NULL) */
	int		 file_fd;	/* in_file: descriptor (owner closes it) */
	int64_t		 file_pos;	/* in_file: next byte to send */
	int64_t		 file_last;	/* in_file: one past the last byte */
};

/* bytes still to send from <b>, in memory or in a file */
#define pt_buf_left(b)	((b)->in_file ? (size_t)((b)->file_last - (b)->file_pos) : \
			    pt_buf_size(b))

#define pt_buf_size(b)	((size_t)((b)->last - (b)->pos))
#define pt_buf_free(b)	((size_t)((b)->end - (b)->last))

/* a buffer of <size> bytes allocated from <p> */
struct pt_buf	*pt_buf_create(struct pt_pool *p, size_t size);
/* a buffer header pointing to existing memory <data>, <len> bytes */
struct pt_buf	*pt_buf_wrap(struct pt_pool *p, const char *data, size_t len);
/* append <len> bytes; the caller guarantees pt_buf_free(b) >= len */
static inline void
pt_buf_append(struct pt_buf *b, const void *data, size_t len)
{
	memcpy(b->last, data, len);
	b->last += len;
}

/*
 * Recycled I/O memory: fixed-size blocks kept on a per-process free list,
 * so a keep-alive connection can give its header buffer back while idle.
 * pt_iobuf_get() returns a buffer of exactly <size> bytes; pt_iobuf_put()
 * returns its memory (the header itself lives in a pool).
 */
struct pt_buf	*pt_iobuf_get(struct pt_pool *p, size_t size);
void		 pt_iobuf_put(struct pt_buf *b);
/* give the existing header <b> fresh recycled memory of <size> bytes */
void		 pt_iobuf_fill(struct pt_buf *b, size_t size);

#endif /* PT_BUF_H */
