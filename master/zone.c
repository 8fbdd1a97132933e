/*
 * zone.c: shared-memory zones of a cycle. Modules declare zones while the
 * configuration is applied (pt_zone_add); the master maps them before it
 * forks, carrying a zone over from the previous cycle when its name, size
 * and owner are unchanged, so counters and caches survive a reload.
 */
#include "master.h"

static struct pt_zone *
zone_find(struct pt_cycle *cycle, const char *name)
{
	struct pt_zone	**z;
	size_t		  i;

	if (cycle == NULL || cycle->zones.elts == NULL)
		return NULL;
	z = cycle->zones.elts;
	for (i = 0; i < cycle->zones.nelts; i++)
		if (strcmp(z[i]->name, name) == 0)
			return z[i];
	return NULL;
}

/*
 * Declare zone <name> of <size> bytes for module <owner>, with <init>
 * called once it is mapped. A <size> of 0 only references the zone (a
 * directive that uses a zone declared elsewhere, maybe later in the
 * file); its size must be declared by someone before mapping. Declaring
 * the same name again returns the same zone; another owner or another
 * non-zero size is an error. Returns the zone, or NULL with a message
 * (from the cycle pool) in *<err>. Master, from a directive setter.
 */
struct pt_zone *
pt_zone_add(struct pt_conf_ctx *cf, const char *name, size_t size,
    const struct pt_module *owner, pt_zone_init_fn init, const char **err)
{
	struct pt_cycle	*cycle = cf->cycle;
	struct pt_zone	*z, **slot;
	const char	*dummy;

	PT_ASSERT_MASTER();
	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	PT_ASSERT(owner != NULL);
	if (err == NULL)
		err = &dummy;

	if (name == NULL || name[0] == '\0') {
		*err = "empty zone name";
		return NULL;
	}
	if (size != 0 && size < PT_SHM_MIN_SIZE) {
		*err = pt_psprintf(cf->pool, "zone \"%s\" is too small: %zu bytes, "
		    "at least %dk", name, size, PT_SHM_MIN_SIZE / 1024);
		return NULL;
	}

	z = zone_find(cycle, name);
	if (z != NULL) {
		if (z->owner != owner) {
			*err = pt_psprintf(cf->pool, "zone \"%s\" is already used "
			    "by module %s", name, z->owner->name);
			return NULL;
		}
		if (size != 0 && z->size != 0 && size != z->size) {
			*err = pt_psprintf(cf->pool, "zone \"%s\" is already "
			    "declared with a size of %zu bytes", name, z->size);
			return NULL;
		}
		if (size != 0)
			z->size = size;
		if (z->init == NULL)
			z->init = init;
		return z;
	}

	if (cycle->zones.elts == NULL)
		pt_array_init(&cycle->zones, cycle->pool, 4, sizeof(struct pt_zone *));
	z = pt_pcalloc(cycle->pool, sizeof(*z));
	z->magic = PT_ZONE_MAGIC;
	z->name = pt_pstrdup(cycle->pool, name);
	z->size = size;
	z->owner = owner;
	z->init = init;
	slot = pt_array_push(&cycle->zones);
	*slot = z;
	return z;
}

/* see master.h */
int
pt_zones_check(struct pt_cycle *cycle)
{
	struct pt_zone	**zones = cycle->zones.elts;
	size_t		  i;
	int		  rc = PT_OK;

	for (i = 0; i < cycle->zones.nelts; i++) {
		if (zones[i]->size == 0) {
			pt_log(PT_LOG_EMERG, 0, "zone \"%s\" of module %s is used "
			    "but never declared with a size", zones[i]->name,
			    zones[i]->owner->name);
			rc = PT_ERROR;
		}
	}
	return rc;
}

/* see master.h */
int
pt_zones_map(struct pt_cycle *cycle, struct pt_cycle *old)
{
	struct pt_zone	**zones, *z, *o;
	char		  ctx[96];
	void		 *old_data;
	size_t		  i;

	PT_ASSERT_MASTER();
	PT_CHECK_OBJ(cycle, PT_CYCLE_MAGIC);
	if (pt_zones_check(cycle) != PT_OK)
		return PT_ERROR;
	zones = cycle->zones.elts;

	for (i = 0; i < cycle->zones.nelts; i++) {
		z = zones[i];
		PT_CHECK_OBJ(z, PT_ZONE_MAGIC);

		old_data = NULL;
		o = zone_find(old, z->name);
		if (o != NULL && o->shm != NULL && o->size == z->size &&
		    o->owner == z->owner) {
			z->shm = o->shm;
			o->shm = NULL;
			z->reused = 1;
			old_data = o->data;
		} else {
			snprintf(ctx, sizeof(ctx), " in %s zone \"%s\"",
			    z->owner->name, z->name);
			z->shm = pt_shm_create(z->size, ctx);
			if (z->shm == NULL) {
				pt_log(PT_LOG_EMERG, errno, "could not map %zu bytes "
				    "for zone \"%s\"", z->size, z->name);
				goto failed;
			}
			z->reused = 0;
		}

		if (z->init != NULL && z->init(z, old_data) != PT_OK) {
			pt_log(PT_LOG_EMERG, 0, "could not initialise zone \"%s\" "
			    "of module %s", z->name, z->owner->name);
			goto failed;
		}
	}
	return PT_OK;

failed:
	pt_zones_unmap(cycle, old);
	return PT_ERROR;
}

/* see master.h */
void
pt_zones_unmap(struct pt_cycle *cycle, struct pt_cycle *old)
{
	struct pt_zone	**zones, *z, *o;
	size_t		  i;

	PT_ASSERT_MASTER();
	zones = cycle->zones.elts;
	for (i = 0; i < cycle->zones.nelts; i++) {
		z = zones[i];
		if (z->shm == NULL)
			continue;
		o = z->reused ? zone_find(old, z->name) : NULL;
		if (o != NULL && o->shm == NULL)
			o->shm = z->shm;
		else
			pt_shm_destroy(z->shm);
		z->shm = NULL;
	}
}

/* see master.h */
void
pt_zones_force_unlock(struct pt_cycle *cycle, pid_t pid)
{
	struct pt_zone	**zones;
	size_t		  i;

	PT_ASSERT_MASTER();
	zones = cycle->zones.elts;
	for (i = 0; i < cycle->zones.nelts; i++) {
		if (zones[i]->shm != NULL && pt_shm_force_unlock(zones[i]->shm, pid))
			pt_log(PT_LOG_ALERT, 0, "shared memory zone \"%s\" was "
			    "locked by %d, unlocked", zones[i]->name, (int)pid);
	}
}
