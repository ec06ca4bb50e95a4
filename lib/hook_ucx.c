/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hook_ucx.c -- UCX's registration cache told of region ranges that go
 * (daxmap_ucx_hook(), daxmap.h).
 *
 * UCX caches memory registrations by virtual address and drops one when
 * its memory hooks (UCM) report the range unmapped. A release replaces a
 * region mapping with PROT_NONE through mmap(MAP_FIXED), and a process
 * unmaps its region mappings; UCX 1.13 queues the invalidation and acts
 * on it only at its registration cache's next miss (ucs_rcache
 * check_inv_queue), so its MR kept the extents pinned after the release.
 * Here each such range is reported with ucm_vm_munmap() before it goes,
 * and, given the application's context, ucp_mem_map() is asked for one
 * inaccessible page of the library's own, which makes the cache act at
 * once (a miss runs the invalidations first) and registers nothing (the
 * kernel refuses a PROT_NONE page), so no MR of the library's stays in
 * the cache: an MR no one holds is deregistered then, one in use at its
 * ucp_mem_unmap(). A release waits for it either way (the kernel lists
 * it: foreign_holders.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#include <ucm/api/ucm.h>
#include <ucp/api/ucp.h>
#include <ucs/debug/log_def.h>

#include "daxmap.h"
#include "error.h"
#include "region_map.h"
#include "util.h"

#define HOOK_SLOT 0U

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ucp_context_h ctx;
static void *page;     /* PROT_NONE: asked for, to make UCX act */
static unsigned flags_set;
static bool quieted;
/* UCX logs its refusal of the inaccessible page as an error: a handler of
 * the library's (called before UCX's own, ucs_log_dispatch() goes from the
 * last pushed) keeps quiet what the kicking thread's kick logs. */
static __thread bool kicking;

static ucs_log_func_rc_t quiet_kick(const char *file, unsigned line, const char *function,
				    ucs_log_level_t level,
				    const ucs_log_component_config_t *comp_conf,
				    const char *message, va_list ap)
{
	(void)file;
	(void)line;
	(void)function;
	(void)level;
	(void)comp_conf;
	(void)message;
	(void)ap;
	return kicking ? UCS_LOG_FUNC_RC_STOP : UCS_LOG_FUNC_RC_CONTINUE;
}

static void on_zap(void *addr, size_t len)
{
	ucp_mem_map_params_t p = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
	};
	ucp_mem_h memh;

	ucm_vm_munmap(addr, len);
	pthread_mutex_lock(&lock);
	if (ctx && page) {
		p.address = page;
		p.length = 4096;
		kicking = true;
		if (ucp_mem_map(ctx, &p, &memh) == UCS_OK)
			ucp_mem_unmap(ctx, memh);
		kicking = false;
	}
	pthread_mutex_unlock(&lock);
}

DAXMAP_EXPORT int daxmap_ucx_hook(struct ucp_context *context, unsigned flags)
{
	if (flags & ~DAXMAP_UCX_EXTERNAL_EVENTS)
		return daxmap_err(EINVAL, "daxmap_ucx_hook: unknown flags 0x%x",
				  flags & ~DAXMAP_UCX_EXTERNAL_EVENTS);
	pthread_mutex_lock(&lock);
	if (context && !page) {
		page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED) {
			page = NULL;
			pthread_mutex_unlock(&lock);
			return daxmap_err(errno, "daxmap_ucx_hook: mmap of a page: %s", strerror(errno));
		}
	}
	ctx = context;
	if (context && !quieted) {
		ucs_log_push_handler(quiet_kick);
		quieted = true;
	}
	/* UCX's own hooks for that event are then not installed: the
	 * application reports its unmaps itself (ucm.h) */
	if ((flags & DAXMAP_UCX_EXTERNAL_EVENTS) && !(flags_set & DAXMAP_UCX_EXTERNAL_EVENTS))
		ucm_set_external_event(UCM_EVENT_VM_UNMAPPED);
	flags_set |= flags;
	pthread_mutex_unlock(&lock);
	region_map_zap_hook(HOOK_SLOT, on_zap);
	return 0;
}

DAXMAP_EXPORT void daxmap_ucx_unhook(void)
{
	region_map_zap_hook(HOOK_SLOT, NULL);
	pthread_mutex_lock(&lock);
	ctx = NULL;
	if (flags_set & DAXMAP_UCX_EXTERNAL_EVENTS)
		ucm_unset_external_event(UCM_EVENT_VM_UNMAPPED);
	flags_set = 0;
	pthread_mutex_unlock(&lock);
}
