/*
 * process.c: the master process. It maps the zones, binds the listening
 * sockets, writes the pid file, forks the workers and then only
 * supervises: signals set flags, and the loop in pt_master_run() acts on
 * them between sigsuspend(2) calls (every handled signal stays blocked
 * outside sigsuspend, so no flag is missed).
 *
 *   TERM, INT	fast stop: TERM to the workers, KILL after 5 s, exit
 *   QUIT	graceful stop: QUIT to the workers, exit once they are gone
 *   HUP	reload: new cycle next to the old one, new workers, QUIT to
 *		the old generation, old cycle freed when its last worker exits
 *   USR1	reopen the log files here, then USR1 to the workers
 *   WINCH	QUIT to the workers without respawning them; the master stays
 *   CHLD	reap, log, force-unlock zones, respawn the current generation
 *
 * A worker is a slot of the current cycle: a dead one is forked again in
 * the same slot (same listening sockets), at most once per second.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* sched_getaffinity(2), CPU_COUNT */
#endif
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "master.h"

enum master_proc_state {
	MASTER_PROC_RUNNING = 0,	/* serving its cycle */
	MASTER_PROC_DRAINING,		/* told to stop (QUIT or TERM sent) */
	MASTER_PROC_EXITED,		/* reaped; forked again at <respawn_at> */
};

/* one worker slot of a generation */
struct master_proc {
	pid_t			 pid;		/* 0 once reaped */
	struct pt_cycle		*cycle;		/* generation it runs */
	int			 slot;		/* index into listener fds */
	enum master_proc_state	 state;		/* see above */
	pt_msec_t		 started;	/* monotonic time of the fork */
	pt_msec_t		 respawn_at;	/* EXITED: when to fork again */
};

enum master_stop {
	MASTER_RUNNING = 0,
	MASTER_STOP_GRACEFUL,		/* QUIT: wait for the workers */
	MASTER_STOP_FAST,		/* TERM/INT: KILL after a delay */
};

static volatile sig_atomic_t	master_sig_child, master_sig_term,
				master_sig_quit, master_sig_reload,
				master_sig_reopen, master_sig_noaccept,
				master_sig_upgrade, master_sig_alarm;

static const struct pt_master_args *master_args;	/* how we were started */
static struct pt_cycle		*master_cycle;		/* current generation */
static struct pt_cycle		**master_retired;	/* older, still draining */
static size_t			 master_nretired;
static struct master_proc	*master_procs;		/* every worker slot */
static size_t			 master_nprocs, master_nalloc;
static enum master_stop		 master_stopping;
static int			 master_noaccept;	/* WINCH: no workers wanted */
static int			 master_killed;		/* KILL already sent */
static pt_msec_t		 master_kill_at;	/* fast stop deadline */
static int			 master_stderr_redirected; /* fd 2 = error log */
static char			 master_pid_path[PATH_MAX]; /* "" = none written */
static char			 master_errlog_path[PATH_MAX];

/* the signals the master handles; blocked outside sigsuspend */
static const int master_signals[] = {
	SIGCHLD, SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2,
	SIGWINCH, SIGALRM,
};

static pt_msec_t
master_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (pt_msec_t)ts.tv_sec * 1000 + (pt_msec_t)(ts.tv_nsec / 1000000);
}

static void
master_signal_handler(int sig)
{
	int	saved = errno;

	switch (sig) {
	case SIGCHLD:
		master_sig_child = 1;
		break;
	case SIGTERM:
	case SIGINT:
		master_sig_term = 1;
		break;
	case SIGQUIT:
		master_sig_quit = 1;
		break;
	case SIGHUP:
		master_sig_reload = 1;
		break;
	case SIGUSR1:
		master_sig_reopen = 1;
		break;
	case SIGUSR2:
		master_sig_upgrade = 1;
		break;
	case SIGWINCH:
		master_sig_noaccept = 1;
		break;
	case SIGALRM:
		master_sig_alarm = 1;
		break;
	}
	errno = saved;
}

