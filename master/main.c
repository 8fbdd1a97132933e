/*
 * main.c: the command line. nginx's options, so scripts and habits carry
 * over:
 *
 *   portico [-c file] [-p prefix] [-e file|stderr] [-g directives]
 *           [-t|-T] [-q] [-v|-V] [-s stop|quit|reload|reopen] [-h]
 *
 * Everything but -s, -t and -T ends in pt_master_run().
 */
#define PCRE2_CODE_UNIT_WIDTH	8
#include <limits.h>
#include <signal.h>
#include <unistd.h>
#include <confuse.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <pcre2.h>
#include "master.h"

#ifndef PT_SYSCONFDIR
#define PT_SYSCONFDIR	"/usr/local/etc/portico"
#endif
#ifndef PT_PREFIX
#define PT_PREFIX	"/usr/local/"
#endif
#ifndef PT_CONFIGURE_ARGS
#define PT_CONFIGURE_ARGS	""
#endif

/* what the command line asked for */
struct main_opts {
	const char	*conf_file;	/* -c, NULL = default */
	const char	*prefix;	/* -p, NULL = PT_PREFIX */
	const char	*error_log;	/* -e, NULL = stderr */
	const char	*directives;	/* -g */
	const char	*signal;	/* -s */
	int		 test;		/* -t (1) or -T (2) */
	int		 quiet;		/* -q */
	int		 version;	/* -v (1) or -V (2) */
	int		 help;		/* -h, -? */
};

/* the files the master reloads, kept beyond the first cycle */
static char	main_conf_file[PATH_MAX];
static char	main_prefix[PATH_MAX];
static char	main_errlog_path[PATH_MAX];

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: portico [-hqtTvV] [-c file] [-p prefix] [-e file|stderr]\n"
	    "               [-g directives] [-s stop|quit|reload|reopen]\n"
	    "\n"
	    "  -c file        configuration file (default %s/portico.conf)\n"
	    "  -p prefix      directory relative paths are resolved in "
	    "(default %s)\n"
	    "  -e file        error log until the configuration is read "
	    "(default stderr)\n"
	    "  -g directives  extra main-context directives, nginx syntax\n"
	    "  -t             check the configuration and exit\n"
	    "  -T             check the configuration, print it in native "
	    "syntax, exit\n"
	    "  -q             with -t or -T: report errors only\n"
	    "  -s signal      tell the running master to stop (TERM), quit "
	    "(QUIT),\n"
	    "                 reload (HUP) or reopen its logs (USR1)\n"
	    "  -v             print the version and exit\n"
	    "  -V             print the version and build details and exit\n"
	    "  -h             print this help and exit\n",
	    PT_SYSCONFDIR, PT_PREFIX);
}

static void
main_version(int full)
{
	char		pcre[64];
	uint32_t	jit = 0;
	int		i;

	fprintf(stderr, "portico version: portico/%s\n", PACKAGE_VERSION);
	if (!full)
		return;
#if defined(__clang__)
	fprintf(stderr, "built by clang %s\n", __clang_version__);
#elif defined(__GNUC__)
	fprintf(stderr, "built by gcc %s\n", __VERSION__);
#endif
	if (strcmp(OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT) == 0)
		fprintf(stderr, "built with %s\n", OPENSSL_VERSION_TEXT);
	else
		fprintf(stderr, "built with %s (running with %s)\n",
		    OPENSSL_VERSION_TEXT, OpenSSL_version(OPENSSL_VERSION));
	if (pcre2_config(PCRE2_CONFIG_VERSION, pcre) < 0)
		snprintf(pcre, sizeof(pcre), "%d.%d", PCRE2_MAJOR, PCRE2_MINOR);
	(void)pcre2_config(PCRE2_CONFIG_JIT, &jit);
	fprintf(stderr, "built with PCRE2 %s%s\n", pcre,
	    jit ? " (JIT available)" : "");
	fprintf(stderr, "built with libconfuse %s\n", confuse_version);
	fprintf(stderr, "configure arguments: %s\n", PT_CONFIGURE_ARGS);
	fprintf(stderr, "modules:");
	for (i = 0; pt_modules[i] != NULL; i++)
		fprintf(stderr, " %s", pt_modules[i]->name);
	fprintf(stderr, "\n");
}

