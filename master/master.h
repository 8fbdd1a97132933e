/*
 * master.h: what the files of master/ share: zone mapping,
 * listening sockets, the pid file and the process supervisor. Nothing
 * here runs in a worker, except what a freshly forked child does before
 * it calls pt_worker_main().
 */
#ifndef PT_MASTER_H
#define PT_MASTER_H

#include "portico.h"

/*
 * Exit status of a worker that cannot start (privilege drop, module
 * init_worker): the master logs it and does not respawn that worker.
 */
#define PT_EXIT_FATAL		2

/* how long a fast stop waits for workers before SIGKILL */
#define PT_MASTER_KILL_MSEC	5000
/* a worker slot is not respawned more often than this */
#define PT_MASTER_RESPAWN_MSEC	1000

/* how the master was started; the reload reads the same files */
struct pt_master_args {
	const char	*conf_file;	/* absolute configuration path */
	const char	*prefix;	/* absolute prefix, ends with '/' */
	const char	*directives;	/* -g text or NULL */
	char		**argv;		/* the command line, for a binary upgrade */
	const char	*binary;	/* absolute path of the binary (argv[0]) */
};

/* environment variable a binary upgrade passes listening sockets in:
 * "ADDRESS=fd,fd,...;ADDRESS=..." (one fd per worker slot) */
#define PT_LISTEN_ENV	"PORTICO_LISTEN"

/*
 * Listening sockets handed over by the previous binary (PT_LISTEN_ENV),
 * as a pseudo cycle to pass as <old> to pt_listeners_open(), or NULL.
 * Call pt_listeners_close() on it once the new sockets are open. Master.
 */
struct pt_cycle	*pt_listeners_inherited(void);

/*---- worker/privdrop.c ----*/

/*
 * In a freshly forked worker, when running as root with "user" set: set
 * the supplementary groups, then the group, then the user (real, effective
 * and saved) and check that root cannot be regained. Does nothing when
 * not root or without "user". Returns PT_OK or PT_ERROR (logged); the
 * caller then exits with PT_EXIT_FATAL.
 */
int	pt_privdrop(const struct pt_core_conf *core);

/*---- zone.c ----*/

/*
 * Map every zone of <cycle>, reusing the mapping (and passing its data to
 * init) of a zone of <old> with the same name, size and owner, then call
 * each zone's init. <old> may be NULL. On failure everything is undone
 * (mappings taken from <old> go back to it). Returns PT_OK or PT_ERROR
 * (logged). Master.
 */
int	pt_zones_map(struct pt_cycle *cycle, struct pt_cycle *old);
/*
 * Release the zones <cycle> still holds: mappings it took over from
 * <old> go back there when <old> is not NULL (failed reload); the others
 * are unmapped. Master.
 */
void	pt_zones_unmap(struct pt_cycle *cycle, struct pt_cycle *old);
/* every zone is declared with a size; PT_OK or PT_ERROR (logged). Master. */
int	pt_zones_check(struct pt_cycle *cycle);
/* release every zone lock of <cycle> held by dead process <pid>; master */
void	pt_zones_force_unlock(struct pt_cycle *cycle, pid_t pid);

/*---- listen.c ----*/

/*
 * Give every listener of <cycle> one listening socket per worker slot
 * (cycle->nworkers). Sockets of an equal address in <old> are shared
 * (dup(2): same socket, same accept queue); missing ones are opened
 * with SO_REUSEPORT. <old> keeps its own descriptors until
 * pt_listeners_close(old). On failure <cycle> holds no socket and <old>
 * is untouched. Returns PT_OK or PT_ERROR (logged). Master.
 */
int	pt_listeners_open(struct pt_cycle *cycle, struct pt_cycle *old);
/*
 * Close this process's descriptors of <cycle>'s listeners (sockets
 * shared with a newer cycle stay open there). Master, and a new worker
 * for cycles other than its own.
 */
void	pt_listeners_close(struct pt_cycle *cycle);

/*---- process.c ----*/

/*
 * Set cycle->nworkers from worker_processes (auto = online CPUs; 1 when
 * master_process is off). Master, after pt_cycle_create().
 */
void	pt_master_resolve_workers(struct pt_cycle *cycle);
/*
 * For -t: check that the error log and every cycle->open_files entry of
 * <cycle> can be opened for appending (they are closed again). Returns
 * PT_OK or PT_ERROR (logged). Master.
 */
int	pt_master_test_files(struct pt_cycle *cycle);
/*
 * Run the master (or, with master_process off, the single worker) for
 * <cycle>, built by main(): map zones, bind, daemonize, write the pid
 * file, fork the workers and supervise them until stopped. Returns the
 * process exit status. Master.
 */
int	pt_master_run(struct pt_cycle *cycle, const struct pt_master_args *args);

#endif /* PT_MASTER_H */
