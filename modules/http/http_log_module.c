/*
 * http_log_module.c: the access log (log_format, access_log).
 *
 * A format is a complex value (var.h) compiled once, with an escape mode
 * applied to variable values only. Files are shared through
 * cycle->open_files (one fd per path per cycle), opened by the master in
 * init_master before the fork and inherited by the workers. Each worker
 * writes whole lines with write(2) on an O_APPEND fd, either one per
 * request or through a per-worker buffer (buffer=) that is written when
 * full, on the flush= timer, on reopen and at worker exit.
 */
#include <fcntl.h>
#include <unistd.h>

#include "portico.h"

#define HTTP_LOG_STACK		32		/* parts evaluated without a pool array */
#define HTTP_LOG_DEF_BUFFER	(64 * 1024)	/* buffer size when only flush= is given */

enum http_log_escape {
	HTTP_LOG_ESC_DEFAULT = 0,	/* ", \, CTL and >= 0x7f as \xXX */
	HTTP_LOG_ESC_JSON,		/* JSON string escaping */
	HTTP_LOG_ESC_NONE,		/* values as they are */
};

/* a log_format */
struct http_log_fmt {
	const char		*name;		/* format name */
	struct pt_cv		*cv;		/* the compiled format */
	enum http_log_escape	 escape;	/* escaping of variable values */
};

/* this module's view of one log file (shared by all access_log rows naming it) */
struct http_log_file {
	struct pt_open_file	*of;		/* fd and per-worker buffer */
	size_t			 buffer;	/* largest buffer= asked, 0 unbuffered */
	pt_msec_t		 flush;		/* smallest flush= asked, 0 none */
	struct pt_timer		 timer;		/* flush timer (worker) */
	time_t			 err_sec;	/* last write error logged (throttle) */
};

/* one access_log row */
struct http_log {
	struct http_log_file	*file;		/* where */
	struct http_log_fmt	*fmt;		/* what */
	struct pt_cv		*cond;		/* if=: log when non-empty and not "0" */
};

/* PT_LEVEL_HTTP */
struct http_log_main_conf {
	struct pt_array		 formats;	/* struct http_log_fmt */
	struct pt_array		 files;		/* struct http_log_file * */
};

/* PT_LEVEL_LOC */
struct http_log_loc_conf {
	struct pt_array		*logs;		/* struct http_log; NULL = unset or off */
	unsigned		 set:1;		/* access_log written at this level */
	unsigned		 off:1;		/* access_log off at this level */
};

struct pt_module pt_mod_http_log;

static const char http_log_combined[] =
	"$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
	"\"$http_referer\" \"$http_user_agent\"";

/*---- configuration (master) ----*/

static struct http_log_main_conf *
http_log_main(struct pt_conf_ctx *cf)
{
	return cf->http_conf[pt_mod_http_log.index];
}

static struct http_log_fmt *
http_log_find_format(struct http_log_main_conf *mc, const char *name)
{
	struct http_log_fmt *f = mc->formats.elts;
	size_t i;

	for (i = 0; i < mc->formats.nelts; i++)
		if (strcmp(f[i].name, name) == 0)
			return &f[i];
	return NULL;
}

static void
http_log_conf_create(struct pt_conf_ctx *cf, enum pt_conf_level level, void *conf)
{
	struct http_log_main_conf *mc;
	struct http_log_fmt *f;
	const char *err = NULL;

	if (level != PT_LEVEL_HTTP)
		return;
	mc = conf;
	pt_array_init(&mc->formats, cf->pool, 4, sizeof(struct http_log_fmt));
	pt_array_init(&mc->files, cf->pool, 4, sizeof(struct http_log_file *));
	f = pt_array_push(&mc->formats);
	f->name = "combined";
	f->escape = HTTP_LOG_ESC_DEFAULT;
	f->cv = pt_cv_compile(cf, http_log_combined, &err);
	PT_ASSERT(f->cv != NULL);
}