/* parse argv as nginx does; returns PT_OK, or PT_ERROR after a message */
static int
main_options(int argc, char **argv, struct main_opts *o)
{
	const char	*p, *arg;
	int		 i;
	char		 c;

	for (i = 1; i < argc; i++) {
		p = argv[i];
		if (*p++ != '-' || *p == '\0') {
			pt_log(PT_LOG_STDERR, 0, "invalid option: \"%s\"", argv[i]);
			return PT_ERROR;
		}
		while (*p != '\0') {
			switch ((c = *p++)) {
			case '?':
			case 'h':
				o->help = 1;
				continue;
			case 'v':
				o->version = PT_MAX(o->version, 1);
				continue;
			case 'V':
				o->version = 2;
				continue;
			case 't':
				o->test = PT_MAX(o->test, 1);
				continue;
			case 'T':
				o->test = 2;
				continue;
			case 'q':
				o->quiet = 1;
				continue;
			case 'c':
			case 'p':
			case 'e':
			case 'g':
			case 's':
				break;
			default:
				pt_log(PT_LOG_STDERR, 0, "invalid option: \"%c\"", c);
				return PT_ERROR;
			}
			/* the rest of this word or the next word is the value */
			if (*p != '\0') {
				arg = p;
			} else if (i + 1 < argc) {
				arg = argv[++i];
			} else {
				pt_log(PT_LOG_STDERR, 0, "option \"-%c\" requires %s",
				    c, c == 'p' ? "a directory name" :
				    c == 'g' ? "directives" : c == 's' ?
				    "a signal name" : "a file name");
				return PT_ERROR;
			}
			switch (c) {
			case 'c':
				o->conf_file = arg;
				break;
			case 'p':
				o->prefix = arg;
				break;
			case 'e':
				o->error_log = arg;
				break;
			case 'g':
				o->directives = arg;
				break;
			case 's':
				if (strcmp(arg, "stop") != 0 && strcmp(arg, "quit") != 0 &&
				    strcmp(arg, "reload") != 0 &&
				    strcmp(arg, "reopen") != 0) {
					pt_log(PT_LOG_STDERR, 0, "invalid option: "
					    "\"-s %s\"", arg);
					return PT_ERROR;
				}
				o->signal = arg;
				break;
			}
			break;
		}
	}
	return PT_OK;
}

/* -e: the error log used until the configuration names one */
static int
main_startup_log(const struct main_opts *o)
{
	const char	*prefix = o->prefix != NULL ? o->prefix : PT_PREFIX;
	size_t		 len = strlen(prefix);
	int		 fd, n;

	if (o->error_log == NULL || strcmp(o->error_log, "stderr") == 0)
		return PT_OK;
	if (o->error_log[0] == '/')
		n = snprintf(main_errlog_path, sizeof(main_errlog_path), "%s",
		    o->error_log);
	else
		n = snprintf(main_errlog_path, sizeof(main_errlog_path), "%s%s%s",
		    prefix, len > 0 && prefix[len - 1] == '/' ? "" : "/",
		    o->error_log);
	if (n < 0 || (size_t)n >= sizeof(main_errlog_path)) {
		pt_log(PT_LOG_EMERG, 0, "error log path is too long");
		return PT_ERROR;
	}
	fd = pt_log_open_file(main_errlog_path);
	if (fd == -1) {
		pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed", main_errlog_path);
		return PT_ERROR;
	}
	pt_errlog.fd = fd;
	pt_errlog.path = main_errlog_path;
	return PT_OK;
}

