# C unit tests print TAP and run under the same driver as the .t files
check_PROGRAMS += t/unit/parse
t_unit_parse_SOURCES = t/unit/parse.c worker/http_parse.c worker/core.c worker/pool.c
t_unit_parse_CPPFLAGS = -I$(top_srcdir)/worker
t_unit_parse_CFLAGS = $(PT_CFLAGS)

check_PROGRAMS += t/unit/shm
t_unit_shm_SOURCES = t/unit/shm.c worker/shm.c worker/log.c worker/core.c \
	worker/pool.c master/zone.c
t_unit_shm_CPPFLAGS = -I$(top_srcdir)/worker -I$(top_srcdir)/master
t_unit_shm_CFLAGS = $(PT_CFLAGS)

check_PROGRAMS += t/unit/conf
t_unit_conf_SOURCES = t/unit/conf.c master/conf_read.c master/conf_nginx.c \
	master/conf_native.c master/conf_apply.c master/conf_dump.c master/cycle.c \
	worker/core.c worker/pool.c worker/log.c
t_unit_conf_CPPFLAGS = -I$(top_srcdir)/worker
t_unit_conf_CFLAGS = $(PT_CFLAGS) $(CONFUSE_CFLAGS)
t_unit_conf_LDADD = $(CONFUSE_LIBS)
TESTS += t/unit/conf

TEST_EXTENSIONS = .t
T_LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
T_LOG_COMPILER = $(PERL)
AM_T_LOG_FLAGS = -I$(srcdir)/t/lib
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
AM_TESTS_ENVIRONMENT = PORTICO_BINARY=$(abs_top_builddir)/portico; \
	PORTICO_SRCDIR=$(abs_top_srcdir); PORTICO_BUILDDIR=$(abs_top_builddir); \
	export PORTICO_BINARY PORTICO_SRCDIR PORTICO_BUILDDIR;

# the .t list is taken at configure time (re-run configure after adding one)
TESTS += t/unit/parse t/unit/shm $(PT_TEST_SCRIPTS)
EXTRA_DIST += t/lib/Portico/Test.pm $(PT_TEST_SCRIPTS)