/* log_format NAME [escape=default|json|none] STRING ... */
static const char *
http_log_set_format(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct http_log_main_conf *mc = conf;
	const struct pt_conf_node *n = cf->node;
	struct http_log_fmt *f;
	enum http_log_escape esc = HTTP_LOG_ESC_DEFAULT;
	const char *err = NULL, *e;
	size_t len = 0;
	char *text, *p;
	int i, first = 1;

	(void)d;
	if (http_log_find_format(mc, n->args[0]) != NULL)
		return pt_psprintf(cf->pool, "duplicate \"log_format\" name \"%s\"", n->args[0]);
	if (strncmp(n->args[1], "escape=", 7) == 0) {
		e = n->args[1] + 7;
		if (strcmp(e, "default") == 0)
			esc = HTTP_LOG_ESC_DEFAULT;
		else if (strcmp(e, "json") == 0)
			esc = HTTP_LOG_ESC_JSON;
		else if (strcmp(e, "none") == 0)
			esc = HTTP_LOG_ESC_NONE;
		else
			return pt_psprintf(cf->pool, "unknown log format escaping \"%s\"", e);
		first = 2;
		if (n->nargs < 3)
			return "invalid number of arguments";
	}

	for (i = first; i < n->nargs; i++)
		len += strlen(n->args[i]);
	text = pt_palloc(cf->pool, len + 1);
	for (i = first, p = text; i < n->nargs; i++) {
		size_t l = strlen(n->args[i]);

		memcpy(p, n->args[i], l);
		p += l;
	}
	*p = '\0';

	f = pt_array_push(&mc->formats);
	f->name = pt_pstrdup(cf->pool, n->args[0]);
	f->escape = esc;
	f->cv = pt_cv_compile(cf, text, &err);
	if (f->cv == NULL) {
		mc->formats.nelts--;
		return err;
	}
	return NULL;
}

/* find or add this module's entry for the file at <path> */
static struct http_log_file *
http_log_file_get(struct pt_conf_ctx *cf, const char *path)
{
	struct http_log_main_conf *mc = http_log_main(cf);
	struct http_log_file **files = mc->files.elts, *lf;
	struct pt_open_file *of;
	size_t i;

	of = pt_open_file_get(cf->cycle, path);
	for (i = 0; i < mc->files.nelts; i++)
		if (files[i]->of == of)
			return files[i];
	lf = pt_pcalloc(cf->pool, sizeof(*lf));
	lf->of = of;
	pt_timer_init(&lf->timer, NULL, lf);
	*(struct http_log_file **)pt_array_push(&mc->files) = lf;
	return lf;
}

/* add an access_log row to <lc> from <args> (path, format, parameters) */
static const char *
http_log_add(struct pt_conf_ctx *cf, struct http_log_loc_conf *lc, char **args, int nargs)
{
	struct http_log_main_conf *mc = http_log_main(cf);
	struct http_log *log;
	struct http_log_fmt *fmt;
	struct pt_cv *cond = NULL;
	const char *fname = "combined", *err = NULL;
	size_t buffer = 0;
	pt_msec_t flush = 0;
	int i, has_buffer = 0;

	if (strncmp(args[0], "syslog:", 7) == 0)
		return "syslog logging is not supported";
	if (strchr(args[0], '$') != NULL)
		return pt_psprintf(cf->pool, "variables in log path \"%s\" are not supported",
		    args[0]);
	if (args[0][0] == '\0')
		return "empty log path";
	if (nargs > 1)
		fname = args[1];
	fmt = http_log_find_format(mc, fname);
	if (fmt == NULL)
		return pt_psprintf(cf->pool, "unknown log format \"%s\"", fname);

	for (i = 2; i < nargs; i++) {
		if (strncmp(args[i], "buffer=", 7) == 0) {
			if (pt_parse_size(args[i] + 7, &buffer) != PT_OK || buffer == 0)
				return pt_psprintf(cf->pool, "invalid buffer size \"%s\"",
				    args[i] + 7);
			has_buffer = 1;
		} else if (strncmp(args[i], "flush=", 6) == 0) {
			if (pt_parse_msec(args[i] + 6, &flush) != PT_OK || flush == 0)
				return pt_psprintf(cf->pool, "invalid flush time \"%s\"",
				    args[i] + 6);
		} else if (strncmp(args[i], "if=", 3) == 0) {
			cond = pt_cv_compile(cf, args[i] + 3, &err);
			if (cond == NULL)
				return err;
		} else {
			return pt_psprintf(cf->pool, "invalid parameter \"%s\"", args[i]);
		}
	}
	if (flush != 0 && !has_buffer)
		buffer = HTTP_LOG_DEF_BUFFER;

	if (lc->logs == NULL) {
		lc->logs = pt_palloc(cf->pool, sizeof(*lc->logs));
		pt_array_init(lc->logs, cf->pool, 2, sizeof(struct http_log));
	}
	log = pt_array_push(lc->logs);
	log->file = http_log_file_get(cf, args[0]);
	log->fmt = fmt;
	log->cond = cond;
	if (buffer > log->file->buffer)
		log->file->buffer = buffer;
	if (flush != 0 && (log->file->flush == 0 || flush < log->file->flush))
		log->file->flush = flush;
	return NULL;
}

