/*
 * conf_nginx.c: the nginx dialect reader (master only).
 *
 * Syntax:
 *   name arg ... ;              a simple directive
 *   name arg ... { ... }        a block directive
 *   # comment                   to the end of the line, at a word start
 * A word is unquoted, or quoted with "..." or '...'. In any word a
 * backslash escapes the next character: \" \' \\ \t \r \n become the
 * character they name, any other \x is kept as the two characters (so
 * regexes like \.php$ need no doubling). Unquoted words end at
 * whitespace, ';', '{' or '}'; "${name}" is kept whole and literally
 * (variables are expanded at run time). A quoted string must be followed
 * by whitespace, ';', '{' or '}'.
 * "include PATH_OR_GLOB;" is replaced by the directives of the files it
 * names (either dialect; see conf_read.c).
 */
#include <string.h>

#include "core.h"
#include "log.h"
#include "pool.h"
#include "conf_priv.h"

enum ngx_tok {
	NGX_TOK_WORD = 0,	/* a word, in tk->word */
	NGX_TOK_SEMI,		/* ; */
	NGX_TOK_OPEN,		/* { */
	NGX_TOK_CLOSE,		/* } */
	NGX_TOK_EOF,		/* end of input */
	NGX_TOK_ERROR,		/* error already logged */
};

/* tokenizer state over one buffer */
struct ngx_lex {
	struct pt_conf_reader	*rd;		/* reader (pool, includes) */
	const char		*p;		/* next byte */
	const char		*end;		/* end of input */
	const char		*file;		/* file name (pooled) */
	int			 line;		/* line of <p> */
	int			 tok_line;	/* line where the last token started */
	char			*word;		/* last word, in rd->pool */
	const char		*err;		/* split mode: error text instead of logging */
	char			*scratch;	/* heap buffer for unescaping */
	size_t			 scratch_size;	/* bytes at <scratch> */
};

/* log "file:line: message" for the tokenizer (or keep it in split mode) */
static void __attribute__((format(printf, 3, 4)))
ngx_error(struct ngx_lex *lx, int line, const char *fmt, ...)
{
	static char errbuf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	if (lx->file == NULL)
		lx->err = errbuf;
	else
		pt_log(PT_LOG_EMERG, 0, "%s:%d: %s", lx->file, line, errbuf);
}

/* make room for <n> bytes in the scratch buffer */
static void
ngx_scratch(struct ngx_lex *lx, size_t n)
{
	if (n <= lx->scratch_size)
		return;
	lx->scratch_size = PT_MAX(n, lx->scratch_size * 2);
	lx->scratch = pt_xrealloc(lx->scratch, lx->scratch_size);
}

static int
ngx_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* unescape the pair "\<c>" into *out; returns 1 if <c> is a known escape */
static int
ngx_unescape(char c, char *out)
{
	switch (c) {
	case '"': case '\'': case '\\':
		*out = c;
		return 1;
	case 't':
		*out = '\t';
		return 1;
	case 'r':
		*out = '\r';
		return 1;
	case 'n':
		*out = '\n';
		return 1;
	}
	return 0;
}

/* read a quoted word starting at the quote; PT_OK or PT_ERROR */
static int
ngx_quoted(struct ngx_lex *lx)
{
	char q = *lx->p, c;
	const char *s = lx->p + 1;
	size_t n = 0;
	int start = lx->line;

	ngx_scratch(lx, (size_t)(lx->end - s) + 1);
	for (; s < lx->end && *s != q; s++) {
		if (*s == '\n')
			lx->line++;
		if (*s == '\\' && s + 1 < lx->end) {
			if (ngx_unescape(s[1], &c)) {
				lx->scratch[n++] = c;
				s++;
				continue;
			}
		}
		lx->scratch[n++] = *s;
	}
	if (s == lx->end) {
		ngx_error(lx, start, "unterminated quoted string");
		return PT_ERROR;
	}
	s++;
	if (s < lx->end && !ngx_is_space(*s) && *s != ';' && *s != '{' && *s != '}') {
		ngx_error(lx, lx->line, "unexpected \"%c\" after quoted string", *s);
		return PT_ERROR;
	}
	lx->p = s;
	lx->word = pt_pstrndup(lx->rd->pool, lx->scratch, n);
	return PT_OK;
}

