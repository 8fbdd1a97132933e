/*
 * privdrop.c: a worker gives up root right after fork, before it runs any
 * module code (OpenBSD order: groups, gid, uid, then verify). The master
 * keeps root to bind sockets and open log files on reload.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* setresuid(2), getresuid(2) */
#endif
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include "../master/master.h"

/* see master.h; a new worker process, before pt_worker_main() */
int
pt_privdrop(const struct pt_core_conf *core)
{
	struct passwd	*pw;
	struct group	*gr;
	uid_t		 uid, ruid, euid, suid;
	gid_t		 gid, rgid, egid, sgid;

	if (geteuid() != 0 || core->user == NULL)
		return PT_OK;

	errno = 0;
	pw = getpwnam(core->user);
	if (pw == NULL) {
		pt_log(PT_LOG_EMERG, errno, "getpwnam(\"%s\") failed%s",
		    core->user, errno ? "" : ": no such user");
		return PT_ERROR;
	}
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (core->group != NULL) {
		errno = 0;
		gr = getgrnam(core->group);
		if (gr == NULL) {
			pt_log(PT_LOG_EMERG, errno, "getgrnam(\"%s\") failed%s",
			    core->group, errno ? "" : ": no such group");
			return PT_ERROR;
		}
		gid = gr->gr_gid;
	}

	if (initgroups(core->user, gid) == -1) {
		pt_log(PT_LOG_EMERG, errno, "initgroups(\"%s\", %d) failed",
		    core->user, (int)gid);
		return PT_ERROR;
	}
	if (setresgid(gid, gid, gid) == -1) {
		pt_log(PT_LOG_EMERG, errno, "setresgid(%d) failed", (int)gid);
		return PT_ERROR;
	}
	if (setresuid(uid, uid, uid) == -1) {
		pt_log(PT_LOG_EMERG, errno, "setresuid(%d) failed", (int)uid);
		return PT_ERROR;
	}

	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1 ||
	    ruid != uid || euid != uid || suid != uid ||
	    rgid != gid || egid != gid || sgid != gid) {
		pt_log(PT_LOG_EMERG, 0, "privileges of user \"%s\" were not "
		    "fully applied", core->user);
		return PT_ERROR;
	}
	if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1)) {
		pt_log(PT_LOG_EMERG, 0, "user \"%s\" could regain root, "
		    "refusing to run", core->user);
		return PT_ERROR;
	}
	return PT_OK;
}
