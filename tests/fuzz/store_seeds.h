// The seeds of the fuzz targets that build a store (request_fuzz, wal_recovery_fuzz) and of
// history_ring_fuzz, which fuzz_seed_writer (seed_writer.cc) writes along with the bbolt ones.
#ifndef RAMETCD_TESTS_FUZZ_STORE_SEEDS_H_
#define RAMETCD_TESTS_FUZZ_STORE_SEEDS_H_

#include <string>

#include "absl/status/status.h"

namespace rametcd::fuzz {

// Writes them under `corpus`/<target>/.
absl::Status WriteStoreSeeds(const std::string& corpus);

}  // namespace rametcd::fuzz

#endif  // RAMETCD_TESTS_FUZZ_STORE_SEEDS_H_
