/*
 * regex.h: PCRE2 regular expressions for locations, server names,
 * rewrite, if and map. Patterns are compiled (with JIT when the library
 * has it) at configuration time; matching uses one match-data block per
 * process, sized for the largest pattern, so a request allocates nothing
 * beyond the copy of its capture offsets in its pool.
 */
#ifndef PT_REGEX_H
#define PT_REGEX_H

#include "core.h"
#include "conf.h"

struct pt_request;

struct pt_regex {
	void		*code;		/* pcre2_code * */
	int		 ncaptures;	/* capturing groups (not counting $0) */
	int		 nnamed;	/* named groups */
	const char	*pattern;	/* as written, for messages and -T */
};

/*
 * Compile <pattern> (caseless when <caseless>). Named groups become
 * variables ($name). Returns NULL with *err set ("pcre2_compile() failed:
 * MESSAGE in \"PATTERN\" at offset N") on error.
 */
struct pt_regex	*pt_regex_compile(struct pt_conf_ctx *cf, const char *pattern, int caseless,
		    const char **err);

/*
 * Match <re> against <s>. On a match the capture offsets are copied into
 * r->captures (r's pool) and <s> becomes r->captures_data, so $0..$9 and
 * named captures refer to this match; with <r> NULL nothing is kept.
 * Returns 1 on a match, 0 when it does not match, PT_ERROR on a PCRE2
 * error (logged).
 */
int		 pt_regex_exec(struct pt_request *r, const struct pt_regex *re, struct pt_str s);

/* getter data for $N is (void *)(intptr_t)N; for a named capture, its name */
int		 pt_regex_var_capture(struct pt_request *r, void *data, struct pt_str *out);
int		 pt_regex_var_named(struct pt_request *r, void *data, struct pt_str *out);

#endif /* PT_REGEX_H */