/* -s: signal the master whose pid file <cycle> names */
static int
main_signal(struct pt_cycle *cycle, const char *name)
{
	static const struct {
		const char	*name;
		int		 sig;
	} sigs[] = {
		{ "stop", SIGTERM }, { "quit", SIGQUIT },
		{ "reload", SIGHUP }, { "reopen", SIGUSR1 },
	};
	const char	*path = cycle->core->pid;
	char		 buf[32];
	FILE		*f;
	size_t		 i, n;
	long		 pid;
	int		 sig = 0;

	for (i = 0; i < PT_NELEM(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			sig = sigs[i].sig;

	f = fopen(path, "r");
	if (f == NULL) {
		pt_log(PT_LOG_EMERG, errno, "open() \"%s\" failed", path);
		return PT_ERROR;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (pt_parse_int(buf, 1, INT_MAX, &pid) != PT_OK) {
		pt_log(PT_LOG_EMERG, 0, "invalid PID number \"%s\" in \"%s\"",
		    buf, path);
		return PT_ERROR;
	}
	if (kill((pid_t)pid, sig) == -1) {
		pt_log(PT_LOG_EMERG, errno, "kill(%ld, %d) failed", pid, sig);
		return PT_ERROR;
	}
	return PT_OK;
}

/* the configuration file name as pt_cycle_create() resolves it */
static void
main_conf_name(const struct main_opts *o, char *buf, size_t size)
{
	const char	*file = o->conf_file != NULL ? o->conf_file :
			    PT_SYSCONFDIR "/portico.conf";
	const char	*prefix = o->prefix != NULL ? o->prefix : PT_PREFIX;
	char		 cwd[PATH_MAX];
	size_t		 len = strlen(prefix);
	int		 n;

	if (file[0] == '/')
		n = snprintf(buf, size, "%s", file);
	else if (prefix[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		n = snprintf(buf, size, "%s%s%s", prefix,
		    len > 0 && prefix[len - 1] == '/' ? "" : "/", file);
	else
		n = snprintf(buf, size, "%s/%s%s%s", cwd, prefix,
		    len > 0 && prefix[len - 1] == '/' ? "" : "/", file);
	if (n < 0 || (size_t)n >= size)
		snprintf(buf, size, "%s", file);
}

/* -t, -T: returns the exit status */
static int
main_test(const struct main_opts *o)
{
	struct pt_cycle	*cycle;
	char		 name[PATH_MAX];

	cycle = pt_cycle_create(o->conf_file, o->prefix, o->directives, NULL);
	if (cycle == NULL) {
		main_conf_name(o, name, sizeof(name));
		pt_log(PT_LOG_STDERR, 0, "configuration file %s test failed", name);
		return 1;
	}
	if (!o->quiet)
		pt_log(PT_LOG_STDERR, 0, "the configuration file %s syntax is ok",
		    cycle->conf_file);
	if (pt_zones_check(cycle) != PT_OK || pt_master_test_files(cycle) != PT_OK) {
		pt_log(PT_LOG_STDERR, 0, "configuration file %s test failed",
		    cycle->conf_file);
		pt_cycle_free(cycle);
		return 1;
	}
	if (o->test == 2) {
		pt_conf_dump(stdout, cycle->conf_root);
		if (fflush(stdout) == EOF) {
			pt_log(PT_LOG_EMERG, errno, "writing the configuration "
			    "failed");
			pt_cycle_free(cycle);
			return 1;
		}
	}
	if (!o->quiet)
		pt_log(PT_LOG_STDERR, 0, "configuration file %s test is successful",
		    cycle->conf_file);
	pt_cycle_free(cycle);
	return 0;
}

/* <a>/<b> into <out> of <size> bytes; -1 when it does not fit */
static int
main_join(char *out, size_t size, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la + lb + 2 > size)
		return -1;
	memcpy(out, a, la);
	out[la] = '/';
	memcpy(out + la + 1, b, lb + 1);
	return 0;
}

/*
 * The binary a SIGUSR2 upgrade executes: argv[0] made absolute now, since
 * the master's working directory may change; a bare name is searched in
 * PATH as the shell did.
 */
static const char *
main_binary_path(const char *argv0)
{
	static char	path[PATH_MAX];
	char		cwd[PATH_MAX], *dirs, *dir, *save = NULL;
	const char	*env;

	if (strchr(argv0, '/') != NULL) {
		if (argv0[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL ||
		    main_join(path, sizeof(path), cwd, argv0) != 0)
			snprintf(path, sizeof(path), "%s", argv0);
		return path;
	}
	env = getenv("PATH");
	dirs = pt_xstrdup(env ? env : "/usr/local/sbin:/usr/sbin:/usr/bin:/bin");
	for (dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		if (main_join(path, sizeof(path), dir, argv0) == 0 && access(path, X_OK) == 0) {
			free(dirs);
			return path;
		}
	}
	free(dirs);
	snprintf(path, sizeof(path), "%s", argv0);
	return path;
}

int
main(int argc, char **argv)
{
	struct main_opts	o;
	struct pt_master_args	args;
	struct pt_cycle		*cycle;
	int			 rc;

	memset(&o, 0, sizeof(o));
	pt_heritage.master_pid = getpid();
	pt_heritage.is_worker = 0;
	pt_heritage.channel = -1;
	pt_time_update();

	if (main_options(argc, argv, &o) != PT_OK)
		return 1;
	if (o.help) {
		main_usage(stderr);
		return 0;
	}
	pt_modules_init();
	if (o.version) {
		main_version(o.version == 2);
		if (!o.test)
			return 0;
	}
	if (o.quiet && o.test)
		pt_errlog.level = PT_LOG_ERR;
	if (main_startup_log(&o) != PT_OK)
		return 1;

	if (o.test)
		return main_test(&o);

	cycle = pt_cycle_create(o.conf_file, o.prefix, o.directives, NULL);
	if (cycle == NULL)
		return 1;

	if (o.signal != NULL) {
		rc = main_signal(cycle, o.signal);
		pt_cycle_free(cycle);
		return rc == PT_OK ? 0 : 1;
	}

	/* reloads read the same files, resolved once */
	snprintf(main_conf_file, sizeof(main_conf_file), "%s", cycle->conf_file);
	snprintf(main_prefix, sizeof(main_prefix), "%s", cycle->prefix);
	args.conf_file = main_conf_file;
	args.prefix = main_prefix;
	args.directives = o.directives;
	args.argv = argv;
	args.binary = main_binary_path(argv[0]);
	return pt_master_run(cycle, &args);
}
