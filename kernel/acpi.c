/*
 * ACPI table walk: RSDP -> XSDT (or RSDT) -> MADT, MCFG, FADT -> DSDT.
 * Tables are identity mapped and read in place; every length is checked
 * against its table before use.
 */
#include "kernel/acpi.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

struct acpi_info acpi;

struct __attribute__((packed)) rsdp {
	char signature[8];
	uint8_t checksum;
	char oem[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t xchecksum;
	uint8_t reserved[3];
};

struct __attribute__((packed)) sdt_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem[6];
	char oem_table[8];
	uint32_t oem_revision;
	uint32_t creator;
	uint32_t creator_revision;
};

static int checksum_ok(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < n; i++)
		sum += b[i];
	return sum == 0;
}

/* A table is believed only if its length is sane (a header at least, and
 * no more than ACPI_TABLE_MAX: a hostile length is not summed over
 * gigabytes) and its bytes sum to zero. */
#define ACPI_TABLE_MAX (4u << 20)

static int table_ok(const struct sdt_header *h)
{
	return h->length >= sizeof(*h) && h->length <= ACPI_TABLE_MAX && checksum_ok(h, h->length);
}

static const struct rsdp *rsdp_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + sizeof(struct rsdp) <= start + len; a += 16) {
		const struct rsdp *r = (const void *)(uintptr_t)a;
		if (memcmp(r->signature, "RSD PTR ", 8) == 0 && checksum_ok(r, 20))
			return r;
	}
	return NULL;
}

static void parse_madt(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + sizeof(*h);
	const uint8_t *end = (const uint8_t *)h + h->length;

	if (h->length < sizeof(*h) + 8)
		return; /* not even the local APIC address and flags */
	acpi.lapic_addr = *(const uint32_t *)p;
	p += 8; /* local APIC address, flags */
	while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
		if (p[0] == 1 && p[1] >= 12 && acpi.ioapic_count < ACPI_MAX_IOAPICS) {
			struct acpi_ioapic *io = &acpi.ioapic[acpi.ioapic_count++];
			io->id = p[2];
			memcpy(&io->addr, p + 4, 4);
			memcpy(&io->gsi_base, p + 8, 4);
		} else if (p[0] == 2 && p[1] >= 10 && acpi.override_count < ACPI_MAX_OVERRIDES) {
			struct acpi_override *o = &acpi.override[acpi.override_count++];
			o->isa_irq = p[3];
			memcpy(&o->gsi, p + 4, 4);
			memcpy(&o->flags, p + 8, 2);
		} else if (p[0] == 5 && p[1] >= 12) {
			memcpy(&acpi.lapic_addr, p + 4, 8);
		}
		p += p[1];
	}
}

static void parse_mcfg(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + sizeof(*h) + 8;
	const uint8_t *end = (const uint8_t *)h + h->length;

	for (; p + 16 <= end; p += 16) {
		uint16_t segment;
		memcpy(&segment, p + 8, 2);
		if (segment == 0) {
			memcpy(&acpi.ecam_base, p, 8);
			acpi.ecam_bus_start = p[10];
			acpi.ecam_bus_end = p[11];
			return;
		}
	}
}

/* \_S5 in the DSDT: NameOp "_S5_" PackageOp PkgLength NumElements then the
 * SLP_TYPa value (a BytePrefix constant, or Zero/One).  A byte search is
 * enough for this one well-known name. */
static void parse_dsdt_s5(const struct sdt_header *h)
{
	const uint8_t *p = (const uint8_t *)h + sizeof(*h);
	const uint8_t *end = (const uint8_t *)h + h->length;

	for (; p + 12 <= end; p++) {
		if (memcmp(p, "_S5_", 4) != 0 || p[4] != 0x12)
			continue;
		const uint8_t *q = p + 5;
		q += 1 + (*q >> 6); /* PkgLength: lead byte plus 0-3 more */
		q++; /* NumElements */
		if (q >= end)
			return;
		if (*q == 0x0A && q + 1 < end)
			acpi.slp_typ_s5 = q[1];
		else if (*q == 0x00 || *q == 0x01)
			acpi.slp_typ_s5 = *q;
		else
			return;
		acpi.have_s5 = 1;
		return;
	}
}

static void parse_fadt(const struct sdt_header *h)
{
	const uint8_t *b = (const uint8_t *)h;
	uint32_t dsdt32 = 0;
	uint64_t dsdt64 = 0;

	if (h->length >= 68) {
		memcpy(&dsdt32, b + 40, 4);
		memcpy(&acpi.pm1a_cnt, b + 64, 4);
	}
	if (h->length >= 148)
		memcpy(&dsdt64, b + 140, 8);
	uint64_t dsdt = dsdt64 ? dsdt64 : dsdt32;
	if (dsdt) {
		const struct sdt_header *d = (const void *)(uintptr_t)dsdt;
		if (memcmp(d->signature, "DSDT", 4) == 0 && table_ok(d))
			parse_dsdt_s5(d);
	}
}

static void parse_table(uint64_t addr)
{
	const struct sdt_header *h = (const void *)(uintptr_t)addr;

	if (!addr || !table_ok(h))
		return;
	if (memcmp(h->signature, "APIC", 4) == 0)
		parse_madt(h);
	else if (memcmp(h->signature, "MCFG", 4) == 0)
		parse_mcfg(h);
	else if (memcmp(h->signature, "FACP", 4) == 0)
		parse_fadt(h);
}

int acpi_init(uint64_t rsdp_addr)
{
	const struct rsdp *r = NULL;

	if (rsdp_addr)
		r = (const void *)(uintptr_t)rsdp_addr;
	if (!r) {
		uint64_t ebda = (uint64_t)(*(const uint16_t *)(uintptr_t)0x40E) << 4;
		if (ebda)
			r = rsdp_scan(ebda, 1024);
		if (!r)
			r = rsdp_scan(0xE0000, 0x20000);
	}
	/* One given by the loader is checked as one found by scanning is; a
	 * revision 2 RSDP also has its extended checksum. */
	if (!r || memcmp(r->signature, "RSD PTR ", 8) != 0 || !checksum_ok(r, 20) ||
	    (r->revision >= 2 && !checksum_ok(r, sizeof(*r))))
		return -ENOENT;

	const struct sdt_header *root;
	size_t entry_size;
	if (r->revision >= 2 && r->xsdt) {
		root = (const void *)(uintptr_t)r->xsdt;
		entry_size = 8;
	} else {
		root = (const void *)(uintptr_t)r->rsdt;
		entry_size = 4;
	}
	if (!table_ok(root))
		return -ENOENT;
	size_t n = (root->length - sizeof(*root)) / entry_size;
	const uint8_t *e = (const uint8_t *)root + sizeof(*root);
	for (size_t i = 0; i < n; i++) {
		uint64_t addr = 0;
		memcpy(&addr, e + i * entry_size, entry_size);
		parse_table(addr);
	}
	return 0;
}