/* install the handlers and block the signals; PT_OK or PT_ERROR (logged) */
static int
master_signals_init(void)
{
	struct sigaction	sa;
	sigset_t		set;
	size_t			i;

	sigemptyset(&set);
	for (i = 0; i < PT_NELEM(master_signals); i++)
		sigaddset(&set, master_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1) {
		pt_log(PT_LOG_EMERG, errno, "sigprocmask() failed");
		return PT_ERROR;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = master_signal_handler;
	sa.sa_mask = set;
	for (i = 0; i < PT_NELEM(master_signals); i++) {
		if (sigaction(master_signals[i], &sa, NULL) == -1) {
			pt_log(PT_LOG_EMERG, errno, "sigaction(%d) failed",
			    master_signals[i]);
			return PT_ERROR;
		}
	}
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) == -1) {
		pt_log(PT_LOG_EMERG, errno, "sigaction(SIGPIPE) failed");
		return PT_ERROR;
	}
	return PT_OK;
}

/*---- files ----*/

/* give <fd> to the worker user, so that workers can reopen it (USR1) */
static void
master_chown(struct pt_cycle *cycle, int fd, const char *path)
{
	struct passwd	*pw;

	if (fd < 0 || fd == 2 || geteuid() != 0 || cycle->core->user == NULL)
		return;
	pw = getpwnam(cycle->core->user);
	if (pw == NULL) {
		pt_log(PT_LOG_ALERT, errno, "getpwnam(\"%s\") failed",
		    cycle->core->user);
		return;
	}
	if (fchown(fd, pw->pw_uid, (gid_t)-1) == -1)
		pt_log(PT_LOG_ALERT, errno, "fchown() \"%s\" failed", path);
}

/* open <cycle>'s error log; returns the fd or -1 (logged) */
static int
master_errlog_open(struct pt_cycle *cycle)
{
	int	fd;

	fd = pt_log_open_file(cycle->core->error_log);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed",
		    cycle->core->error_log);
		return -1;
	}
	master_chown(cycle, fd, cycle->core->error_log);
	return fd;
}

/* make <fd> (from master_errlog_open) the process error log */
static void
master_errlog_install(struct pt_cycle *cycle, int fd)
{
	int	old = pt_errlog.fd;

	if (fd == 2) {
		pt_errlog.path = NULL;
	} else {
		snprintf(master_errlog_path, sizeof(master_errlog_path), "%s",
		    cycle->core->error_log);
		pt_errlog.path = master_errlog_path;
	}
	pt_errlog.fd = fd;
	pt_errlog.level = cycle->core->error_log_level;
	if (old != 2 && old != fd)
		close(old);
	if (master_stderr_redirected && fd != 2 && dup2(fd, 2) == -1)
		pt_log(PT_LOG_ALERT, errno, "dup2() of the error log to stderr "
		    "failed");
}

/* see master.h */
int
pt_master_test_files(struct pt_cycle *cycle)
{
	struct pt_open_file	**files = cycle->open_files.elts;
	size_t			  i;
	int			  fd, rc = PT_OK;

	PT_ASSERT_MASTER();
	fd = master_errlog_open(cycle);
	if (fd == -1)
		rc = PT_ERROR;
	else if (fd != 2)
		close(fd);
	for (i = 0; i < cycle->open_files.nelts; i++) {
		fd = pt_log_open_file(files[i]->path);
		if (fd == -1) {
			pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed",
			    files[i]->path);
			rc = PT_ERROR;
		} else if (fd != 2) {
			close(fd);
		}
	}
	return rc;
}

/* reopen <cycle>'s open files in place (USR1) */
static void
master_reopen_files(struct pt_cycle *cycle)
{
	struct pt_open_file	**files = cycle->open_files.elts;
	size_t			  i;
	int			  fd;

	for (i = 0; i < cycle->open_files.nelts; i++) {
		if (files[i]->fd < 0 || files[i]->fd == 2)
			continue;
		fd = pt_log_open_file(files[i]->path);
		if (fd == -1) {
			pt_log(PT_LOG_ALERT, errno, "open() \"%s\" failed",
			    files[i]->path);
			continue;
		}
		if (dup2(fd, files[i]->fd) == -1)
			pt_log(PT_LOG_ALERT, errno, "dup2() for \"%s\" failed",
			    files[i]->path);
		else
			(void)fcntl(files[i]->fd, F_SETFD, FD_CLOEXEC);
		close(fd);
		master_chown(cycle, files[i]->fd, files[i]->path);
	}
}

