/*
 * log.h: the error log. Messages below the configured level are dropped
 * before formatting. Runtime messages follow nginx's style: lowercase,
 * no final period, user values quoted, errno passed explicitly.
 */
#ifndef PT_LOG_H
#define PT_LOG_H

#include "core.h"

enum pt_log_level {
	PT_LOG_STDERR = 0,	/* always printed (startup messages) */
	PT_LOG_EMERG,
	PT_LOG_ALERT,
	PT_LOG_CRIT,
	PT_LOG_ERR,
	PT_LOG_WARN,
	PT_LOG_NOTICE,
	PT_LOG_INFO,
	PT_LOG_DEBUG,
};

extern const char *const pt_log_level_names[];	/* "", "emerg", ... "debug", NULL */

/* process-wide error log state */
struct pt_errlog {
	int		 fd;		/* file descriptor, 2 for stderr */
	enum pt_log_level level;	/* messages above this are dropped */
	char		*path;		/* NULL for stderr; reopened on USR1 */
	unsigned	 also_stderr:1;	/* copy emerg messages to stderr (startup) */
};

extern struct pt_errlog	pt_errlog;

/* log <fmt> at <level>; <err> is an errno value appended as "(%d: %s)" or 0 */
void	pt_log(enum pt_log_level level, int err, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	pt_vlog(enum pt_log_level level, int err, const char *fmt, va_list ap);
#define pt_log_enabled(l)	((l) <= pt_errlog.level)

/*
 * Open <path> ("stderr" allowed) for appending; returns the fd or -1 with
 * errno set. Used by the master for error_log and access_log files.
 */
int	pt_log_open_file(const char *path);
/* reopen the error log file in place (USR1); returns PT_OK or PT_ERROR */
int	pt_errlog_reopen(void);

#ifdef PT_DEBUG
#define pt_debug(...)	pt_log(PT_LOG_DEBUG, 0, __VA_ARGS__)
#else
#define pt_debug(...)	do { } while (0)
#endif

#endif /* PT_LOG_H */
