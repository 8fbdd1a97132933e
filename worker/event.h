/*
 * event.h: the worker's epoll loop (edge-triggered), timers on a binary
 * heap, and posted callbacks that run after the current batch of events.
 */
#ifndef PT_EVENT_H
#define PT_EVENT_H

#include <stdint.h>
#include "core.h"

struct pt_io;
typedef void (*pt_io_fn)(struct pt_io *io, uint32_t events);

/* a file descriptor in the loop, registered once for IN|OUT|RDHUP, ET */
struct pt_io {
	int		 fd;		/* -1 when not registered */
	pt_io_fn	 handler;	/* called with the epoll event mask */
	void		*data;		/* owner (connection, listener) */
};

struct pt_timer;
typedef void (*pt_timer_fn)(struct pt_timer *t);

struct pt_timer {
	pt_msec_t	 when;		/* absolute expiry (pt_current_msec based) */
	int		 heap_idx;	/* position in the heap, -1 when not armed */
	pt_timer_fn	 handler;	/* called once at expiry (disarmed first) */
	void		*data;		/* owner */
};

struct pt_posted;
typedef void (*pt_posted_fn)(struct pt_posted *p);

struct pt_posted {
	pt_posted_fn	 handler;	/* called from the loop, not recursively */
	void		*data;		/* owner */
	struct pt_posted *next;		/* queue link */
	unsigned	 queued:1;	/* already in the queue */
};

/* worker only: create the epoll instance for <maxevents> per wait */
int	pt_event_init(int maxevents);
/* register <io> (fd set) for edge-triggered read/write/hangup events */
int	pt_io_add(struct pt_io *io);
/* remove <io> from the loop (also implied by close(2)); keeps io->fd */
void	pt_io_del(struct pt_io *io);

static inline void
pt_timer_init(struct pt_timer *t, pt_timer_fn fn, void *data)
{
	t->when = 0;
	t->heap_idx = -1;
	t->handler = fn;
	t->data = data;
}
#define pt_timer_armed(t)	((t)->heap_idx >= 0)
/* (re)arm <t> to fire <delay> ms from now */
void	pt_timer_set(struct pt_timer *t, pt_msec_t delay);
void	pt_timer_del(struct pt_timer *t);

/* run <p>->handler after the current batch of events (once if posted twice) */
void	pt_post(struct pt_posted *p);
/* remove <p> from the queue if queued */
void	pt_post_cancel(struct pt_posted *p);

/*
 * Wait for events (at most until the next timer or <max_wait> ms), run
 * their handlers, then posted callbacks, then expired timers. Returns the
 * number of I/O events handled.
 */
int	pt_event_process(pt_msec_t max_wait);
/* number of armed timers (for shutdown decisions) */
size_t	pt_timer_count(void);

#endif /* PT_EVENT_H */