/* read an unquoted word */
static int
ngx_bare(struct ngx_lex *lx)
{
	const char *s = lx->p;
	size_t n = 0;
	char c;

	ngx_scratch(lx, (size_t)(lx->end - s) + 1);
	while (s < lx->end && !ngx_is_space(*s) && *s != ';' && *s != '{' && *s != '}') {
		if (*s == '\\' && s + 1 < lx->end) {
			if (s[1] == '\n')
				lx->line++;
			if (ngx_unescape(s[1], &c))
				lx->scratch[n++] = c;
			else {
				lx->scratch[n++] = s[0];
				lx->scratch[n++] = s[1];
			}
			s += 2;
			continue;
		}
		if (*s == '$' && s + 1 < lx->end && s[1] == '{') {
			/* ${name}: the brace is part of the word */
			while (s < lx->end && *s != '}' && !ngx_is_space(*s))
				lx->scratch[n++] = *s++;
			if (s == lx->end || *s != '}') {
				ngx_error(lx, lx->line, "unterminated \"${\" variable");
				return PT_ERROR;
			}
			lx->scratch[n++] = *s++;
			continue;
		}
		lx->scratch[n++] = *s++;
	}
	lx->p = s;
	lx->word = pt_pstrndup(lx->rd->pool, lx->scratch, n);
	return PT_OK;
}

/* the next token; words are left in lx->word */
static enum ngx_tok
ngx_next(struct ngx_lex *lx)
{
	for (;;) {
		while (lx->p < lx->end && ngx_is_space(*lx->p)) {
			if (*lx->p == '\n')
				lx->line++;
			lx->p++;
		}
		if (lx->p < lx->end && *lx->p == '#') {
			while (lx->p < lx->end && *lx->p != '\n')
				lx->p++;
			continue;
		}
		break;
	}
	lx->tok_line = lx->line;
	if (lx->p == lx->end)
		return NGX_TOK_EOF;
	switch (*lx->p) {
	case ';':
		lx->p++;
		return NGX_TOK_SEMI;
	case '{':
		lx->p++;
		return NGX_TOK_OPEN;
	case '}':
		lx->p++;
		return NGX_TOK_CLOSE;
	case '"':
	case '\'':
		return ngx_quoted(lx) == PT_OK ? NGX_TOK_WORD : NGX_TOK_ERROR;
	}
	return ngx_bare(lx) == PT_OK ? NGX_TOK_WORD : NGX_TOK_ERROR;
}

/* handle "include X;" at node <n>: splice the files' nodes after *<tail> */
static int
ngx_include(struct ngx_lex *lx, struct pt_conf_node *n, struct pt_conf_node *parent,
    struct pt_conf_node **tail, unsigned ctx)
{
	struct pt_conf_node *first, *last;

	if (n->nargs != 1) {
		ngx_error(lx, n->line, "invalid number of arguments in \"include\" directive");
		return PT_ERROR;
	}
	if (pt_conf_include(lx->rd, n->args[0], lx->file, n->line, ctx, &first) != PT_OK)
		return PT_ERROR;
	if (first == NULL)
		return PT_OK;
	for (last = first; last->next != NULL; last = last->next)
		;
	if (*tail != NULL)
		(*tail)->next = first;
	else
		parent->children = first;
	*tail = last;
	return PT_OK;
}

/*
 * Parse directives into <parent> until the matching '}' (<depth> > 0) or
 * the end of input (<depth> == 0).
 */