/* give the files the modules opened in init_master to the worker user */
static void
master_chown_files(struct pt_cycle *cycle)
{
	struct pt_open_file	**files = cycle->open_files.elts;
	size_t			  i;

	for (i = 0; i < cycle->open_files.nelts; i++)
		master_chown(cycle, files[i]->fd, files[i]->path);
}

/* write our pid to <path> atomically (temporary file + rename) */
static int
master_pid_write(const char *path)
{
	char	tmp[PATH_MAX], buf[32];
	int	fd, n;

	if (snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp)) {
		pt_log(PT_LOG_EMERG, 0, "pid file name \"%s\" is too long", path);
		return PT_ERROR;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed", tmp);
		return PT_ERROR;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		pt_log(PT_LOG_EMERG, errno, "write() to \"%s\" failed", tmp);
		close(fd);
		unlink(tmp);
		return PT_ERROR;
	}
	if (close(fd) == -1 || rename(tmp, path) == -1) {
		pt_log(PT_LOG_EMERG, errno, "writing pid file \"%s\" failed", path);
		unlink(tmp);
		return PT_ERROR;
	}
	snprintf(master_pid_path, sizeof(master_pid_path), "%s", path);
	return PT_OK;
}

static void
master_pid_remove(void)
{
	if (master_pid_path[0] == '\0')
		return;
	if (unlink(master_pid_path) == -1)
		pt_log(PT_LOG_ALERT, errno, "unlink() \"%s\" failed",
		    master_pid_path);
	master_pid_path[0] = '\0';
}

/*---- cycles ----*/

/* see master.h */
void
pt_master_resolve_workers(struct pt_cycle *cycle)
{
	cpu_set_t	set;
	long		n = cycle->core->worker_processes;

	PT_ASSERT_MASTER();
	if (!cycle->core->master_process) {
		n = 1;
	} else if (n == 0) {
		if (sched_getaffinity(0, sizeof(set), &set) == 0)
			n = CPU_COUNT(&set);
		else
			n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
	}
	cycle->nworkers = (int)n;
}

static void
master_rlimit(struct pt_cycle *cycle)
{
	struct rlimit	rl;

	if (cycle->core->worker_rlimit_nofile <= 0)
		return;
	rl.rlim_cur = rl.rlim_max = (rlim_t)cycle->core->worker_rlimit_nofile;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		pt_log(PT_LOG_ALERT, errno, "setrlimit(RLIMIT_NOFILE, %ld) failed,"
		    " ignored", cycle->core->worker_rlimit_nofile);
}

static int
master_init_modules(struct pt_cycle *cycle)
{
	struct pt_module	*m;
	int			 i;

	for (i = 0; (m = pt_modules[i]) != NULL; i++) {
		if (m->init_master != NULL && m->init_master(cycle) != PT_OK) {
			pt_log(PT_LOG_EMERG, 0, "module %s could not start", m->name);
			return PT_ERROR;
		}
	}
	return PT_OK;
}

/* free <cycle> and everything the master holds for it */
static void
master_cycle_release(struct pt_cycle *cycle, struct pt_cycle *old)
{
	pt_listeners_close(cycle);
	pt_zones_unmap(cycle, old);
	pt_cycle_free(cycle);
}

/*---- worker processes ----*/

static size_t
master_proc_add(struct pt_cycle *cycle, int slot)
{
	if (master_nprocs == master_nalloc) {
		master_nalloc = master_nalloc ? 2 * master_nalloc : 16;
		master_procs = pt_xrealloc(master_procs,
		    master_nalloc * sizeof(*master_procs));
	}
	memset(&master_procs[master_nprocs], 0, sizeof(*master_procs));
	master_procs[master_nprocs].cycle = cycle;
	master_procs[master_nprocs].slot = slot;
	master_procs[master_nprocs].state = MASTER_PROC_EXITED;
	return master_nprocs++;
}

static void
master_proc_remove(size_t i)
{
	master_procs[i] = master_procs[--master_nprocs];
}

static size_t
master_nlive(void)
{
	size_t	i, n = 0;

	for (i = 0; i < master_nprocs; i++)
		if (master_procs[i].pid > 0)
			n++;
	return n;
}

