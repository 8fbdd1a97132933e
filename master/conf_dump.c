/*
 * conf_dump.c: print a configuration tree in the native dialect
 * (portico -T) and the directive tables (portico -T directives), master
 * only.
 *
 * Output rules, so that the text reads back into the same tree:
 *   simple directive   name = 'a'   or   name = {'a', 'b'}   or   name = true
 *                      (no arguments)
 *   block              name 'title' {   ...   }   (title = the arguments
 *                      joined with spaces, each double-quoted in the nginx
 *                      way when it needs it; no title when the directive
 *                      takes no arguments)
 *   raw block child    entry = {'key', 'value', ...}
 * Strings are single-quoted with \' and \\ escapes; a string holding a
 * newline, tab or carriage return is double-quoted with \n \t \r \" \\ \$
 * escapes instead. Indentation is 4 spaces.
 */
#include <stdio.h>
#include <string.h>

#include "core.h"
#include "conf_priv.h"

/* print <s> as a native string literal */
static void
dump_string(FILE *out, const char *s)
{
	const char *p;

	if (strpbrk(s, "\n\t\r") == NULL) {
		fputc('\'', out);
		for (p = s; *p != '\0'; p++) {
			if (*p == '\'' || *p == '\\')
				fputc('\\', out);
			fputc(*p, out);
		}
		fputc('\'', out);
		return;
	}
	fputc('"', out);
	for (p = s; *p != '\0'; p++) {
		switch (*p) {
		case '\n':
			fputs("\\n", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '"': case '\\': case '$':
			fputc('\\', out);
			fputc(*p, out);
			break;
		default:
			fputc(*p, out);
		}
	}
	fputc('"', out);
}

/* does <s> need nginx quoting to survive pt_conf_split_words()? */
static int
dump_needs_quotes(const char *s)
{
	return s[0] == '\0' || strpbrk(s, " \t\r\n\"'\\;{}") != NULL
	    || strstr(s, "${") != NULL;
}

/* the section title for <n>'s arguments, in a static-free heap string */
static char *
dump_title(const struct pt_conf_node *n)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f;
	const char *p;
	int i;

	f = open_memstream(&buf, &size);
	PT_ASSERT(f != NULL);
	for (i = 0; i < n->nargs; i++) {
		if (i > 0)
			fputc(' ', f);
		if (!dump_needs_quotes(n->args[i])) {
			fputs(n->args[i], f);
			continue;
		}
		fputc('"', f);
		for (p = n->args[i]; *p != '\0'; p++) {
			switch (*p) {
			case '"': case '\\':
				fputc('\\', f);
				fputc(*p, f);
				break;
			case '\n':
				fputs("\\n", f);
				break;
			case '\t':
				fputs("\\t", f);
				break;
			case '\r':
				fputs("\\r", f);
				break;
			default:
				fputc(*p, f);
			}
		}
		fputc('"', f);
	}
	fclose(f);
	return buf;
}

static void
dump_indent(FILE *out, int level)
{
	int i;

	for (i = 0; i < level; i++)
		fputs("    ", out);
}

/* name = value list for <n>, with <first> (raw key) before the args */
static void
dump_values(FILE *out, const char *name, const char *first, const struct pt_conf_node *n)
{
	int i, count = n->nargs + (first != NULL);

	fprintf(out, "%s = ", name);
	if (count == 0) {
		fputs("true\n", out);
		return;
	}
	if (count > 1)
		fputc('{', out);
	if (first != NULL) {
		dump_string(out, first);
		if (n->nargs > 0)
			fputs(", ", out);
	}
	for (i = 0; i < n->nargs; i++) {
		if (i > 0)
			fputs(", ", out);
		dump_string(out, n->args[i]);
	}
	if (count > 1)
		fputc('}', out);
	fputc('\n', out);
}

static void dump_children(FILE *out, const struct pt_conf_node *parent, unsigned ctx,
    int level);

/* one node in context <ctx> */
static void
dump_node(FILE *out, const struct pt_conf_node *n, unsigned ctx, int level)
{
	const struct pt_directive *d = NULL;
	unsigned cctx = 0;
	char *title;

	dump_indent(out, level);
	if (ctx == PT_CTX_RAW) {
		if (n->block)
			fprintf(out, "# (nested block \"%s\" cannot be written here)\n",
			    n->name);
		else
			dump_values(out, "entry", n->name, n);
		return;
	}
	if (ctx != 0)
		d = pt_conf_find(n->name, ctx, NULL);
	if (!n->block && (d == NULL || !(d->flags & PT_D_BLOCK))) {
		dump_values(out, n->name, NULL, n);
		return;
	}
	if (d != NULL && (d->flags & PT_D_BLOCK))
		cctx = (d->flags & PT_D_RAW_BLOCK) ? PT_CTX_RAW : d->block_ctx;
	fputs(n->name, out);
	if (n->nargs > 0 || (d != NULL && d->max_args > 0)) {
		title = dump_title(n);
		fputc(' ', out);
		dump_string(out, title);
		free(title);
	}
	fputs(" {\n", out);
	dump_children(out, n, cctx, level + 1);
	dump_indent(out, level);
	fputs("}\n", out);
}

static void
dump_children(FILE *out, const struct pt_conf_node *parent, unsigned ctx, int level)
{
	const struct pt_conf_node *n;

	for (n = parent->children; n != NULL; n = n->next)
		dump_node(out, n, ctx, level);
}

/*
 * Print the directives under <root> (the main context) to <out> in the
 * native dialect; see the rules at the top of this file.
 */
void
pt_conf_dump(FILE *out, const struct pt_conf_node *root)
{
	fputs("# portico: native\n", out);
	dump_children(out, root, PT_CTX_MAIN, 0);
}

/*
 * Print one line per directive row of every module to <out>:
 * name TAB contexts (comma-separated) TAB default ("-" if none) TAB doc.
 */
void
pt_conf_dump_directives(FILE *out)
{
	static const char *const ctx_names[] = {
		"main", "events", "http", "server", "location", "upstream", "if",
		"limit_except", "other",
	};
	const struct pt_directive *d;
	struct pt_module *m;
	const char *sep;
	size_t b;
	int i;

	for (i = 0; (m = pt_modules[i]) != NULL; i++) {
		for (d = m->directives; d != NULL && d->name != NULL; d++) {
			fprintf(out, "%s\t", d->name);
			sep = "";
			for (b = 0; b < PT_NELEM(ctx_names); b++) {
				if (d->ctx & (1u << b)) {
					fprintf(out, "%s%s", sep, ctx_names[b]);
					sep = ",";
				}
			}
			fprintf(out, "\t%s\t%s\n", d->def != NULL ? d->def : "-",
			    d->doc != NULL ? d->doc : "");
		}
	}
}
