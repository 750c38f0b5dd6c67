// CellArena: the per-thread value cells behind Counter and Histogram, so that the hot path of a
// metric update is a plain load and store on a cell that only the calling thread writes (no
// locked instruction, no shared cache line), and the cost moves to the scrape, which sums.
//
// Layout: a metric reserves a range of cell indices once (Allocate). Each thread that updates
// any metric gets, on its first update, a ThreadCells block: a fixed table of chunk pointers,
// each chunk holding kChunkCells 64-bit cells allocated by the owning thread on first touch. The
// cell for index i is chunks[i >> kChunkBits][i & kChunkMask]. A cell holds a uint64_t count or
// the bits of a double (Kind), fixed when it is allocated.
//
// Exact sums: the arena keeps a base value per cell. When a thread exits, its cells are folded
// into the base and its block is unregistered, both under the arena mutex; a scrape reads the base
// and every registered block under the same mutex, so no increment is lost or counted twice.
// Free() zeroes a range in the base and in every block so that it can be reused.
//
// Bounds: kMaxChunks * kChunkCells cells in all (Allocate CHECK-fails beyond); a thread's
// block costs 4 KiB plus 4 KiB for each chunk it touches.
//
// Ownership: one process-wide arena (Get()), never destroyed, so that threads exiting during
// process shutdown can still fold their cells. Each thread's block is owned by the arena's list
// until the thread exits.
//
// Thread safety: AddUint/AddDouble may be called from any thread; a cell must only be updated
// through them. Allocate, Free and the Sum functions are thread-safe (arena mutex).
// REQUIRES: no thread updates a range after Free() of it has begun.
#ifndef RAMETCD_METRICS_CELL_ARENA_H_
#define RAMETCD_METRICS_CELL_ARENA_H_

#include <atomic>
#include <bit>
#include <cstdint>
#include <vector>

#include "absl/base/optimization.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace rametcd::metrics::internal {

class CellArena {
 public:
  static constexpr uint32_t kChunkBits = 9;
  static constexpr uint32_t kChunkCells = uint32_t{1} << kChunkBits;  // 4 KiB per chunk
  static constexpr uint32_t kChunkMask = kChunkCells - 1;
  static constexpr uint32_t kMaxChunks = 512;
  static constexpr uint32_t kMaxCells = kMaxChunks * kChunkCells;  // 262144

  enum class Kind : uint8_t { kFree = 0, kUint, kDouble };

  // One thread's cells. Only the owning thread stores chunk pointers and cell values; the scraper
  // reads them.
  struct ThreadCells {
    std::atomic<std::atomic<uint64_t>*> chunks[kMaxChunks] = {};
  };

  // The process-wide arena.
  static CellArena& Get();

  CellArena(const CellArena&) = delete;
  CellArena& operator=(const CellArena&) = delete;

  // Reserves `n` consecutive zeroed cells of `kind` (kUint or kDouble) and returns the first
  // index. CHECK-fails when the arena is exhausted (a programming error: metrics are created once
  // per label set, not per request).
  uint32_t Allocate(uint32_t n, Kind kind);
  // Returns a range from Allocate() for reuse.
  void Free(uint32_t first, uint32_t n);

  // The sum of a cell over all threads, live and exited.
  uint64_t SumUint(uint32_t cell) const;
  double SumDouble(uint32_t cell) const;
  // Sums of `n` consecutive kUint cells into out[0..n), read under one lock.
  void SumUintRange(uint32_t first, uint32_t n, uint64_t* out) const;

  // Hot path: adds to the calling thread's cell.
  static void AddUint(uint32_t cell, uint64_t n) {
    std::atomic<uint64_t>* c = LocalCell(cell);
    if (ABSL_PREDICT_FALSE(c == nullptr)) return Get().AddToBase(cell, n, 0);
    c->store(c->load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  static void AddDouble(uint32_t cell, double v) {
    std::atomic<uint64_t>* c = LocalCell(cell);
    if (ABSL_PREDICT_FALSE(c == nullptr)) return Get().AddToBase(cell, 0, v);
    double sum = std::bit_cast<double>(c->load(std::memory_order_relaxed)) + v;
    c->store(std::bit_cast<uint64_t>(sum), std::memory_order_relaxed);
  }

  // Number of threads with a registered block (for tests).
  size_t ThreadCountForTesting() const;

 private:
  CellArena() = default;

  // The calling thread's cell, creating its block or chunk on first use; nullptr while the
  // thread is exiting (its block is gone), in which case the caller adds to the base.
  static std::atomic<uint64_t>* LocalCell(uint32_t cell) {
    ThreadCells* t = tls_cells_;
    if (ABSL_PREDICT_FALSE(t == nullptr)) {
      t = InitThread();
      if (t == nullptr) return nullptr;
    }
    std::atomic<uint64_t>* chunk = t->chunks[cell >> kChunkBits].load(std::memory_order_relaxed);
    if (ABSL_PREDICT_FALSE(chunk == nullptr)) chunk = NewChunk(t, cell >> kChunkBits);
    return &chunk[cell & kChunkMask];
  }
  static ThreadCells* InitThread();
  static std::atomic<uint64_t>* NewChunk(ThreadCells* t, uint32_t chunk_index);
  // Called by the thread-exit hook: folds the calling thread's cells into the base.
  void ReleaseThread(ThreadCells* t);
  void AddToBase(uint32_t cell, uint64_t n, double v);

  // Trivially constructed and destroyed, so reading it is a plain TLS load (no init wrapper).
  static inline constinit thread_local ThreadCells* tls_cells_ = nullptr;
  friend struct ThreadExitHook;

  mutable absl::Mutex mu_;
  uint32_t next_ ABSL_GUARDED_BY(mu_) = 0;  // cells [0, next_) have been handed out at least once
  std::vector<Kind> kinds_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> base_
      ABSL_GUARDED_BY(mu_);  // exited threads' sums (double bits for kDouble)
  absl::flat_hash_map<uint32_t, std::vector<uint32_t>> free_by_size_ ABSL_GUARDED_BY(mu_);
  std::vector<ThreadCells*> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace rametcd::metrics::internal

#endif  // RAMETCD_METRICS_CELL_ARENA_H_