/* access_log PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=COND]] | access_log off */
static const char *
http_log_set_log(struct pt_conf_ctx *cf, const struct pt_directive *d, void *conf)
{
	struct http_log_loc_conf *lc = conf;
	const struct pt_conf_node *n = cf->node;

	(void)d;
	lc->set = 1;
	if (strcmp(n->args[0], "off") == 0) {
		if (n->nargs != 1)
			return pt_psprintf(cf->pool, "invalid parameter \"%s\"", n->args[1]);
		lc->off = 1;
		return NULL;
	}
	return http_log_add(cf, lc, n->args, n->nargs);
}

/*
 * A level without access_log inherits its parent's list; "off" drops
 * every log of its level; the top level defaults to
 * "logs/access.log combined".
 */
static const char *
http_log_conf_merge(struct pt_conf_ctx *cf, enum pt_conf_level level, void *parent,
    void *child)
{
	struct http_log_loc_conf *lc = child, *pc = parent;
	char *def[2] = { "logs/access.log", "combined" };

	if (level != PT_LEVEL_LOC)
		return NULL;
	if (lc->off) {
		lc->logs = NULL;
		return NULL;
	}
	if (lc->set)
		return NULL;
	if (pc != NULL) {
		lc->logs = pc->logs;
		return NULL;
	}
	return http_log_add(cf, lc, def, 2);
}

/* close a file this module opened when its cycle is freed (master) */
static void
http_log_file_close(void *data)
{
	struct pt_open_file *of = data;

	if (of->fd >= 0) {
		close(of->fd);
		of->fd = -1;
	}
}

static struct http_log_main_conf *
http_log_cycle_main(struct pt_cycle *cycle)
{
	if (cycle == NULL || cycle->http == NULL || cycle->http_conf == NULL)
		return NULL;
	return cycle->http_conf[pt_mod_http_log.index];
}

/* master, before the fork: open every log file of the cycle */
static int
http_log_init_master(struct pt_cycle *cycle)
{
	struct http_log_main_conf *mc = http_log_cycle_main(cycle);
	struct http_log_file **files;
	struct pt_open_file *of;
	size_t i;

	if (mc == NULL)
		return PT_OK;
	files = mc->files.elts;
	for (i = 0; i < mc->files.nelts; i++) {
		of = files[i]->of;
		if (of->fd >= 0)
			continue;
		of->fd = pt_log_open_file(of->path);
		if (of->fd < 0) {
			pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed", of->path);
			return PT_ERROR;
		}
		pt_pool_cleanup_add(cycle->pool, http_log_file_close, of);
	}
	return PT_OK;
}

/*---- runtime (worker) ----*/

/* bytes that need \xXX in default escaping */
static inline int
http_log_esc_default(unsigned char ch)
{
	return ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\';
}

/* length of <v> escaped in mode <esc> */
static size_t
http_log_esc_len(enum http_log_escape esc, struct pt_str v)
{
	const unsigned char *p = (const unsigned char *)v.data, *end = p + v.len;
	size_t n = v.len;

	if (esc == HTTP_LOG_ESC_DEFAULT) {
		for (; p < end; p++)
			if (http_log_esc_default(*p))
				n += 3;
	} else if (esc == HTTP_LOG_ESC_JSON) {
		for (; p < end; p++) {
			if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r' || *p == '\t' ||
			    *p == '\b' || *p == '\f')
				n += 1;
			else if (*p < 0x20)
				n += 5;
		}
	}
	return n;
}

/* copy <v> escaped in mode <esc> to <d>; returns the end */
static char *
http_log_esc_copy(enum http_log_escape esc, struct pt_str v, char *d)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)v.data, *end = p + v.len;

	if (esc == HTTP_LOG_ESC_NONE) {
		memcpy(d, v.data, v.len);
		return d + v.len;
	}
	for (; p < end; p++) {
		if (esc == HTTP_LOG_ESC_DEFAULT) {
			if (http_log_esc_default(*p)) {
				*d++ = '\\';
				*d++ = 'x';
				*d++ = hex[*p >> 4];
				*d++ = hex[*p & 0xf];
			} else {
				*d++ = (char)*p;
			}
			continue;
		}
		switch (*p) {
		case '"':
		case '\\':
			*d++ = '\\';
			*d++ = (char)*p;
			break;
		case '\n':
			*d++ = '\\';
			*d++ = 'n';
			break;
		case '\r':
			*d++ = '\\';
			*d++ = 'r';
			break;
		case '\t':
			*d++ = '\\';
			*d++ = 't';
			break;
		case '\b':
			*d++ = '\\';
			*d++ = 'b';
			break;
		case '\f':
			*d++ = '\\';
			*d++ = 'f';
			break;
		default:
			if (*p < 0x20) {
				memcpy(d, "\\u00", 4);
				d[4] = hex[*p >> 4];
				d[5] = hex[*p & 0xf];
				d += 6;
			} else {
				*d++ = (char)*p;
			}
		}
	}
	return d;
}

