/*
 * core.c: unit parsers, the cached clock and small string helpers.
 */
#include <limits.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "log.h"

pt_msec_t	pt_current_msec;
time_t		pt_current_sec;
char		pt_time_local[sizeof("28/Sep/1970:12:00:00 +0600")];
char		pt_time_iso8601[sizeof("1970-09-28T12:00:00+06:00")];
char		pt_time_http[sizeof("Mon, 28 Sep 1970 06:00:00 GMT")];
char		pt_time_errlog[sizeof("1970/09/28 12:00:00")];

void
pt_assert_fail(const char *expr, const char *file, int line)
{
	pt_log(PT_LOG_ALERT, 0, "assertion \"%s\" failed at %s:%d", expr, file, line);
	abort();
}

int
pt_strncasecmp_lc(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c != (unsigned char)b[i])
			return c - (unsigned char)b[i];
	}
	return 0;
}

char *
pt_fmt_u64(char *p, uint64_t v)
{
	char tmp[20];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

char *
pt_fmt_msec(char *p, pt_msec_t ms)
{
	p = pt_fmt_u64(p, ms / 1000);
	*p++ = '.';
	*p++ = (char)('0' + ms % 1000 / 100);
	*p++ = (char)('0' + ms % 100 / 10);
	*p++ = (char)('0' + ms % 10);
	return p;
}

/* parse a decimal prefix; returns the number of digits, -1 on overflow */
static int
core_digits(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int n = 0;

	while (s[n] >= '0' && s[n] <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[n] - '0');
		n++;
	}
	*out = v;
	return n;
}

int
pt_parse_size(const char *s, size_t *out)
{
	uint64_t v, mul = 1;
	int n;

	n = core_digits(s, &v);
	if (n <= 0)
		return PT_ERROR;
	switch (s[n]) {
	case '\0':
		break;
	case 'k': case 'K':
		mul = 1024;
		break;
	case 'm': case 'M':
		mul = 1024 * 1024;
		break;
	case 'g': case 'G':
		mul = 1024 * 1024 * 1024;
		break;
	default:
		return PT_ERROR;
	}
	if (s[n] != '\0' && s[n + 1] != '\0')
		return PT_ERROR;
	if (v > (uint64_t)(SIZE_MAX / 2) / mul)
		return PT_ERROR;
	*out = (size_t)(v * mul);
	return PT_OK;
}

/*
 * Times may combine units as nginx allows ("1m30s"); a bare number is
 * seconds.
 */
int
pt_parse_msec(const char *s, pt_msec_t *out)
{
	uint64_t total = 0, v, mul;
	int n;

	if (*s == '\0')
		return PT_ERROR;
	while (*s) {
		n = core_digits(s, &v);
		if (n <= 0)
			return PT_ERROR;
		s += n;
		if (s[0] == 'm' && s[1] == 's') {
			mul = 1;
			s += 2;
		} else {
			switch (*s) {
			case '\0': mul = 1000; break;
			case 's': mul = 1000; s++; break;
			case 'm': mul = 60 * 1000; s++; break;
			case 'h': mul = 3600 * 1000; s++; break;
			case 'd': mul = 86400 * 1000; s++; break;
			case 'w': mul = 7 * 86400 * 1000ULL; s++; break;
			default: return PT_ERROR;
			}
		}
		if (v > (UINT64_MAX / 4) / mul)
			return PT_ERROR;
		total += v * mul;
	}
	*out = total;
	return PT_OK;
}

int
pt_parse_int(const char *s, long min, long max, long *out)
{
	uint64_t v;
	int neg = 0, n;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	n = core_digits(s, &v);
	if (n <= 0 || s[n] != '\0' || v > (uint64_t)LONG_MAX)
		return PT_ERROR;
	if ((neg ? -(long)v : (long)v) < min || (neg ? -(long)v : (long)v) > max)
		return PT_ERROR;
	*out = neg ? -(long)v : (long)v;
	return PT_OK;
}

/*
 * Refresh the cached clock; the event loop calls this once per wakeup so
 * the request path never calls time functions itself. Formatted strings
 * are rebuilt only when the second changes.
 */
void
pt_time_update(void)
{
	struct timespec ts;
	struct tm gm, lt;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	pt_current_msec = (pt_msec_t)ts.tv_sec * 1000 + (pt_msec_t)(ts.tv_nsec / 1000000);
	if (ts.tv_sec == pt_current_sec && pt_time_http[0] != '\0')
		return;
	pt_current_sec = ts.tv_sec;
	gmtime_r(&ts.tv_sec, &gm);
	localtime_r(&ts.tv_sec, &lt);
	/* the process never calls setlocale(), so %a and %b are English */
	strftime(pt_time_http, sizeof(pt_time_http), "%a, %d %b %Y %H:%M:%S GMT", &gm);
	strftime(pt_time_local, sizeof(pt_time_local), "%d/%b/%Y:%H:%M:%S %z", &lt);
	strftime(pt_time_errlog, sizeof(pt_time_errlog), "%Y/%m/%d %H:%M:%S", &lt);
	/* ISO 8601 wants the offset as +hh:mm; strftime gives +hhmm */
	n = strftime(pt_time_iso8601, sizeof(pt_time_iso8601), "%Y-%m-%dT%H:%M:%S%z", &lt);
	if (n == 24) {
		pt_time_iso8601[25] = '\0';
		pt_time_iso8601[24] = pt_time_iso8601[23];
		pt_time_iso8601[23] = pt_time_iso8601[22];
		pt_time_iso8601[22] = ':';
	}
}
