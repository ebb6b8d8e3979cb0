// Random scan configs and plans, random record blocks, and the block-level differential check
// (a compiled block function against scan_block_runtime and the oracle) shared by the backend
// tests.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "jitson/cpu.hpp"
#include "jitson/database.hpp"
#include "jitson/plan.hpp"
#include "jitson/scan.hpp"

namespace jitson::testsupport {

// The unsigned value of environment variable `name`, or `fallback` when unset or empty.
uint64_t env_u64(const char *name, uint64_t fallback);

uint32_t pick_record_bits(std::mt19937_64 &rng);

// "[a, b]"
std::string range_json(uint32_t a, uint32_t b);

// A random focus as config JSON ("" = all bits), always selecting at least one bit.
std::string random_focus(std::mt19937_64 &rng, uint32_t bits);

// A random valid scan config for `isa` naming `backend` ("xbyak", "llvm", ...).
std::string random_config(std::mt19937_64 &rng, Isa isa, const char *backend);

// Shapes the plan further than configs can: random statistical bounds, empty stages and, when
// `shuffle_segments`, a random segment order within stages.
void mutate_plan(std::mt19937_64 &rng, ScanPlan &plan, bool shuffle_segments);

// The plan's focus as record_words mask words (all ones without a focus).
std::vector<uint64_t> plan_mask(const ScanPlan &plan);

// Records: random, near copies of the query (few flips), exact copies and complements.
void fill_records(std::mt19937_64 &rng, const uint8_t *query, uint8_t *records, uint64_t n,
                  uint32_t bytes);

uint32_t pick_limit(std::mt19937_64 &rng, const ScanPlan &plan);

// The block function `fn` (of backend `backend`, named in messages) against the runtime
// interpreter (hits, count, all counters) and the oracle (exact modes: the same hits;
// statistical: a subset, the missing ones counted as statistically pruned). Reports through
// GoogleTest and returns false on the first mismatch.
bool check_block(const ScanPlan &plan, BlockFn fn, const char *backend, const uint8_t *query,
                 const uint8_t *records, uint64_t n, uint64_t base, uint32_t limit,
                 const std::string &what);

// A random query and three blocks of random length and records through check_block.
bool check_random_blocks(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                         const char *backend, const std::string &what);

// check_block on a random query and n records placed flush against inaccessible pages
// (GuardedRegion), after them and then before them, for limits 0, bits / 2 and bits + 1, plus
// the last record alone. Returns the number of full-block checks made.
int check_block_at_guard_pages(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                               const char *backend, uint64_t n, const std::string &what);

// A query and n records of fill_records for `plan`, and the ScanRequest of the plan's spec.
struct ScanInputs {
  std::vector<uint8_t> query, records;
  uint64_t n_records = 0;
  ScanRequest request;
  DatabaseView view() const;
};
ScanInputs random_scan_inputs(std::mt19937_64 &rng, const ScanPlan &plan, uint64_t n,
                              uint32_t block_records);

// Focus variants that end at the record's last bits, as a config suffix; v in [0, 7).
std::string focus_variant(int v, uint32_t bits);

// A backend under test: its config name, and whether its code may see the segments of a stage in
// any order. Forwards to the functions above.
struct BackendUnderTest {
  const char *name;
  bool shuffle_segments;

  std::string random_config(std::mt19937_64 &rng, Isa isa) const;
  void mutate_plan(std::mt19937_64 &rng, ScanPlan &plan) const;
  bool check_block(const ScanPlan &plan, BlockFn fn, const uint8_t *query, const uint8_t *records,
                   uint64_t n, uint64_t base, uint32_t limit, const std::string &what) const;
  bool check_random_blocks(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn,
                           const std::string &what) const;
  int check_block_at_guard_pages(std::mt19937_64 &rng, const ScanPlan &plan, BlockFn fn, uint64_t n,
                                 const std::string &what) const;
};

}  // namespace jitson::testsupport
