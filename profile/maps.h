/*
 * maps.h - what the profile writers know about the process's code: its
 * executable mappings, their ELF files' GNU build IDs, and function names
 * from the files' symbol tables.
 *
 * Owns nothing beyond one writer call: everything lives in the caller's
 * scratch arena, and the ELF files are mapped read-only until
 * tc_maps_close. Runs with the world running, on the writer's thread.
 *
 * Algorithm:
 *   1. Read /proc/self/maps; keep the executable mappings backed by a file
 *      (" (deleted)" is stripped from names, as Go does). The main program's
 *      mapping goes first: pprof treats mapping 1 as the main binary
 *      (`go tool pprof BINARY PROFILE` overrides its file name).
 *   2. On the first address looked up in a mapping, map its file
 *      (/proc/self/map_files/START-END when readable, which is the very
 *      inode mapped even if the file was replaced or deleted, else the path)
 *      and read: the PT_LOAD segments, the NT_GNU_BUILD_ID note, and the
 *      function symbols (STT_FUNC, STT_GNU_IFUNC) of .symtab, which has
 *      static functions too; if the file has only .dynsym, the .symtab of
 *      /usr/lib/debug/.build-id/xx/yyyy.debug when installed; else .dynsym.
 *      Symbols are sorted by address; aliases keep the global name.
 *      Versioned names ("memcpy@@GLIBC_2.14") lose their version.
 *   3. An address is translated to the file's virtual addresses through
 *      the PT_LOAD segment holding the mapping's file offset (bias = start -
 *      offset + p_offset - p_vaddr) and resolved by binary search; an
 *      address past the end of the nearest symbol is unknown.
 *   4. Source lines, when asked for, come from the DWARF line tables of the
 *      file or of its debug file (dwarf.c), read on first use.
 * Go: runtime/pprof/proto.go (readMapping, elfBuildID), pprof's elfexec.
 */
#ifndef TC_MAPS_H
#define TC_MAPS_H

#include "base.h"
#include "scratch.h"

struct tc_elf;

typedef struct tc_mapping {
  uint64_t id;              /* 1-based, in order */
  uintptr_t start, limit, offset;
  const char *path;         /* "(deleted)" removed */
  const char *build_id;     /* lowercase hex, "" if none (after tc_maps_load_elf) */
  struct tc_elf *elf;       /* NULL until loaded, or when unreadable */
  bool elf_tried;
  bool have_bias;
  uintptr_t bias;           /* runtime address = ELF vaddr + bias */
} tc_mapping_t;

typedef struct tc_maps {
  tc_scratch_t *a;
  tc_mapping_t *m;
  size_t n;
  struct tc_elf **elfs; /* loaded files, by path */
  size_t nelfs, elfs_cap;
} tc_maps_t;

/* Step 1. Returns 0, or -1 with errno set. */
int tc_maps_read(tc_maps_t *maps, tc_scratch_t *a);
/* The mapping holding addr, or NULL. */
tc_mapping_t *tc_maps_find(tc_maps_t *maps, uintptr_t addr);
/* Step 2 for one mapping (idempotent); fills build_id. */
void tc_maps_load_elf(tc_maps_t *maps, tc_mapping_t *m);
/* Step 3: the function holding addr in m: its name and runtime entry
 * address. false when no symbol covers addr. */
bool tc_maps_symbolize(tc_maps_t *maps, tc_mapping_t *m, uintptr_t addr,
                       const char **name, uintptr_t *entry);
/* The source file and line of addr in m, from DWARF. */
bool tc_maps_line(tc_maps_t *maps, tc_mapping_t *m, uintptr_t addr, const char **file,
                  uint32_t *line);
/* The file's base name (for names of unresolved addresses). */
const char *tc_maps_basename(const tc_mapping_t *m);
/* Unmaps the ELF files. The arena is the caller's. */
void tc_maps_close(tc_maps_t *maps);

#endif
