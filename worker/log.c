/*
 * log.c: the error log. One write(2) per message, so lines from several
 * processes appending to one file never interleave.
 *
 * Two forms:
 *   2026/11/27 18:00:00 [error] 1234#0: message (2: No such file or directory)
 *   portico: [emerg] message		(startup, on stderr; like nginx -t)
 * During startup (pt_errlog.also_stderr set) messages go to stderr in the
 * short form; when the error log is already a file, they are written there
 * in the long form too (warnings and worse are copied to stderr). The
 * master clears also_stderr once it runs in the background.
 */
#include <fcntl.h>
#include <unistd.h>
#include "core.h"
#include "log.h"

#define LOG_MAX_LINE	2048		/* longest line, as nginx */
#define LOG_ERRNO_ROOM	128		/* kept free for " (errno: text)" */

struct pt_errlog pt_errlog = {
	.fd = 2,
	.level = PT_LOG_NOTICE,
	.path = NULL,
	.also_stderr = 1,
};

const char *const pt_log_level_names[] = {
	"", "emerg", "alert", "crit", "error", "warn", "notice", "info",
	"debug", NULL
};

static void
log_write(int fd, const char *buf, size_t len)
{
	ssize_t	n;

	do {
		n = write(fd, buf, len);
	} while (n == -1 && errno == EINTR);
	/* nowhere left to report a failing error log */
}

/* append "<fmt> (err: text)\n" at <p>, within <end>; returns the new end */
static char *
log_body(char *p, char *end, int err, const char *fmt, va_list ap)
{
	int	n;

	n = vsnprintf(p, (size_t)(end - p) - LOG_ERRNO_ROOM, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= (size_t)(end - p) - LOG_ERRNO_ROOM)
		n = (int)((end - p) - LOG_ERRNO_ROOM - 1);
	p += n;
	if (err != 0) {
		n = snprintf(p, (size_t)(end - p) - 1, " (%d: %s)", err,
		    strerror(err));
		if (n > 0)
			p += PT_MIN((size_t)n, (size_t)(end - p) - 2);
	}
	*p++ = '\n';
	return p;
}

/*
 * Log <fmt> at <level> with errno value <err> (0 = none). Any process;
 * preserves errno. Messages above pt_errlog.level are dropped first.
 */
void
pt_vlog(enum pt_log_level level, int err, const char *fmt, va_list ap)
{
	char		 line[LOG_MAX_LINE], *p, *end = line + sizeof(line);
	const char	*name;
	int		 saved = errno, to_file, to_stderr;
	va_list		 aq;

	if (level > pt_errlog.level)
		return;

	to_file = !pt_errlog.also_stderr || pt_errlog.fd != 2;
	to_stderr = pt_errlog.also_stderr &&
	    (pt_errlog.fd == 2 || level <= PT_LOG_WARN);
	name = level == PT_LOG_STDERR ? "notice" : pt_log_level_names[level];

	if (to_file) {
		if (pt_time_errlog[0] == '\0')
			pt_time_update();
		p = line + snprintf(line, sizeof(line), "%s [%s] %d#0: ",
		    pt_time_errlog, name, (int)getpid());
		va_copy(aq, ap);
		p = log_body(p, end, err, fmt, aq);
		va_end(aq);
		log_write(pt_errlog.fd, line, (size_t)(p - line));
	}
	if (to_stderr) {
		if (level == PT_LOG_STDERR)
			p = line + snprintf(line, sizeof(line), "portico: ");
		else
			p = line + snprintf(line, sizeof(line), "portico: [%s] ",
			    name);
		va_copy(aq, ap);
		p = log_body(p, end, err, fmt, aq);
		va_end(aq);
		log_write(2, line, (size_t)(p - line));
	}
	errno = saved;
}

/* see pt_vlog */
void
pt_log(enum pt_log_level level, int err, const char *fmt, ...)
{
	va_list	ap;

	if (level > pt_errlog.level)
		return;
	va_start(ap, fmt);
	pt_vlog(level, err, fmt, ap);
	va_end(ap);
}

/*
 * Open <path> for appending, creating it with mode 0644; "stderr" returns
 * 2. Returns the fd (close-on-exec) or -1 with errno set; the caller logs.
 * Master: error_log and access_log files; worker: reopen on USR1.
 */
int
pt_log_open_file(const char *path)
{
	int	fd;

	if (strcmp(path, "stderr") == 0)
		return 2;
	do {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	} while (fd == -1 && errno == EINTR);
	return fd;
}

/*
 * Reopen pt_errlog.path onto the same fd number (log rotation, USR1).
 * Returns PT_OK (also when the log is stderr) or PT_ERROR, logged to the
 * old file. Master and workers.
 */
int
pt_errlog_reopen(void)
{
	int	fd;

	if (pt_errlog.path == NULL || pt_errlog.fd == 2)
		return PT_OK;
	fd = pt_log_open_file(pt_errlog.path);
	if (fd == -1) {
		pt_log(PT_LOG_ALERT, errno, "open() \"%s\" failed", pt_errlog.path);
		return PT_ERROR;
	}
	if (fd != pt_errlog.fd) {
		if (dup2(fd, pt_errlog.fd) == -1) {
			pt_log(PT_LOG_ALERT, errno, "dup2() for \"%s\" failed",
			    pt_errlog.path);
			close(fd);
			return PT_ERROR;
		}
		close(fd);
	}
	return PT_OK;
}
