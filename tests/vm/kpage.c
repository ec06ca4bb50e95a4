/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kpage.c -- read a page's struct page records from the running kernel.
 *
 * x86-64 only.  The way there:
 *  1. /proc/PID/pagemap gives the PFN (bits 0-54; zero without CAP_SYS_ADMIN).
 *  2. /proc/kallsyms gives the addresses of vmemmap_base, page_offset_base
 *     and init_top_pgt.  With KASLR (CONFIG_RANDOMIZE_MEMORY) the first two
 *     are variables whose values are read through /proc/kcore.
 *  3. struct page of PFN is at vmemmap_base + PFN * 64.  /proc/kcore lists
 *     that virtual range only for System RAM (fs/proc/kcore.c), so the
 *     address is translated by walking the kernel page tables from
 *     init_top_pgt (4 or 5 levels), and the record is read through the
 *     direct map (page_offset_base + physical address), which kcore lists
 *     for all System RAM: where the memmap itself lives for hmem and
 *     "-M mem" namespaces.
 *  4. The fields are read at offsets taken from include/linux/mm_types.h of
 *     each supported version (struct page and struct folio, below).
 */
#define _GNU_SOURCE
#include "kpage.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* sizeof(struct page) with Debian's x86-64 configs (CONFIG_MEMCG=y, no
 * WANT_PAGE_VIRTUAL, no KMSAN, cpupid in the flags).  A large folio's
 * tail-to-head link checks it: a wrong size finds no head there. */
#define PAGE_STRUCT 64
#define PAGE_SZ 4096ULL
/* physical address bits of a page table entry (arch/x86 PTE_PFN_MASK) */
#define PTE_ADDR 0x000ffffffffff000ULL
#define PTE_PRESENT 0x1ULL
#define PTE_PSE 0x80ULL

/*
 * Offsets in the head page (folio) and in the second page of a large folio
 * (struct folio's __page_1 union), on 64-bit.  -1: the kernel has no such
 * field.
 *
 * All: struct page { flags @0; 5-word union @8 (compound_head/_head_1 at
 * @8 in a tail page); _mapcount @48; _refcount @52; memcg_data @56 }.
 *
 * 6.1: first tail page { compound_dtor u8 @16, compound_order u8 @17,
 *      compound_mapcount @20 (entire, -1 based), compound_pincount @24,
 *      compound_nr @28 }.
 * 6.12: __page_1 { _flags_1 @0 (order in its low byte), _large_mapcount
 *      @16, _entire_mapcount @20, _nr_pages_mapped @24, _pincount @28,
 *      _folio_nr_pages @32 }.
 * 7.3: __page_1 { _flags_1 @0 (order in its low byte), _large_mapcount
 *      @16, _nr_pages_mapped @20, _entire_mapcount @24, _pincount @28,
 *      _mm_id_mapcount[2] @32, _mm_id @40, _nr_pages @56 }; a tail page's
 *      compound_info @8 is either the head's address | 1 or, with
 *      CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP, a mask | 1 that turns the tail
 *      page's address into the head's (include/linux/page-flags.h).
 */
struct layout {
	const char *version;	/* MAJOR.MINOR */
	int order_u8;		/* the byte with the order, in page 1 */
	int large_mapcount, entire_mapcount, nr_pages_mapped, pincount;
};
static const struct layout layouts[] = {
	{ "6.1", 17, -1, 20, -1, 24 },
	{ "6.12", 0, 16, 20, 24, 28 },
	{ "7.3", 0, 16, 24, 20, 28 },
};
#define OFF_HEAD 8
#define OFF_MAPCOUNT 48
#define OFF_REFCOUNT 52

struct kpage {
	int kcore;
	Elf64_Phdr *seg;
	size_t nseg;
	uint64_t vmemmap_base, page_offset_base, init_top_pgt;
	int l5;
	const struct layout *lay;
};

static _Thread_local char errbuf[512];