/*
 * Build the log line of <f> for <r> in r->pool, newline included. A
 * variable without a value is "-" with default escaping, empty otherwise.
 */
static void
http_log_line(struct pt_request *r, const struct http_log_fmt *f, struct pt_str *line)
{
	struct pt_str stackv[HTTP_LOG_STACK], *v;
	const struct pt_cv_part *part;
	int i, n = f->cv->nparts;
	size_t total = 1;
	char *p;

	v = pt_likely(n <= HTTP_LOG_STACK) ? stackv : pt_palloc(r->pool, (size_t)n * sizeof(*v));
	for (i = 0, part = f->cv->parts; i < n; i++, part++) {
		if (part->get == NULL) {
			total += part->lit.len;
			continue;
		}
		if (part->get(r, part->data, &v[i]) != PT_OK) {
			v[i] = f->escape == HTTP_LOG_ESC_DEFAULT ? PT_STR("-") : PT_STR("");
			total += v[i].len;
			continue;
		}
		total += http_log_esc_len(f->escape, v[i]);
	}

	p = pt_palloc(r->pool, total);
	line->data = p;
	line->len = total;
	for (i = 0, part = f->cv->parts; i < n; i++, part++) {
		if (part->get == NULL) {
			memcpy(p, part->lit.data, part->lit.len);
			p += part->lit.len;
		} else if (v[i].len != 0) {
			p = http_log_esc_copy(f->escape, v[i], p);
		}
	}
	*p++ = '\n';
	PT_DASSERT(p == line->data + total);
}

/* write(2) all of <data> to <lf>; errors are logged at most once a second */
static void
http_log_write_fd(struct http_log_file *lf, const char *data, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(lf->of->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (lf->err_sec != pt_current_sec) {
				lf->err_sec = pt_current_sec;
				pt_log(PT_LOG_ALERT, n < 0 ? errno : 0,
				    "write() to \"%s\" failed", lf->of->path);
			}
			return;
		}
		data += n;
		len -= (size_t)n;
	}
}

/* write out and empty the buffer of <lf> */
static void
http_log_flush(struct http_log_file *lf)
{
	struct pt_buf *b = lf->of->buf;

	if (pt_timer_armed(&lf->timer))
		pt_timer_del(&lf->timer);
	if (b == NULL || b->last == b->pos)
		return;
	http_log_write_fd(lf, b->pos, pt_buf_size(b));
	b->pos = b->last = b->start;
}

static void
http_log_flush_timer(struct pt_timer *t)
{
	http_log_flush(t->data);
}

/* append one whole line to <lf> */
static void
http_log_write(struct http_log_file *lf, const char *data, size_t len)
{
	struct pt_buf *b = lf->of->buf;

	if (b == NULL) {
		http_log_write_fd(lf, data, len);
		return;
	}
	if (len > pt_buf_free(b))
		http_log_flush(lf);
	if (len > pt_buf_free(b)) {
		http_log_write_fd(lf, data, len);
		return;
	}
	pt_buf_append(b, data, len);
	if (lf->flush != 0 && !pt_timer_armed(&lf->timer))
		pt_timer_set(&lf->timer, lf->flush);
}

/* is the if= condition of <log> true for <r>: non-empty and not "0" */
static int
http_log_cond(struct pt_request *r, const struct pt_cv *cond)
{
	struct pt_str v;

	pt_cv_eval(r, cond, &v);
	return !(v.len == 0 || (v.len == 1 && v.data[0] == '0'));
}

/* LOG phase: one line per access_log of the request's location */
static int
http_log_handler(struct pt_request *r)
{
	struct http_log_loc_conf *lc = pt_http_loc_conf(r, &pt_mod_http_log);
	struct http_log *log;
	struct pt_str line;
	size_t i;

	if (lc == NULL || lc->logs == NULL)
		return PT_DECLINED;
	log = lc->logs->elts;
	for (i = 0; i < lc->logs->nelts; i++) {
		if (log[i].file->of->fd < 0)
			continue;
		if (log[i].cond != NULL && !http_log_cond(r, log[i].cond))
			continue;
		http_log_line(r, log[i].fmt, &line);
		http_log_write(log[i].file, line.data, line.len);
	}
	return PT_DECLINED;
}