/* in the new child: set up, then become worker <slot> of <cycle> */
static void __attribute__((noreturn))
master_child(struct pt_cycle *cycle, int slot)
{
	struct sigaction	sa;
	size_t			i;

	pt_heritage.cycle = cycle;
	pt_heritage.slot = slot;
	pt_heritage.master_pid = getppid();
	pt_heritage.channel = -1;
	pt_heritage.is_worker = 1;

	/*
	 * Default dispositions; the mask stays blocked until pt_worker_main()
	 * has installed its own handlers, so an early QUIT is not fatal.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < PT_NELEM(master_signals); i++)
		sigaction(master_signals[i], &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);

	/* sockets of older generations are not this worker's business */
	for (i = 0; i < master_nretired; i++)
		pt_listeners_close(master_retired[i]);

	if (pt_privdrop(cycle->core) != PT_OK)
		_exit(PT_EXIT_FATAL);
	pt_worker_main(cycle, slot);
}

/* fork the worker of master_procs[i] */
static void
master_spawn(size_t i)
{
	struct master_proc	*p = &master_procs[i];
	pid_t			 pid;

	pid = fork();
	if (pid == 0)
		master_child(p->cycle, p->slot);
	if (pid == -1) {
		pt_log(PT_LOG_ALERT, errno, "fork() of worker %d failed, "
		    "retrying in %d ms", p->slot, PT_MASTER_RESPAWN_MSEC);
		p->pid = 0;
		p->state = MASTER_PROC_EXITED;
		p->respawn_at = master_now() + PT_MASTER_RESPAWN_MSEC;
		return;
	}
	p->pid = pid;
	p->state = MASTER_PROC_RUNNING;
	p->started = master_now();
	p->respawn_at = 0;
	pt_log(PT_LOG_NOTICE, 0, "start worker process %d", (int)pid);
}

/* fork every worker slot of <cycle> */
static void
master_spawn_all(struct pt_cycle *cycle)
{
	int	slot;

	for (slot = 0; slot < cycle->nworkers; slot++)
		master_spawn(master_proc_add(cycle, slot));
}

/*
 * Send <sig> to every live worker (of <cycle>, or all when NULL); the ones
 * sent QUIT or TERM become DRAINING. Pending respawns are dropped.
 */
static void
master_signal_workers(struct pt_cycle *cycle, int sig)
{
	struct master_proc	*p;
	size_t			 i = 0;

	while (i < master_nprocs) {
		p = &master_procs[i];
		if (cycle != NULL && p->cycle != cycle) {
			i++;
			continue;
		}
		if (p->pid == 0) {
			if (sig == SIGQUIT || sig == SIGTERM || sig == SIGKILL) {
				master_proc_remove(i);
				continue;
			}
			i++;
			continue;
		}
		if (kill(p->pid, sig) == -1 && errno != ESRCH)
			pt_log(PT_LOG_ALERT, errno, "kill(%d, %d) failed",
			    (int)p->pid, sig);
		if (sig == SIGQUIT || sig == SIGTERM || sig == SIGKILL)
			p->state = MASTER_PROC_DRAINING;
		i++;
	}
}

/* free the retired cycles whose last worker is gone */
static void
master_retired_release(void)
{
	size_t	r = 0, i;

	while (r < master_nretired) {
		for (i = 0; i < master_nprocs; i++)
			if (master_procs[i].cycle == master_retired[r])
				break;
		if (i < master_nprocs) {
			r++;
			continue;
		}
		master_cycle_release(master_retired[r], NULL);
		master_retired[r] = master_retired[--master_nretired];
	}
}

static void master_upgrade_done(int status);
static pid_t	master_upgrade_pid;	/* new master being started (USR2), 0 = none */