const char *kpage_error(void)
{
	return errbuf;
}

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof(errbuf), fmt, ap);
	va_end(ap);
	return -1;
}

const char *kpage_layout(const struct kpage *kp)
{
	return kp->lay->version;
}

/* Kernel virtual memory through /proc/kcore's PT_LOAD segments. */
static int kread(struct kpage *kp, uint64_t va, void *buf, size_t len)
{
	for (size_t i = 0; i < kp->nseg; i++) {
		const Elf64_Phdr *s = &kp->seg[i];

		if (va < s->p_vaddr || va - s->p_vaddr + len > s->p_memsz)
			continue;
		ssize_t n = pread(kp->kcore, buf, len, (off_t)(s->p_offset + (va - s->p_vaddr)));
		if (n != (ssize_t)len)
			return fail("reading %zu bytes at kernel address %#" PRIx64 " from /proc/kcore: %s",
				    len, va, n < 0 ? strerror(errno) : "short read");
		return 0;
	}
	return fail("kernel address %#" PRIx64 " is in no /proc/kcore segment (not System RAM?)", va);
}

static int kread64(struct kpage *kp, uint64_t va, uint64_t *v)
{
	return kread(kp, va, v, sizeof(*v));
}

/* Kernel virtual to physical, by the page tables (arch/x86: PGD/P4D/PUD/PMD/PTE,
 * 9 bits each; PSE marks a 1 GiB PUD or a 2 MiB PMD leaf). */
static int kphys(struct kpage *kp, uint64_t va, uint64_t *pa)
{
	static const int shifts5[] = { 48, 39, 30, 21, 12 };
	const int *shift = kp->l5 ? shifts5 : shifts5 + 1;
	int levels = kp->l5 ? 5 : 4;
	uint64_t e, table_va = kp->init_top_pgt;

	for (int l = 0; l < levels; l++) {
		if (kread64(kp, table_va + ((va >> shift[l]) & 511) * 8, &e))
			return -1;
		if (!(e & PTE_PRESENT))
			return fail("kernel address %#" PRIx64 " is not mapped (level %d entry %#" PRIx64 ")",
				    va, levels - l, e);
		if (l == levels - 1 || ((shift[l] == 30 || shift[l] == 21) && (e & PTE_PSE))) {
			uint64_t size = 1ULL << shift[l];

			*pa = (e & PTE_ADDR & ~(size - 1)) | (va & (size - 1));
			return 0;
		}
		table_va = kp->page_offset_base + (e & PTE_ADDR);
	}
	return fail("page table walk for %#" PRIx64 " ended without a leaf", va);
}

/* struct page of PFN, through the direct map. */
static int read_page(struct kpage *kp, uint64_t pfn, unsigned char page[PAGE_STRUCT])
{
	uint64_t pa = 0;

	if (kphys(kp, kp->vmemmap_base + pfn * PAGE_STRUCT, &pa))
		return -1;
	if (kread(kp, kp->page_offset_base + pa, page, PAGE_STRUCT))
		return fail("struct page of pfn %#" PRIx64 " is at physical address %#" PRIx64
			    ", which /proc/kcore does not show: not System RAM (a memmap on the device, "
			    "\"ndctl create-namespace -M dev\"?)", pfn, pa);
	return 0;
}

