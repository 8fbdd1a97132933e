/*
 * worker.c: the worker process: inherit the cycle, drop privileges,
 * accept on this slot's listening sockets and run the event loop until
 * told to stop. Graceful stop drains instead of cutting: listening
 * sockets are closed (the master keeps its copies, so queued connections
 * go to the next generation), in-flight requests finish, and every kept
 * connection answers its next request with "Connection: close".
 */
#define _GNU_SOURCE	/* accept4 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico.h"

struct pt_heritage	pt_heritage;

static volatile sig_atomic_t	worker_sig_quit, worker_sig_term, worker_sig_reopen;

struct worker_listen {
	struct pt_io		 io;
	struct pt_listener	*ls;
};
static struct worker_listen	*worker_ls;
static int			 worker_nls;
static struct pt_timer		 worker_shutdown_timer;

void	pt_conn_reap(void);
int	pt_privdrop(const struct pt_core_conf *core);
void	pt_http_log_reopen(struct pt_cycle *cycle);

static void
worker_signal(int sig)
{
	switch (sig) {
	case SIGQUIT:
	case SIGWINCH:
		worker_sig_quit = 1;
		break;
	case SIGTERM:
	case SIGINT:
		worker_sig_term = 1;
		break;
	case SIGUSR1:
		worker_sig_reopen = 1;
		break;
	}
}

static void
worker_accept(struct pt_io *io, uint32_t events)
{
	struct worker_listen *wl = io->data;
	struct pt_sockaddr peer;
	struct pt_conn *c;
	int fd, one = 1;

	(void)events;
	while (!pt_worker.exiting) {
		peer.len = sizeof(peer.sa);
		fd = accept4(io->fd, (struct sockaddr *)&peer.sa, &peer.len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				pt_log(PT_LOG_ALERT, errno, "accept4() on %s failed",
				    wl->ls->addr.text);
			return;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pt_sockaddr_format(&peer);
		c = pt_conn_new(fd, &peer);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->listener = wl->ls;
		if (wl->ls->init_conn != NULL)
			wl->ls->init_conn(c);
		else
			pt_http_init_conn(c);
	}
}

static void
worker_shutdown_expired(struct pt_timer *t)
{
	(void)t;
	pt_log(PT_LOG_WARN, 0, "worker_shutdown_timeout expired, closing %u connections",
	    pt_worker.nconns);
	pt_worker.terminate = 1;
}

/* stop accepting and start draining; called once */
static void
worker_begin_exit(void)
{
	struct pt_conn *c;
	int i;

	pt_worker.exiting = 1;
	for (i = 0; i < worker_nls; i++) {
		if (worker_ls[i].io.fd >= 0) {
			pt_io_del(&worker_ls[i].io);
			close(worker_ls[i].io.fd);
			worker_ls[i].io.fd = -1;
		}
	}
	pt_upstream_idle_close_all(pt_worker.cycle);
	/*
	 * Idle keep-alive clients are not cut now (a request may be on its
	 * way): each gets its next response with "Connection: close". One
	 * that stays silent for another second is closed then, so a stop
	 * does not wait for keepalive_timeout.
	 */
	for (c = pt_worker.idle_head; c != NULL; c = c->idle_next)
		if (!pt_timer_armed(&c->timer) || c->timer.when > pt_current_msec + 1000)
			pt_timer_set(&c->timer, 1000);
	if (pt_worker.cycle->core->worker_shutdown_timeout > 0) {
		pt_timer_init(&worker_shutdown_timer, worker_shutdown_expired, NULL);
		pt_timer_set(&worker_shutdown_timer, pt_worker.cycle->core->worker_shutdown_timeout);
	}
}

static void __attribute__((noreturn))
worker_exit(int code)
{
	struct pt_cycle *cycle = pt_worker.cycle;
	int i;

	for (i = 0; i < pt_nmodules; i++)
		if (pt_modules[i]->exit_worker)
			pt_modules[i]->exit_worker(cycle);
	_exit(code);
}

void
pt_worker_main(struct pt_cycle *cycle, int slot)
{
	struct sigaction sa;
	sigset_t set;
	size_t i;
	int m, sig, trim_pending = 0;

	pt_heritage.cycle = cycle;
	pt_heritage.slot = slot;
	pt_heritage.is_worker = 1;
	pt_worker.cycle = cycle;
	pt_worker.max_conns = (unsigned)cycle->core->worker_connections;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_signal;
	sigemptyset(&sa.sa_mask);
	for (sig = 0; sig < 5; sig++) {
		static const int sigs[] = { SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGWINCH };

		sigaction(sigs[sig], &sa, NULL);
	}
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&set);
	sigprocmask(SIG_SETMASK, &set, NULL);

	if (pt_event_init(512) != PT_OK)
		_exit(2);

	/* keep only this slot's listening sockets */
	worker_ls = pt_xcalloc(cycle->listeners.nelts + 1, sizeof(*worker_ls));
	for (i = 0; i < cycle->listeners.nelts; i++) {
		struct pt_listener *ls = (struct pt_listener *)cycle->listeners.elts + i;
		int k;

		for (k = 0; k < ls->nfds; k++)
			if (k != slot && ls->fds[k] >= 0)
				close(ls->fds[k]);
		if (slot >= ls->nfds || ls->fds[slot] < 0)
			continue;
		worker_ls[worker_nls].ls = ls;
		worker_ls[worker_nls].io.fd = ls->fds[slot];
		worker_ls[worker_nls].io.handler = worker_accept;
		worker_ls[worker_nls].io.data = &worker_ls[worker_nls];
		worker_nls++;
	}

	if (pt_privdrop(cycle->core) != PT_OK)
		_exit(2);

	for (m = 0; m < pt_nmodules; m++)
		if (pt_modules[m]->init_worker && pt_modules[m]->init_worker(cycle) != PT_OK)
			_exit(2);

	for (m = 0; m < worker_nls; m++)
		if (pt_io_add(&worker_ls[m].io) != PT_OK)
			_exit(2);

	for (;;) {
		uint64_t before = pt_worker.conn_number;

		if (pt_event_process(1000) == 0 && trim_pending) {
			/*
			 * A quiet second after a burst: give the freed heap pages
			 * back, so idle connections cost what they hold, not the
			 * peak of the burst that opened them.
			 */
			malloc_trim(64 * 1024);
			trim_pending = 0;
		}
		if (pt_worker.conn_number != before)
			trim_pending = 1;
		pt_conn_reap();

		if (worker_sig_term || pt_worker.terminate)
			worker_exit(0);
		if (worker_sig_reopen) {
			worker_sig_reopen = 0;
			pt_errlog_reopen();
			pt_http_log_reopen(cycle);
		}
		if ((worker_sig_quit || (pt_heritage.master_pid > 1 && getppid() !=
		    pt_heritage.master_pid)) && !pt_worker.exiting) {
			worker_begin_exit();
		}
		if (pt_worker.exiting && pt_worker.nconns == 0)
			worker_exit(0);
	}
}