static void
master_reap(void)
{
	struct master_proc	*p;
	pt_msec_t		 now;
	size_t			 i, r;
	pid_t			 pid;
	int			 status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == 0)
			break;
		if (pid == -1) {
			if (errno == EINTR)
				continue;
			if (errno != ECHILD)
				pt_log(PT_LOG_ALERT, errno, "waitpid() failed");
			break;
		}

		if (pid == master_upgrade_pid) {
			master_upgrade_done(status);
			continue;
		}
		for (i = 0; i < master_nprocs; i++)
			if (master_procs[i].pid == pid)
				break;

		if (WIFSIGNALED(status))
			pt_log(PT_LOG_ALERT, 0, "worker process %d exited on "
			    "signal %d%s", (int)pid, WTERMSIG(status),
			    WCOREDUMP(status) ? " (core dumped)" : "");
		else if (WEXITSTATUS(status) != 0)
			pt_log(PT_LOG_ALERT, 0, "worker process %d exited with "
			    "code %d", (int)pid, WEXITSTATUS(status));
		else
			pt_log(PT_LOG_NOTICE, 0, "worker process %d exited with "
			    "code 0", (int)pid);

		/* a lock the dead process held would stop every other worker */
		pt_zones_force_unlock(master_cycle, pid);
		for (r = 0; r < master_nretired; r++)
			pt_zones_force_unlock(master_retired[r], pid);

		if (i == master_nprocs)
			continue;
		p = &master_procs[i];
		if (p->state != MASTER_PROC_RUNNING || p->cycle != master_cycle ||
		    master_stopping || master_noaccept) {
			master_proc_remove(i);
			continue;
		}
		if (WIFEXITED(status) && WEXITSTATUS(status) == PT_EXIT_FATAL) {
			pt_log(PT_LOG_ALERT, 0, "worker process %d could not start, "
			    "not respawned", (int)pid);
			master_proc_remove(i);
			continue;
		}
		/* an unexpected death: same slot again, at most once a second */
		now = master_now();
		p->pid = 0;
		p->state = MASTER_PROC_EXITED;
		p->respawn_at = PT_MAX(now, p->started + PT_MASTER_RESPAWN_MSEC);
	}
	master_retired_release();
}

static void
master_respawn_due(void)
{
	pt_msec_t	now = master_now();
	size_t		i;

	for (i = 0; i < master_nprocs; i++) {
		if (master_procs[i].pid == 0 &&
		    master_procs[i].state == MASTER_PROC_EXITED &&
		    master_procs[i].respawn_at <= now)
			master_spawn(i);
	}
}

/* the ITIMER_REAL alarm for the next deadline (respawn, fast-stop KILL) */
static void
master_arm_timer(void)
{
	struct itimerval	itv;
	pt_msec_t		now = master_now(), next = 0, delay;
	size_t			i;

	if (master_stopping == MASTER_STOP_FAST && !master_killed)
		next = master_kill_at;
	for (i = 0; i < master_nprocs; i++) {
		if (master_procs[i].pid == 0 &&
		    master_procs[i].state == MASTER_PROC_EXITED &&
		    (next == 0 || master_procs[i].respawn_at < next))
			next = master_procs[i].respawn_at;
	}
	memset(&itv, 0, sizeof(itv));
	if (next != 0) {
		delay = next > now ? next - now : 1;
		itv.it_value.tv_sec = (time_t)(delay / 1000);
		itv.it_value.tv_usec = (suseconds_t)(delay % 1000) * 1000;
	}
	if (setitimer(ITIMER_REAL, &itv, NULL) == -1)
		pt_log(PT_LOG_ALERT, errno, "setitimer() failed");
}

/*---- binary upgrade (SIGUSR2) ----*/

static char	master_upgrade_oldpid[PATH_MAX]; /* our pid file before the upgrade */

/*
 * Start the binary again (normally a new version installed over the old
 * one) with our listening sockets, as nginx does: the pid file moves to
 * FILE.oldbin, the new master writes FILE, and both serve until the
 * operator sends QUIT (or WINCH, then QUIT) to the old one. If the new
 * binary fails to start, everything is put back.
 */