static uint64_t u64_at(const unsigned char *p, int off)
{
	uint64_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

static int32_t i32_at(const unsigned char *p, int off)
{
	int32_t v;

	memcpy(&v, p + off, sizeof(v));
	return v;
}

/* The head PFN a tail page's compound_head/compound_info word names; the
 * page's own PFN when it is no tail page. */
static uint64_t head_pfn_of(const struct kpage *kp, uint64_t pfn, uint64_t info)
{
	uint64_t page_va = kp->vmemmap_base + pfn * PAGE_STRUCT, head_va, inv;

	if (!(info & 1))
		return pfn;
	info &= ~1ULL;
	inv = ~info;
	/* GENMASK(63, shift): the 7.x mask form */
	head_va = inv && !(inv & (inv + 1)) ? page_va & info : info;
	if (head_va < kp->vmemmap_base || (head_va - kp->vmemmap_base) % PAGE_STRUCT)
		return UINT64_MAX;
	return (head_va - kp->vmemmap_base) / PAGE_STRUCT;
}

int kpage_read_pfn(struct kpage *kp, uint64_t pfn, struct kpage_counts *c)
{
	unsigned char page[PAGE_STRUCT], head[PAGE_STRUCT], second[PAGE_STRUCT];
	const struct layout *l = kp->lay;
	uint64_t h;

	if (read_page(kp, pfn, page))
		return -1;
	h = head_pfn_of(kp, pfn, u64_at(page, OFF_HEAD));
	if (h == UINT64_MAX || h > pfn)
		return fail("pfn %#" PRIx64 ": its compound head word %#" PRIx64
			    " names no struct page before it (struct page is not %d bytes here?)",
			    pfn, u64_at(page, OFF_HEAD), PAGE_STRUCT);
	if (h == pfn)
		memcpy(head, page, sizeof(head));
	else if (read_page(kp, h, head))
		return -1;
	if (read_page(kp, h + 1, second))
		return -1;

	memset(c, 0, sizeof(*c));
	c->pfn = pfn;
	c->head_pfn = h;
	c->refcount = i32_at(head, OFF_REFCOUNT);
	c->mapcount = i32_at(page, OFF_MAPCOUNT) + 1;
	c->pincount = c->entire_mapcount = c->large_mapcount = c->nr_pages_mapped = -1;
	/* Large when the next page is a tail page of this head (PG_head's bit
	 * number differs between versions; the link does not). */
	if (head_pfn_of(kp, h + 1, u64_at(second, OFF_HEAD)) != h) {
		if (h != pfn)
			return fail("pfn %#" PRIx64 ": a tail of %#" PRIx64 ", whose next page is no tail",
				    pfn, h);
		return 0;
	}
	c->order = second[l->order_u8];
	if (c->order == 0 || c->order > 18 || pfn - h >= (1ULL << c->order))
		return fail("pfn %#" PRIx64 ": folio at %#" PRIx64 " has order %u: not the %s layout?",
			    pfn, h, c->order, l->version);
	c->pincount = i32_at(second, l->pincount);
	c->entire_mapcount = i32_at(second, l->entire_mapcount) + 1;
	if (l->large_mapcount >= 0)
		c->large_mapcount = i32_at(second, l->large_mapcount) + 1;
	if (l->nr_pages_mapped >= 0)
		c->nr_pages_mapped = i32_at(second, l->nr_pages_mapped);
	return 0;
}

int kpage_pfn(pid_t pid, uint64_t vaddr, uint64_t *pfn)
{
	char path[64];
	uint64_t e;
	int fd;
	ssize_t n;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	n = pread(fd, &e, sizeof(e), (off_t)(vaddr / PAGE_SZ * sizeof(e)));
	close(fd);
	if (n != (ssize_t)sizeof(e))
		return fail("%s at %#" PRIx64 ": %s", path, vaddr, n < 0 ? strerror(errno) : "short read");
	/* Documentation/admin-guide/mm/pagemap.rst: bit 63 present, 0-54 PFN */
	if (!(e >> 63))
		return fail("%#" PRIx64 " is not present in %s (touch it first)", vaddr, path);
	*pfn = e & ((1ULL << 55) - 1);
	if (!*pfn)
		return fail("%s shows PFN 0 for %#" PRIx64 " (needs CAP_SYS_ADMIN)", path, vaddr);
	return 0;
}

int kpage_read(struct kpage *kp, const void *addr, struct kpage_counts *c)
{
	uint64_t pfn;

	if (kpage_pfn(0, (uint64_t)(uintptr_t)addr, &pfn))
		return -1;
	return kpage_read_pfn(kp, pfn, c);
}

static int pick_layout(struct kpage *kp)
{
	const char *want = getenv("KPAGE_LAYOUT");
	char mm[32];
	struct utsname u;
	unsigned int major, minor;

	if (want && *want) {
		snprintf(mm, sizeof(mm), "%s", want);
	} else {
		if (uname(&u) || sscanf(u.release, "%u.%u", &major, &minor) != 2)
			return fail("cannot read the kernel version");
		snprintf(mm, sizeof(mm), "%u.%u", major, minor);
	}
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (strcmp(layouts[i].version, mm) == 0) {
			kp->lay = &layouts[i];
			return 0;
		}
	return fail("no known struct folio layout for kernel %s (known: 6.1, 6.12, 7.3, from "
		    "their include/linux/mm_types.h; KPAGE_LAYOUT=VERSION picks one by hand)", mm);
}

static int read_kallsyms(struct kpage *kp, uint64_t *vmemmap_sym, uint64_t *pob_sym)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[256], type, name[128];
	uint64_t addr;

	if (!f)
		return fail("/proc/kallsyms: %s", strerror(errno));
	*vmemmap_sym = *pob_sym = kp->init_top_pgt = 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNx64 " %c %127s", &addr, &type, name) != 3)
			continue;
		if (strcmp(name, "vmemmap_base") == 0)
			*vmemmap_sym = addr;
		else if (strcmp(name, "page_offset_base") == 0)
			*pob_sym = addr;
		else if (strcmp(name, "init_top_pgt") == 0)
			kp->init_top_pgt = addr;
	}
	fclose(f);
	if (!*vmemmap_sym || !*pob_sym || !kp->init_top_pgt)
		return fail("/proc/kallsyms lacks vmemmap_base, page_offset_base or init_top_pgt, "
			    "or shows zero addresses (needs root and kptr_restrict < 2)");
	return 0;
}

