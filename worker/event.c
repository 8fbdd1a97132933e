/*
 * event.c: epoll (edge-triggered) + a binary min-heap of timers + posted
 * callbacks. One instance per worker process.
 */
#include <sys/epoll.h>
#include <unistd.h>

#include "core.h"
#include "event.h"
#include "log.h"
#include "pool.h"

static int			 ev_epfd = -1;
static struct epoll_event	*ev_list;
static int			 ev_max;
static struct pt_timer		**ev_heap;
static size_t			 ev_nheap, ev_heap_cap;
static struct pt_posted		*ev_posted_head, *ev_posted_tail;

int
pt_event_init(int maxevents)
{
	ev_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (ev_epfd == -1) {
		pt_log(PT_LOG_EMERG, errno, "epoll_create1() failed");
		return PT_ERROR;
	}
	ev_max = maxevents > 0 ? maxevents : 512;
	ev_list = pt_xcalloc((size_t)ev_max, sizeof(*ev_list));
	pt_time_update();
	return PT_OK;
}

int
pt_io_add(struct pt_io *io)
{
	struct epoll_event ev;

	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = io;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_ADD, io->fd, &ev) == -1) {
		pt_log(PT_LOG_ALERT, errno, "epoll_ctl(ADD, %d) failed", io->fd);
		return PT_ERROR;
	}
	return PT_OK;
}

void
pt_io_del(struct pt_io *io)
{
	if (io->fd >= 0)
		(void)epoll_ctl(ev_epfd, EPOLL_CTL_DEL, io->fd, NULL);
}

/* heap helpers: parent (i-1)/2, children 2i+1, 2i+2 */
static void
ev_heap_swap(size_t a, size_t b)
{
	struct pt_timer *t = ev_heap[a];

	ev_heap[a] = ev_heap[b];
	ev_heap[b] = t;
	ev_heap[a]->heap_idx = (int)a;
	ev_heap[b]->heap_idx = (int)b;
}

static void
ev_heap_up(size_t i)
{
	while (i > 0 && ev_heap[(i - 1) / 2]->when > ev_heap[i]->when) {
		ev_heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
ev_heap_down(size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < ev_nheap && ev_heap[l]->when < ev_heap[m]->when)
			m = l;
		if (r < ev_nheap && ev_heap[r]->when < ev_heap[m]->when)
			m = r;
		if (m == i)
			return;
		ev_heap_swap(i, m);
		i = m;
	}
}

void
pt_timer_del(struct pt_timer *t)
{
	size_t i;

	if (t->heap_idx < 0)
		return;
	i = (size_t)t->heap_idx;
	t->heap_idx = -1;
	ev_nheap--;
	if (i == ev_nheap)
		return;
	ev_heap[i] = ev_heap[ev_nheap];
	ev_heap[i]->heap_idx = (int)i;
	ev_heap_up(i);
	ev_heap_down(i);
}

void
pt_timer_set(struct pt_timer *t, pt_msec_t delay)
{
	pt_msec_t when = pt_current_msec + delay;

	if (t->heap_idx >= 0) {
		/* re-arming to (almost) the same time is common on busy conns */
		if (t->when == when)
			return;
		pt_timer_del(t);
	}
	if (ev_nheap == ev_heap_cap) {
		ev_heap_cap = ev_heap_cap ? 2 * ev_heap_cap : 1024;
		ev_heap = pt_xrealloc(ev_heap, ev_heap_cap * sizeof(*ev_heap));
	}
	t->when = when;
	t->heap_idx = (int)ev_nheap;
	ev_heap[ev_nheap++] = t;
	ev_heap_up((size_t)t->heap_idx);
}

size_t
pt_timer_count(void)
{
	return ev_nheap;
}

void
pt_post(struct pt_posted *p)
{
	if (p->queued)
		return;
	p->queued = 1;
	p->next = NULL;
	if (ev_posted_tail)
		ev_posted_tail->next = p;
	else
		ev_posted_head = p;
	ev_posted_tail = p;
}

void
pt_post_cancel(struct pt_posted *p)
{
	struct pt_posted **pp, *prev = NULL;

	if (!p->queued)
		return;
	for (pp = &ev_posted_head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			if (ev_posted_tail == p)
				ev_posted_tail = prev;
			break;
		}
	}
	p->queued = 0;
}

static void
ev_run_posted(void)
{
	struct pt_posted *p;
	int guard = 100000;

	while ((p = ev_posted_head) != NULL && guard-- > 0) {
		ev_posted_head = p->next;
		if (ev_posted_head == NULL)
			ev_posted_tail = NULL;
		p->queued = 0;
		p->handler(p);
	}
}

static void
ev_run_timers(void)
{
	struct pt_timer *t;

	while (ev_nheap > 0 && ev_heap[0]->when <= pt_current_msec) {
		t = ev_heap[0];
		pt_timer_del(t);
		t->handler(t);
	}
}

int
pt_event_process(pt_msec_t max_wait)
{
	pt_msec_t wait = max_wait;
	int n, i;

	if (ev_posted_head != NULL)
		wait = 0;
	else if (ev_nheap > 0) {
		pt_msec_t first = ev_heap[0]->when;

		wait = first <= pt_current_msec ? 0 : PT_MIN(first - pt_current_msec, max_wait);
	}
	n = epoll_wait(ev_epfd, ev_list, ev_max, (int)wait);
	pt_time_update();
	if (n == -1 && errno != EINTR)
		pt_log(PT_LOG_ALERT, errno, "epoll_wait() failed");
	for (i = 0; i < n; i++) {
		struct pt_io *io = ev_list[i].data.ptr;

		/* a handler earlier in this batch may have closed this fd */
		if (io->fd < 0 || io->handler == NULL)
			continue;
		io->handler(io, ev_list[i].events);
	}
	ev_run_posted();
	ev_run_timers();
	ev_run_posted();
	return n > 0 ? n : 0;
}