static void
master_upgrade(void)
{
	struct pt_listener	*ls = master_cycle->listeners.elts;
	char			 oldbin[PATH_MAX], *env, *p;
	size_t			 i, len = sizeof(PT_LISTEN_ENV) + 2;
	sigset_t		 none;
	int			 slot;
	pid_t			 pid;

	if (master_upgrade_pid != 0) {
		pt_log(PT_LOG_WARN, 0, "binary upgrade already in progress (new master %d)",
		    (int)master_upgrade_pid);
		return;
	}
	if (master_args->binary == NULL || master_pid_path[0] == '\0') {
		pt_log(PT_LOG_ERR, 0, "binary upgrade needs the binary path and a pid file");
		return;
	}
	for (i = 0; i < master_cycle->listeners.nelts; i++)
		len += sizeof(ls[i].addr.text) + 2 + (size_t)ls[i].nfds * 12;
	env = pt_xmalloc(len);
	p = env + sprintf(env, "%s=", PT_LISTEN_ENV);
	for (i = 0; i < master_cycle->listeners.nelts; i++) {
		p += sprintf(p, "%s%s=", i ? ";" : "", ls[i].addr.text);
		for (slot = 0; slot < ls[i].nfds; slot++)
			p += sprintf(p, "%s%d", slot ? "," : "", ls[i].fds[slot]);
	}
	if (snprintf(oldbin, sizeof(oldbin), "%s.oldbin", master_pid_path) >=
	    (int)sizeof(oldbin) || rename(master_pid_path, oldbin) == -1) {
		pt_log(PT_LOG_ALERT, errno, "rename() \"%s\" to \"%s\" failed, no upgrade",
		    master_pid_path, oldbin);
		free(env);
		return;
	}
	snprintf(master_upgrade_oldpid, sizeof(master_upgrade_oldpid), "%s", master_pid_path);
	snprintf(master_pid_path, sizeof(master_pid_path), "%s", oldbin);

	pid = fork();
	if (pid == 0) {
		/* the new master: our sockets stay open across exec */
		for (i = 0; i < master_cycle->listeners.nelts; i++)
			for (slot = 0; slot < ls[i].nfds; slot++)
				if (ls[i].fds[slot] != -1)
					(void)fcntl(ls[i].fds[slot], F_SETFD, 0);
		putenv(env);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execv(master_args->binary, master_args->argv);
		pt_log(PT_LOG_ALERT, errno, "execv() \"%s\" failed", master_args->binary);
		_exit(PT_EXIT_FATAL);
	}
	free(env);
	if (pid == -1) {
		pt_log(PT_LOG_ALERT, errno, "fork() for the binary upgrade failed");
		master_upgrade_done(-1);
		return;
	}
	master_upgrade_pid = pid;
	pt_log(PT_LOG_NOTICE, 0, "binary upgrade: started new master %d (%s)", (int)pid,
	    master_args->binary);
}

/*
 * The process started by master_upgrade() exited with <status> (-1: it
 * never started). Exit code 0 means it went to the background (daemon on)
 * and runs on; anything else: the upgrade failed, the pid file comes back.
 */
static void
master_upgrade_done(int status)
{
	master_upgrade_pid = 0;
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		pt_log(PT_LOG_NOTICE, 0, "binary upgrade: the new master went to the background");
		return;
	}
	pt_log(PT_LOG_ALERT, 0, "binary upgrade failed (the new master exited), "
	    "keeping this one");
	if (rename(master_pid_path, master_upgrade_oldpid) == -1)
		pt_log(PT_LOG_ALERT, errno, "rename() \"%s\" back to \"%s\" failed",
		    master_pid_path, master_upgrade_oldpid);
	else
		snprintf(master_pid_path, sizeof(master_pid_path), "%s", master_upgrade_oldpid);
}

/*---- signal actions ----*/

static void
master_reload(void)
{
	struct pt_cycle	*old = master_cycle, *nc, **r;
	int		 fd = -1, pid_moved = 0;
	char		 old_pid[PATH_MAX];

	pt_log(PT_LOG_NOTICE, 0, "reconfiguring");
	nc = pt_cycle_create(master_args->conf_file, master_args->prefix,
	    master_args->directives, old);
	if (nc == NULL)
		goto failed;
	if (!nc->core->master_process) {
		pt_log(PT_LOG_WARN, 0, "\"master_process off\" takes effect only "
		    "at start, ignored");
		nc->core->master_process = 1;
	}
	pt_master_resolve_workers(nc);

	if ((fd = master_errlog_open(nc)) == -1)
		goto free_cycle;
	if (pt_zones_map(nc, old) != PT_OK)
		goto free_cycle;
	if (pt_listeners_open(nc, old) != PT_OK)
		goto free_zones;
	if (master_init_modules(nc) != PT_OK)
		goto free_listeners;
	if (strcmp(nc->core->pid, master_pid_path) != 0) {
		snprintf(old_pid, sizeof(old_pid), "%s", master_pid_path);
		if (master_pid_write(nc->core->pid) != PT_OK)
			goto free_listeners;
		pid_moved = 1;
	}

	/* from here on the new generation takes over */
	if (pid_moved && old_pid[0] != '\0' && unlink(old_pid) == -1)
		pt_log(PT_LOG_ALERT, errno, "unlink() \"%s\" failed", old_pid);
	master_chown_files(nc);
	master_errlog_install(nc, fd);
	master_rlimit(nc);
	master_cycle = nc;
	master_noaccept = 0;
	/* retired first: the new workers close the old generation's sockets */
	r = pt_xrealloc(master_retired, (master_nretired + 1) * sizeof(*r));
	master_retired = r;
	master_retired[master_nretired++] = old;
	master_spawn_all(nc);

	/* the old workers drain; their listening sockets live on in <nc> */
	master_signal_workers(old, SIGQUIT);
	pt_listeners_close(old);
	master_retired_release();
	pt_log(PT_LOG_NOTICE, 0, "configuration generation %u started",
	    nc->generation);
	return;

free_listeners:
	pt_listeners_close(nc);
free_zones:
	pt_zones_unmap(nc, old);
free_cycle:
	if (fd != -1 && fd != 2)
		close(fd);
	pt_cycle_free(nc);
failed:
	pt_log(PT_LOG_ERR, 0, "reload failed, keeping the old configuration");
}

