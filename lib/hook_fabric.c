/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * hook_fabric.c -- libfabric's registration cache told of region ranges
 * that go (daxmap_fabric_hook(), daxmap.h).
 *
 * libfabric caches registrations by virtual address and learns of unmaps
 * from a memory monitor; its userfaultfd monitor cannot watch DAX
 * mappings (UFFDIO_REGISTER gives EINVAL on devdax and fsdax). This
 * monitor, imported in its place through the "mr_cache" import extension
 * (fi_import(), fi_ext.h), is told by the library of each region range a
 * release zaps or the process unmaps, before it goes, and says a cached
 * registration is valid only while a region mapping still maps its range:
 * registrations of other memory are made anew at each use, since this
 * monitor does not see that memory go. libfabric moves a notified entry to
 * a list it deregisters at its next cache operation; given a domain
 * (daxmap_fabric_hook_domain()), fi_mr_reg() is asked for one inaccessible
 * page of the library's own so that happens at once (the registration
 * itself fails: the kernel refuses a PROT_NONE page, and nothing of the
 * library's stays cached).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_ext.h>

#include "daxmap.h"
#include "error.h"
#include "region_map.h"
#include "util.h"

#define HOOK_SLOT 1U

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fid_mem_monitor monitor;
static bool imported;
static struct fid_domain *kick_domain;
static void *page;

static int mon_start(struct fid_mem_monitor *m)
{
	(void)m;
	return 0;
}

static void mon_stop(struct fid_mem_monitor *m)
{
	(void)m;
}

static int mon_subscribe(struct fid_mem_monitor *m, const void *addr, size_t len)
{
	(void)m;
	(void)addr;
	(void)len;
	return 0;
}

static void mon_unsubscribe(struct fid_mem_monitor *m, const void *addr, size_t len)
{
	(void)m;
	(void)addr;
	(void)len;
}

static bool mon_valid(struct fid_mem_monitor *m, const void *addr, size_t len)
{
	(void)m;
	return region_map_covers(addr, len);
}

static struct fi_ops_mem_monitor mon_ops = {
	.size = sizeof(struct fi_ops_mem_monitor),
	.start = mon_start,
	.stop = mon_stop,
	.subscribe = mon_subscribe,
	.unsubscribe = mon_unsubscribe,
	.valid = mon_valid,
};

static void on_zap(void *addr, size_t len)
{
	struct fid_mr *mr;

	pthread_mutex_lock(&lock);
	if (imported && monitor.import_ops && monitor.import_ops->notify)
		monitor.import_ops->notify(&monitor, addr, len);
	if (kick_domain && page &&
	    fi_mr_reg(kick_domain, page, 4096, FI_READ | FI_WRITE, 0, 0, 0, &mr, NULL) == 0)
		fi_close(&mr->fid);
	pthread_mutex_unlock(&lock);
}

DAXMAP_EXPORT int daxmap_fabric_hook(void)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (!imported) {
		memset(&monitor, 0, sizeof(monitor));
		monitor.fid.fclass = FI_CLASS_MEM_MONITOR;
		monitor.export_ops = &mon_ops;
		rc = fi_import(FI_VERSION(1, 13), "mr_cache", NULL, 0, 0, &monitor.fid, NULL);
		if (rc)
			rc = daxmap_err(rc < 0 ? -rc : EIO,
					"daxmap_fabric_hook: libfabric refused the memory monitor (fi_import \"mr_cache\"): %s",
					fi_strerror(rc < 0 ? -rc : rc));
		else
			imported = true;
	}
	pthread_mutex_unlock(&lock);
	if (rc == 0)
		region_map_zap_hook(HOOK_SLOT, on_zap);
	return rc;
}

DAXMAP_EXPORT int daxmap_fabric_hook_domain(struct fid_domain *domain)
{
	pthread_mutex_lock(&lock);
	if (!imported) {
		pthread_mutex_unlock(&lock);
		return daxmap_err(EINVAL, "daxmap_fabric_hook_domain: call daxmap_fabric_hook() first, before the domain is opened");
	}
	if (domain && !page) {
		page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED) {
			page = NULL;
			pthread_mutex_unlock(&lock);
			return daxmap_err(errno, "daxmap_fabric_hook_domain: mmap of a page: %s",
					  strerror(errno));
		}
	}
	kick_domain = domain;
	pthread_mutex_unlock(&lock);
	return 0;
}