static int
http_log_postconfig(struct pt_cycle *cycle)
{
	if (cycle->http == NULL)
		return PT_OK;
	return pt_phase_add(cycle, PT_PHASE_LOG, 100, http_log_handler);
}

/* worker start: per-worker buffers and flush timers */
static int
http_log_init_worker(struct pt_cycle *cycle)
{
	struct http_log_main_conf *mc = http_log_cycle_main(cycle);
	struct http_log_file **files;
	size_t i;

	if (mc == NULL)
		return PT_OK;
	files = mc->files.elts;
	for (i = 0; i < mc->files.nelts; i++) {
		pt_timer_init(&files[i]->timer, http_log_flush_timer, files[i]);
		if (files[i]->buffer != 0 && files[i]->of->buf == NULL)
			files[i]->of->buf = pt_buf_create(cycle->pool, files[i]->buffer);
	}
	return PT_OK;
}

static void
http_log_exit_worker(struct pt_cycle *cycle)
{
	struct http_log_main_conf *mc = http_log_cycle_main(cycle);
	struct http_log_file **files;
	size_t i;

	if (mc == NULL)
		return;
	files = mc->files.elts;
	for (i = 0; i < mc->files.nelts; i++)
		http_log_flush(files[i]);
}

/*
 * USR1 in a worker (also usable in the master): write out the buffers of
 * <cycle>'s access logs, then reopen each file by path and dup2() the new
 * descriptor onto the old one, so the fd number stays the same. A file
 * that cannot be reopened keeps its old descriptor (error logged).
 */
void
pt_http_log_reopen(struct pt_cycle *cycle)
{
	struct http_log_main_conf *mc = http_log_cycle_main(cycle);
	struct http_log_file **files;
	struct pt_open_file *of;
	size_t i;
	int fd;

	if (mc == NULL)
		return;
	files = mc->files.elts;
	for (i = 0; i < mc->files.nelts; i++) {
		of = files[i]->of;
		if (of->fd < 0)
			continue;
		http_log_flush(files[i]);
		fd = pt_log_open_file(of->path);
		if (fd < 0) {
			pt_log(PT_LOG_ALERT, errno, "open() \"%s\" failed", of->path);
			continue;
		}
		if (dup2(fd, of->fd) < 0)
			pt_log(PT_LOG_ALERT, errno, "dup2() for \"%s\" failed", of->path);
		else
			(void)fcntl(of->fd, F_SETFD, FD_CLOEXEC);
		close(fd);
	}
}

/* $remote_user: no authentication module yet, so never a value */
static int
http_log_var_remote_user(struct pt_request *r, void *data, struct pt_str *out)
{
	(void)r;
	(void)data;
	(void)out;
	return PT_DECLINED;
}

static const struct pt_var_def http_log_variables[] = {
	{ "remote_user", 0, http_log_var_remote_user, NULL },
	PT_VAR_DEF_END
};

static const struct pt_directive http_log_directives[] = {
	{ "log_format", PT_CTX_HTTP, PT_D_MULTI, 0, 2, PT_D_ARGS_ANY, PT_LEVEL_HTTP,
	    PT_NO_OFFSET, http_log_set_format, NULL, NULL,
	    "define access log format NAME [escape=default|json|none] STRING ..." },
	{ "access_log", PT_CTX_HTTP_ANY, PT_D_MULTI, 0, 1, 5, PT_LEVEL_LOC,
	    PT_NO_OFFSET, http_log_set_log, "logs/access.log combined", NULL,
	    "write an access log: PATH [FORMAT [buffer=SIZE] [flush=TIME] [if=COND]] or off" },
	PT_DIRECTIVE_END
};

struct pt_module pt_mod_http_log = {
	.name = "http_log",
	.directives = http_log_directives,
	.conf_size = { [PT_LEVEL_HTTP] = sizeof(struct http_log_main_conf),
		       [PT_LEVEL_LOC] = sizeof(struct http_log_loc_conf) },
	.conf_create = http_log_conf_create,
	.conf_merge = http_log_conf_merge,
	.postconfig = http_log_postconfig,
	.init_master = http_log_init_master,
	.init_worker = http_log_init_worker,
	.exit_worker = http_log_exit_worker,
	.variables = http_log_variables,
};