static void
master_reopen(void)
{
	size_t	i;

	pt_log(PT_LOG_NOTICE, 0, "reopening logs");
	if (pt_errlog_reopen() == PT_OK && pt_errlog.fd != 2) {
		master_chown(master_cycle, pt_errlog.fd, master_errlog_path);
		if (master_stderr_redirected && dup2(pt_errlog.fd, 2) == -1)
			pt_log(PT_LOG_ALERT, errno, "dup2() of the error log to "
			    "stderr failed");
	}
	master_reopen_files(master_cycle);
	for (i = 0; i < master_nretired; i++)
		master_reopen_files(master_retired[i]);
	master_signal_workers(NULL, SIGUSR1);
}

/* the master's end: pid file, sockets, zones, cycles */
static int
master_exit(int status)
{
	size_t	i;

	pt_log(PT_LOG_NOTICE, 0, "exit");
	master_pid_remove();
	for (i = 0; i < master_nretired; i++)
		master_cycle_release(master_retired[i], NULL);
	master_nretired = 0;
	master_cycle_release(master_cycle, NULL);
	master_cycle = NULL;
	free(master_retired);
	free(master_procs);
	master_retired = NULL;
	master_procs = NULL;
	master_nprocs = master_nalloc = 0;
	return status;
}

/* the supervisor loop; returns the exit status */
static int
master_loop(void)
{
	sigset_t	none;

	sigemptyset(&none);
	for (;;) {
		master_arm_timer();
		sigsuspend(&none);
		pt_time_update();
		master_sig_alarm = 0;

		if (master_sig_child) {
			master_sig_child = 0;
			master_reap();
		}
		if (master_sig_term) {
			master_sig_term = 0;
			if (master_stopping != MASTER_STOP_FAST) {
				pt_log(PT_LOG_NOTICE, 0, "fast shutdown");
				master_stopping = MASTER_STOP_FAST;
				master_kill_at = master_now() + PT_MASTER_KILL_MSEC;
				master_signal_workers(NULL, SIGTERM);
			}
		}
		if (master_sig_quit) {
			master_sig_quit = 0;
			if (master_stopping == MASTER_RUNNING) {
				pt_log(PT_LOG_NOTICE, 0, "graceful shutdown");
				master_stopping = MASTER_STOP_GRACEFUL;
				master_signal_workers(NULL, SIGQUIT);
			}
		}
		if (master_stopping != MASTER_RUNNING) {
			if (master_nlive() == 0)
				return master_exit(0);
			if (master_stopping == MASTER_STOP_FAST && !master_killed &&
			    master_now() >= master_kill_at) {
				pt_log(PT_LOG_ALERT, 0, "%zu worker process(es) still "
				    "running after %d ms, sending SIGKILL",
				    master_nlive(), PT_MASTER_KILL_MSEC);
				master_signal_workers(NULL, SIGKILL);
				master_killed = 1;
			}
			continue;
		}

		if (master_sig_reload) {
			master_sig_reload = 0;
			master_reload();
		}
		if (master_sig_reopen) {
			master_sig_reopen = 0;
			master_reopen();
		}
		if (master_sig_noaccept) {
			master_sig_noaccept = 0;
			if (!master_noaccept) {
				pt_log(PT_LOG_NOTICE, 0, "gracefully stopping the "
				    "workers (SIGWINCH)");
				master_noaccept = 1;
				master_signal_workers(NULL, SIGQUIT);
			}
		}
		if (master_sig_upgrade) {
			master_sig_upgrade = 0;
			master_upgrade();
		}
		master_respawn_due();
		master_retired_release();
	}
}

