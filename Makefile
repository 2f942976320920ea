# tinyvio: one build for the kernel, its disk images and its tests.
#   make              build/kernel.elf, build/demo.img, build/bootx64.efi and build/esp.img
#   make run          boot the demo image in QEMU (serial console on this terminal)
#   make debug        the same, halted, with a gdb stub on :1234 (then: gdb -x build/gdbinit)
#   make test         host unit tests, fuzzing, then QEMU tests (ACCEL=kvm to run them under KVM)
#   make fuzz         the libFuzzer targets of tests/fuzz, FUZZ_TIME seconds each
#   make bench        benchmarks, never part of the tests (QUICK=1: a short run; ACCEL=kvm; ONLY=blk|net)
#   make compile_commands.json   for editors (bear)

BUILD := build
NEWLIB := third_party/newlib/install/x86_64-elf
LIBC := $(NEWLIB)/lib/libc.a
LIBGCC := $(shell $(CC) -print-libgcc-file-name)
QEMU ?= qemu-system-x86_64
ACCEL ?= tcg
MACHINE ?= q35
MACHINES ?= pc,q35
PYTHON := /usr/bin/python3

WARN := -Wall -Wextra -Werror
# -mgeneral-regs-only: our code never touches SSE state, so interrupt entry
# need not save it, and KVM never has to emulate an SSE store (the nested
# hypervisor here cannot).  newlib keeps SSE; CR4.OSFXSR is set for it.
KCFLAGS := -std=gnu11 -O2 -g $(WARN) -ffreestanding -fno-stack-protector -mno-red-zone -mgeneral-regs-only -fPIC \
	-fvisibility=hidden -fno-asynchronous-unwind-tables --param=min-pagesize=0 -nostdinc \
	-isystem $(NEWLIB)/include -isystem $(shell $(CC) -print-file-name=include) -I. -MMD -MP

# lwIP 2.1.3, fetched by scripts/fetch-lwip.sh (never edited): the parts the
# kernel uses, compiled with our port (lib/net/port: lwipopts.h, arch/cc.h).
LWIP := third_party/lwip/src/src
LWIP_INC := -Ilib/net/port -I$(LWIP)/include
LWIP_SRC := $(addprefix $(LWIP)/,core/init.c core/def.c core/inet_chksum.c core/ip.c core/mem.c \
	core/memp.c core/netif.c core/pbuf.c core/raw.c core/sys.c core/tcp.c core/tcp_in.c core/tcp_out.c \
	core/timeouts.c core/udp.c core/ipv4/dhcp.c core/ipv4/etharp.c core/ipv4/icmp.c core/ipv4/ip4.c \
	core/ipv4/ip4_addr.c core/ipv4/ip4_frag.c netif/ethernet.c)

# Sources shared by every entry path; the -kernel path adds boot/pvh.*.
KERNEL_SRC := $(wildcard kernel/*.c kernel/*.S drivers/*/*.c lib/*.c lib/*/*.c) $(LWIP_SRC)
PVH_SRC := boot/pvh.S boot/pvh.c
KERNEL_OBJ := $(patsubst %,$(BUILD)/obj/%.o,$(KERNEL_SRC))
PVH_OBJ := $(patsubst %,$(BUILD)/obj/%.o,$(PVH_SRC))

all: $(BUILD)/kernel.elf $(BUILD)/demo.img $(BUILD)/bootx64.efi $(BUILD)/esp.img

$(LIBC):
	scripts/build-newlib.sh

$(LWIP_SRC) $(LWIP)/include/lwip/init.h:
	scripts/fetch-lwip.sh

