portico_SOURCES += \
	worker/portico.h worker/core.h worker/pool.h worker/buf.h worker/log.h \
	worker/conf.h worker/module.h worker/cycle.h worker/shm.h \
	worker/event.h worker/conn.h worker/http_parse.h worker/http.h \
	worker/var.h worker/upstream.h worker/regex.h \
	worker/tbl/phases.h worker/tbl/close_reasons.h worker/tbl/http_status.h \
	worker/core.c \
	worker/pool.c \
	worker/buf.c \
	worker/log.c \
	worker/shm.c \
	worker/privdrop.c \
	worker/event.c \
	worker/conn.c \
	worker/tls_io.c \
	worker/worker.c \
	worker/http_parse.c \
	worker/http.c \
	worker/http_body.c \
	worker/http_output.c \
	worker/var.c \
	worker/regex.c \
	worker/upstream.c