/* detach from the terminal; stdin/stdout to /dev/null, stderr to the log */
static int
master_daemonize(void)
{
	int	fd;

	switch (fork()) {
	case -1:
		pt_log(PT_LOG_EMERG, errno, "fork() failed");
		return PT_ERROR;
	case 0:
		break;
	default:
		_exit(0);
	}
	pt_heritage.master_pid = getpid();
	if (setsid() == -1) {
		pt_log(PT_LOG_EMERG, errno, "setsid() failed");
		return PT_ERROR;
	}
	fd = open("/dev/null", O_RDWR);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "open(\"/dev/null\") failed");
		return PT_ERROR;
	}
	if (dup2(fd, 0) == -1 || dup2(fd, 1) == -1) {
		pt_log(PT_LOG_EMERG, errno, "dup2() to /dev/null failed");
		close(fd);
		return PT_ERROR;
	}
	if (pt_errlog.fd != 2) {
		/* stray writes to stderr (sanitizers, libraries) reach the log */
		if (dup2(pt_errlog.fd, 2) == -1) {
			pt_log(PT_LOG_EMERG, errno, "dup2() to stderr failed");
			close(fd);
			return PT_ERROR;
		}
		master_stderr_redirected = 1;
	}
	if (fd > 2)
		close(fd);
	/* the terminal is gone: no more short copies on stderr */
	pt_errlog.also_stderr = 0;
	return PT_OK;
}

/* see master.h */
int
pt_master_run(struct pt_cycle *cycle, const struct pt_master_args *args)
{
	struct pt_core_conf	*core = cycle->core;
	struct pt_cycle		*inherited;
	int			 fd, rc;

	PT_ASSERT_MASTER();
	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	master_args = args;
	master_cycle = cycle;
	pt_master_resolve_workers(cycle);
	master_rlimit(cycle);

	if ((fd = master_errlog_open(cycle)) == -1)
		goto failed;
	if (pt_zones_map(cycle, NULL) != PT_OK)
		goto failed;
	inherited = pt_listeners_inherited();
	rc = pt_listeners_open(cycle, inherited);
	if (inherited != NULL) {
		/* our dups are open (or we failed): the handed-over fds go */
		pt_listeners_close(inherited);
		pt_pool_destroy(inherited->pool);
		free(inherited);
	}
	if (rc != PT_OK)
		goto failed;
	if (master_init_modules(cycle) != PT_OK)
		goto failed;
	master_chown_files(cycle);
	master_errlog_install(cycle, fd);
	fd = -1;

	if (geteuid() == 0 && core->user == NULL)
		pt_log(PT_LOG_NOTICE, 0, "running as root without \"user\": "
		    "the workers keep root privileges");

	if (core->daemon && master_daemonize() != PT_OK)
		goto failed;
	pt_heritage.master_pid = getpid();

	if (!core->master_process) {
		/* one process: it is the worker; it handles the signals itself */
		if (master_pid_write(core->pid) != PT_OK)
			goto failed;
		pt_errlog.also_stderr = 0;
		pt_heritage.master_pid = 0;
		if (pt_privdrop(core) != PT_OK)
			_exit(PT_EXIT_FATAL);
		pt_worker_main(cycle, 0);
	}

	if (master_signals_init() != PT_OK)
		goto failed;
	/* every listener is bound: now the pid file may announce us */
	if (master_pid_write(core->pid) != PT_OK)
		goto failed;
	pt_errlog.also_stderr = 0;
	pt_log(PT_LOG_NOTICE, 0, "portico/%s started, %d worker(s)",
	    PACKAGE_VERSION, cycle->nworkers);
	master_spawn_all(cycle);
	return master_loop();

failed:
	if (fd != -1 && fd != 2)
		close(fd);
	master_cycle_release(cycle, NULL);
	master_cycle = NULL;
	return 1;
}