static int open_kcore(struct kpage *kp)
{
	Elf64_Ehdr eh;
	Elf64_Phdr *ph;

	kp->kcore = open("/proc/kcore", O_RDONLY | O_CLOEXEC);
	if (kp->kcore < 0)
		return fail("/proc/kcore: %s", strerror(errno));
	if (pread(kp->kcore, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr))
		return fail("/proc/kcore is not a 64-bit ELF core file");
	ph = calloc(eh.e_phnum, sizeof(*ph));
	kp->seg = calloc(eh.e_phnum, sizeof(*ph));
	if (!ph || !kp->seg) {
		free(ph);
		return fail("out of memory");
	}
	if (pread(kp->kcore, ph, eh.e_phnum * sizeof(*ph), (off_t)eh.e_phoff) !=
	    (ssize_t)(eh.e_phnum * sizeof(*ph))) {
		free(ph);
		return fail("/proc/kcore: cannot read its program headers");
	}
	for (size_t i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			kp->seg[kp->nseg++] = ph[i];
	free(ph);
	return 0;
}

int kpage_open(struct kpage **kpp)
{
	struct kpage *kp = calloc(1, sizeof(*kp));
	uint64_t vmemmap_sym, pob_sym;

	*kpp = NULL;
	if (!kp)
		return fail("out of memory");
	kp->kcore = -1;
	if (pick_layout(kp) || read_kallsyms(kp, &vmemmap_sym, &pob_sym) || open_kcore(kp) ||
	    kread64(kp, vmemmap_sym, &kp->vmemmap_base) ||
	    kread64(kp, pob_sym, &kp->page_offset_base)) {
		kpage_close(kp);
		return -1;
	}
	/* 4-level paging puts the direct map at 0xffff888000000000 or above
	 * (randomised upwards), 5-level at 0xff11000000000000
	 * (Documentation/arch/x86/x86_64/mm.rst). */
	kp->l5 = (kp->page_offset_base >> 48) != 0xffff;
	*kpp = kp;
	return 0;
}

void kpage_close(struct kpage *kp)
{
	if (!kp)
		return;
	if (kp->kcore >= 0)
		close(kp->kcore);
	free(kp->seg);
	free(kp);
}
