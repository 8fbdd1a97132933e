/*
 * core.h: return codes, strings, assertions and small helpers shared by
 * every part of portico (master, worker and modules).
 */
#ifndef PT_CORE_H
#define PT_CORE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define PT_OK		 0
#define PT_ERROR	-1
#define PT_AGAIN	-2
#define PT_DECLINED	-3
#define PT_DONE		-4

/* "unset" sentinels for configuration slots, merged later */
#define PT_UNSET	 (-1)
#define PT_UNSET_SIZE	 ((size_t)-1)
#define PT_UNSET_MSEC	 ((pt_msec_t)-1)
#define PT_UNSET_PTR	 NULL

typedef uint64_t pt_msec_t;		/* milliseconds */

/* a counted string; not NUL-terminated unless stated */
struct pt_str {
	size_t		 len;		/* bytes at <data> */
	const char	*data;		/* may be NULL when len == 0 */
};

#define PT_STR(s)	((struct pt_str){ sizeof(s) - 1, (s) })
#define PT_NULL_STR	((struct pt_str){ 0, NULL })

#define PT_NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define PT_MIN(a, b)	((a) < (b) ? (a) : (b))
#define PT_MAX(a, b)	((a) > (b) ? (a) : (b))
#define PT_ALIGN(n, a)	(((n) + ((a) - 1)) & ~((size_t)(a) - 1))

#define pt_likely(x)	__builtin_expect(!!(x), 1)
#define pt_unlikely(x)	__builtin_expect(!!(x), 0)

/* container_of: the struct that holds member <m> at <p> */
#define pt_container_of(p, type, m) \
	((type *)(void *)((char *)(p) - offsetof(type, m)))

/* always-on cheap assertion; aborts with file:line */
void	pt_assert_fail(const char *expr, const char *file, int line)
	    __attribute__((noreturn));
#define PT_ASSERT(c) \
	do { if (pt_unlikely(!(c))) pt_assert_fail(#c, __FILE__, __LINE__); } while (0)
#ifdef PT_DEBUG
#define PT_DASSERT(c)	PT_ASSERT(c)
#else
#define PT_DASSERT(c)	do { } while (0)
#endif
#define PT_CHECK_OBJ(o, m)	PT_ASSERT((o) != NULL && (o)->magic == (m))

/* case-insensitive compare of <n> bytes; <b> must be lowercase */
int	pt_strncasecmp_lc(const char *a, const char *b, size_t n);
/* compare a counted string with a lowercase C string, ignoring case */
static inline int
pt_str_eq_lc(struct pt_str s, const char *lc)
{
	size_t n = strlen(lc);

	return s.len == n && pt_strncasecmp_lc(s.data, lc, n) == 0;
}

/*
 * Parsers for configuration units. Each returns PT_OK and stores the
 * value, or PT_ERROR on bad input (no partial store).
 *   sizes: 1024, 8k, 1m, 1g          times: 500ms, 30s, 5m, 1h, 2d, 30 (= s)
 */
int	pt_parse_size(const char *s, size_t *out);
int	pt_parse_msec(const char *s, pt_msec_t *out);
int	pt_parse_int(const char *s, long min, long max, long *out);

/* write <v> in decimal at <p>; returns the end (no NUL) */
char	*pt_fmt_u64(char *p, uint64_t v);
/* write <ms> as seconds with millisecond resolution ("1.234") at <p> */
char	*pt_fmt_msec(char *p, pt_msec_t ms);
/* append a C string literal or bytes, returning the new end */
static inline char *
pt_cpymem(char *p, const void *src, size_t n)
{
	memcpy(p, src, n);
	return p + n;
}
#define pt_cpylit(p, lit)	pt_cpymem((p), (lit), sizeof(lit) - 1)

/* current time cached once per event-loop iteration (see event.h) */
extern pt_msec_t	pt_current_msec;
extern time_t		pt_current_sec;
void	pt_time_update(void);
/* cached formatted times, updated with pt_time_update() */
extern char		pt_time_local[sizeof("28/Sep/1970:12:00:00 +0600")];
extern char		pt_time_iso8601[sizeof("1970-09-28T12:00:00+06:00")];
extern char		pt_time_http[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
extern char		pt_time_errlog[sizeof("1970/09/28 12:00:00")];

#endif /* PT_CORE_H */