# lwIP's headers for lwIP, our port of it, and the commands over it.
$(patsubst %,$(BUILD)/obj/%.o,$(LWIP_SRC) $(wildcard lib/net/*.c)): KCFLAGS += $(LWIP_INC)

$(BUILD)/obj/%.c.o: %.c | $(LIBC)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KCFLAGS) -c $< -o $@

$(BUILD)/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(KCFLAGS) -c $< -o $@

# Linked as ELF64 (kept for gdb), then rewritten as ELF32: QEMU's -kernel
# loader takes ELF32 with a PVH note.
$(BUILD)/kernel64.elf: $(PVH_OBJ) $(KERNEL_OBJ) linker.ld $(LIBC)
	$(LD) -nostdlib -static -z max-page-size=4096 -z noexecstack -T linker.ld -o $@ \
		$(PVH_OBJ) $(KERNEL_OBJ) $(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a $(LIBGCC)

$(BUILD)/kernel.elf: $(BUILD)/kernel64.elf
	objcopy -O elf32-i386 $< $@

# Every file under demo/ (its names have spaces: escaped for make), and the
# folders, whose times change when a file is added or removed.
DEMO_DEPS := $(shell find demo | sed 's/ /\\ /g')
$(BUILD)/demo.img: scripts/mkdemo.sh scripts/pattern.py $(DEMO_DEPS)
	scripts/mkdemo.sh $@

# The network card is on QEMU's user networking, closed to the outside
# (restrict=on); the host reaches the guest's port 80 at 127.0.0.1:8080.
RUN_NET := -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80 -device virtio-net-pci,netdev=n0

QEMU_BASE := $(QEMU) -machine $(MACHINE) -accel $(ACCEL) -m 128 -display none -no-reboot \
	-serial mon:stdio -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel $(BUILD)/kernel.elf \
	-drive file=$(BUILD)/demo.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0 $(RUN_NET) \
	$(if $(APPEND),-append "$(APPEND)")

run: all
	$(QEMU_BASE) || test $$? -eq 1

debug: all
	printf 'set architecture i386:x86-64\nfile $(BUILD)/kernel64.elf\ntarget remote :1234\n' > $(BUILD)/gdbinit
	@echo "QEMU is halted; in another terminal: gdb -x $(BUILD)/gdbinit"
	$(QEMU_BASE) -s -S || test $$? -eq 1

compile_commands.json: $(LIBC)
	bear --output $@ -- $(MAKE) -B $(BUILD)/kernel.elf unit-build

# ---- UEFI ----
# The same kernel objects ($(KERNEL_OBJ)) linked a second time, with
# boot/efi*.c in place of boot/pvh.*, as a gnu-efi application:
#   make run-uefi     boot build/esp.img under OVMF (TCG only: OVMF fails under the nested KVM here)
EFI_LIBDIR := /usr/lib
EFI_CRT0 := $(EFI_LIBDIR)/crt0-efi-x86_64.o
OVMF := /usr/share/ovmf/OVMF.fd
EFI_SRC := $(wildcard boot/efi*.c)
EFI_OBJ := $(patsubst %,$(BUILD)/obj/%.o,$(EFI_SRC))
# Only boot/efi*.c see the gnu-efi headers; CHAR16 literals need -fshort-wchar,
# and firmware calls are ms_abi (no call wrappers).
$(EFI_OBJ): KCFLAGS += -fshort-wchar -DGNU_EFI_USE_MS_ABI -isystem /usr/include/efi \
	-isystem /usr/include/efi/x86_64

# Linked at 0 by boot/efi.lds; kept with its symbols for gdb:
# add-symbol-file build/bootx64.so -o BASE, BASE being the image address that
# the application prints first.
$(BUILD)/bootx64.so: $(EFI_OBJ) $(KERNEL_OBJ) boot/efi.lds $(LIBC)
	$(LD) -nostdlib -shared -Bsymbolic --no-undefined -z nocombreloc -z noexecstack \
		-T boot/efi.lds -o $@ $(EFI_CRT0) $(EFI_OBJ) $(KERNEL_OBJ) \
		$(NEWLIB)/lib/libc.a $(NEWLIB)/lib/libm.a -L$(EFI_LIBDIR) -lefi -lgnuefi $(LIBGCC)
	@if readelf -rW $@ | awk '/R_X86_64_/ && $$3 != "R_X86_64_RELATIVE" {bad=1} END {exit !bad}'; then \
		echo "error: $@ has relocations gnu-efi's _relocate cannot apply:"; \
		readelf -rW $@ | grep R_X86_64_ | grep -v R_X86_64_RELATIVE; rm -f $@; exit 1; fi

# The sections of boot/efi.lds that the image needs at run time (.bss with no
# contents: the PE loader zero-fills it).
$(BUILD)/bootx64.efi: $(BUILD)/bootx64.so
	objcopy -j .text -j .reloc -j .data -j .bss -j .dynamic -j .rela -j .dynsym \
		--target efi-app-x86_64 --subsystem=10 $< $@

$(BUILD)/esp.img: scripts/mkesp.sh $(BUILD)/bootx64.efi
	scripts/mkesp.sh $@ $(BUILD)/bootx64.efi

# A copy boots, so build/esp.img stays as built.  The disk boots first
# (bootindex): OVMF would otherwise try a network boot on the card.
run-uefi: $(BUILD)/esp.img
	cp $(BUILD)/esp.img $(BUILD)/esp-run.img
	$(QEMU) -machine $(MACHINE) -accel tcg -m 128 -display none -no-reboot -serial mon:stdio \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 -bios $(OVMF) \
		-drive file=$(BUILD)/esp-run.img,format=raw,if=none,id=d0 -device virtio-blk-pci,drive=d0,bootindex=0 \
		$(RUN_NET) || test $$? -eq 1

.PHONY: run-uefi
# ---- end UEFI ----

# ---- host unit tests: the same sources, built for Linux with sanitizers ----
UNIT_CFLAGS := -std=gnu11 -O1 -g $(WARN) -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all -I. $(LWIP_INC) -DHOST_TEST -MMD -MP
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(wildcard tests/unit/test_*.c))

.SECONDEXPANSION:
# Each test names the project sources it links in a "// SOURCES: ..." line.
unit_sources = $(shell sed -n 's|^// SOURCES: ||p' $(1))

$(BUILD)/unit/%: tests/unit/%.c $$(call unit_sources,tests/unit/%.c) $(wildcard tests/unit/*.h) tests/host_blk.h
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(call unit_sources,$<) -lcmocka

unit-build: $(UNIT_TESTS)

check-unit: $(UNIT_TESTS)
	@fail=0; for t in $(UNIT_TESTS); do echo "== $$t"; $$t || fail=1; done; exit $$fail

check-qemu: all
	$(PYTHON) -m pytest -q tests/qemu --accel=$(ACCEL) --machines=$(MACHINES)

# ---- libFuzzer targets (clang): each runs FUZZ_TIME seconds from fresh seeds
# and the regression inputs in tests/fuzz/corpus/<target>; a crash, a hang
# (-timeout) or a sanitizer report fails.  A crasher is left in build/fuzz/;
# copy it into tests/fuzz/corpus/<target>/ once fixed.
FUZZ_TIME ?= 20
FUZZ_TARGETS := mount walk lookup http
FUZZ_SRC := $(wildcard lib/fat/*.c) drivers/block/blk.c
FUZZ_CFLAGS := -std=gnu11 -O1 -g $(WARN) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. -DHOST_TEST

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_dev.h tests/host_blk.h $(FUZZ_SRC) $(wildcard lib/fat/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC)

# The HTTP server's request parser, alone.
$(BUILD)/fuzz/fuzz_http: tests/fuzz/fuzz_http.c lib/net/http_parse.c lib/net/http_parse.h
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< lib/net/http_parse.c

fuzz: $(patsubst %,$(BUILD)/fuzz/fuzz_%,$(FUZZ_TARGETS))
	rm -rf $(BUILD)/fuzz/seed && tests/fuzz/seeds.sh $(BUILD)/fuzz/seed
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/work-$$t tests/fuzz/corpus/$$t; \
		echo "== fuzz $$t ($(FUZZ_TIME) s)"; \
		$(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_TIME) -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
			-print_final_stats=0 -artifact_prefix=$(BUILD)/fuzz/crash-$$t- \
			$(BUILD)/fuzz/work-$$t tests/fuzz/corpus/$$t $(BUILD)/fuzz/seed/$$t 2>$(BUILD)/fuzz/$$t.log \
			|| { tail -40 $(BUILD)/fuzz/$$t.log; exit 1; }; \
		tail -1 $(BUILD)/fuzz/$$t.log; \
	done

test: check-unit fuzz check-qemu

# ---- benchmarks (never part of the tests): build/bench/report.md and chart.svg ----
# QUICK=1: fewer requests and one Linux-guest run per drive line, for iteration.
# ONLY=blk or ONLY=net: only the block and file part, or only the network part.
$(BUILD)/bench/minimal.elf: bench/minimal.S bench/minimal.ld
	@mkdir -p $(dir $@)
	$(CC) -m32 -c bench/minimal.S -o $(BUILD)/bench/minimal.o
	$(LD) -m elf_i386 -nostdlib -static -z noexecstack -T bench/minimal.ld -o $@ $(BUILD)/bench/minimal.o

# The driver's instructions per request (bench/cost.c), counted with callgrind:
# the kernel's drivers/ sources, built -O2 for the host, against the unit
# tests' simulated device.
COST_SRC = $(call unit_sources,tests/unit/test_virtio_blk.c)
$(BUILD)/bench/cost: bench/cost.c $$(COST_SRC) drivers/platform.h $(wildcard drivers/*/*.h) tests/unit/vsim.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -I. -DHOST_TEST -o $@ bench/cost.c $(COST_SRC) -lcmocka

bench: all $(BUILD)/bench/minimal.elf $(BUILD)/bench/cost
	$(PYTHON) bench/run.py --accel=$(ACCEL) --machine=$(MACHINE) $(if $(QUICK),--quick) $(if $(ONLY),--only=$(ONLY))

format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) compile_commands.json

.PHONY: all run debug test check-unit check-qemu unit-build fuzz format clean bench
-include $(shell find $(BUILD)/obj $(BUILD)/unit -name '*.d' 2>/dev/null)