static int
ngx_block(struct ngx_lex *lx, struct pt_conf_node *parent, unsigned ctx, int depth)
{
	struct pt_conf_node *n = NULL, *tail;
	enum ngx_tok t;

	tail = pt_conf_node_last(parent);
	for (;;) {
		t = ngx_next(lx);
		if (t == NGX_TOK_ERROR)
			return PT_ERROR;
		if (t == NGX_TOK_WORD) {
			if (n == NULL)
				n = pt_conf_node_new(lx->rd, lx->word, lx->file, lx->tok_line);
			else
				pt_conf_node_add_arg(lx->rd->pool, n, lx->word);
			continue;
		}
		if (t == NGX_TOK_EOF) {
			if (n != NULL) {
				ngx_error(lx, lx->line,
				    "unexpected end of file, expecting \";\" or \"}\"");
				return PT_ERROR;
			}
			if (depth > 0) {
				pt_log(PT_LOG_EMERG, 0, "%s:%d: unexpected end of file, expecting \"}\""
				    " (block \"%s\" opened at line %d)", lx->file, lx->line,
				    parent->name, parent->line);
				return PT_ERROR;
			}
			return PT_OK;
		}
		if (t == NGX_TOK_CLOSE) {
			if (n != NULL || depth == 0) {
				ngx_error(lx, lx->tok_line, "unexpected \"}\"");
				return PT_ERROR;
			}
			return PT_OK;
		}
		if (n == NULL) {
			ngx_error(lx, lx->tok_line, "unexpected \"%c\"",
			    t == NGX_TOK_SEMI ? ';' : '{');
			return PT_ERROR;
		}

		if (t == NGX_TOK_SEMI && strcmp(n->name, "include") == 0) {
			if (ngx_include(lx, n, parent, &tail, ctx) != PT_OK)
				return PT_ERROR;
			n = NULL;
			continue;
		}
		if (tail != NULL)
			tail->next = n;
		else
			parent->children = n;
		tail = n;
		if (t == NGX_TOK_OPEN) {
			unsigned cctx;

			if (depth + 1 >= PT_CONF_MAX_NEST) {
				ngx_error(lx, n->line, "blocks nested too deeply");
				return PT_ERROR;
			}
			n->block = 1;
			cctx = ctx == PT_CTX_RAW ? PT_CTX_RAW : pt_conf_child_ctx(n->name, ctx);
			if (ngx_block(lx, n, cctx, depth + 1) != PT_OK)
				return PT_ERROR;
		}
		n = NULL;
	}
}

/*
 * Parse <len> bytes of nginx-dialect text at <buf> from <file> (pooled
 * name) and append the directives to <parent>, whose children are in
 * context <ctx>. Returns PT_OK or PT_ERROR (logged as file:line).
 */
int
pt_conf_nginx_parse(struct pt_conf_reader *rd, const char *buf, size_t len,
    const char *file, struct pt_conf_node *parent, unsigned ctx)
{
	struct ngx_lex lx;
	int rc;

	memset(&lx, 0, sizeof(lx));
	lx.rd = rd;
	lx.p = buf;
	lx.end = buf + len;
	lx.file = file;
	lx.line = 1;
	rc = ngx_block(&lx, parent, ctx, 0);
	free(lx.scratch);
	return rc;
}

/*
 * Split <s> into words with the nginx quoting rules (no ';', '{' or '}'
 * outside quotes). Returns PT_OK with *<args> and *<nargs> set (from <pool>)
 * or PT_ERROR with a static message in *<err>.
 */
int
pt_conf_split_words(struct pt_pool *pool, const char *s, char ***args, int *nargs,
    const char **err)
{
	struct pt_conf_reader rd;
	struct pt_conf_node n;
	struct ngx_lex lx;
	enum ngx_tok t;
	int rc = PT_OK;

	memset(&rd, 0, sizeof(rd));
	rd.pool = pool;
	memset(&n, 0, sizeof(n));
	memset(&lx, 0, sizeof(lx));
	lx.rd = &rd;
	lx.p = s;
	lx.end = s + strlen(s);
	lx.line = 1;
	for (;;) {
		/* comments are not special here: "#" is an ordinary character */
		while (lx.p < lx.end && ngx_is_space(*lx.p))
			lx.p++;
		if (lx.p == lx.end)
			break;
		if (*lx.p == ';' || *lx.p == '{' || *lx.p == '}') {
			*err = "unexpected \";\", \"{\" or \"}\" (quote it)";
			rc = PT_ERROR;
			break;
		}
		if (*lx.p == '"' || *lx.p == '\'')
			t = ngx_quoted(&lx) == PT_OK ? NGX_TOK_WORD : NGX_TOK_ERROR;
		else
			t = ngx_bare(&lx) == PT_OK ? NGX_TOK_WORD : NGX_TOK_ERROR;
		if (t == NGX_TOK_ERROR) {
			*err = lx.err;
			rc = PT_ERROR;
			break;
		}
		pt_conf_node_add_arg(pool, &n, lx.word);
	}
	free(lx.scratch);
	if (rc != PT_OK)
		return rc;
	if (n.nargs == 0) {
		n.args = pt_pcalloc(pool, sizeof(char *));
	}
	*args = n.args;
	*nargs = n.nargs;
	return PT_OK;
}
