#include "metrics/cell_arena.h"

#include <algorithm>

#include "base/logging.h"

namespace rametcd::metrics::internal {
namespace {

// Set when the thread's exit hook has run: later updates from other thread_local destructors go
// straight to the base instead of creating a new block that nobody would fold.
thread_local bool tls_exiting = false;

}  // namespace

// Lives in a thread_local created by InitThread(); its destructor runs at thread exit.
struct ThreadExitHook {
  CellArena::ThreadCells* cells = nullptr;
  ~ThreadExitHook() {
    tls_exiting = true;
    CellArena::tls_cells_ = nullptr;
    if (cells != nullptr) CellArena::Get().ReleaseThread(cells);
  }
};

CellArena& CellArena::Get() {
  // Never destroyed: threads may exit (and fold their cells) during static destruction.
  static CellArena* const arena = new CellArena();
  return *arena;
}

CellArena::ThreadCells* CellArena::InitThread() {
  if (tls_exiting) return nullptr;
  static thread_local ThreadExitHook hook;
  auto* cells = new ThreadCells();
  CellArena& arena = Get();
  {
    absl::MutexLock lock(&arena.mu_);
    arena.threads_.push_back(cells);
  }
  hook.cells = cells;
  tls_cells_ = cells;
  return cells;
}

std::atomic<uint64_t>* CellArena::NewChunk(ThreadCells* t, uint32_t chunk_index) {
  CHECK(chunk_index < kMaxChunks);
  auto* chunk = new std::atomic<uint64_t>[kChunkCells];
  for (uint32_t i = 0; i < kChunkCells; ++i) chunk[i].store(0, std::memory_order_relaxed);
  // Release: a scraper that sees the pointer sees the zeroes.
  t->chunks[chunk_index].store(chunk, std::memory_order_release);
  return chunk;
}

void CellArena::ReleaseThread(ThreadCells* t) {
  {
    absl::MutexLock lock(&mu_);
    for (uint32_t ci = 0; ci < kMaxChunks; ++ci) {
      std::atomic<uint64_t>* chunk = t->chunks[ci].load(std::memory_order_relaxed);
      if (chunk == nullptr) continue;
      const uint32_t first = ci << kChunkBits;
      for (uint32_t j = 0; j < kChunkCells && first + j < next_; ++j) {
        const uint64_t v = chunk[j].load(std::memory_order_relaxed);
        if (v == 0) continue;
        const uint32_t cell = first + j;
        if (kinds_[cell] == Kind::kUint) {
          base_[cell] += v;
        } else if (kinds_[cell] == Kind::kDouble) {
          base_[cell] = std::bit_cast<uint64_t>(std::bit_cast<double>(base_[cell]) +
                                                std::bit_cast<double>(v));
        }
      }
    }
    threads_.erase(std::find(threads_.begin(), threads_.end(), t));
  }
  // No scraper can reach the block any more.
  for (auto& c : t->chunks) delete[] c.load(std::memory_order_relaxed);
  delete t;
}

void CellArena::AddToBase(uint32_t cell, uint64_t n, double v) {
  absl::MutexLock lock(&mu_);
  CHECK(cell < next_);
  if (kinds_[cell] == Kind::kDouble) {
    base_[cell] = std::bit_cast<uint64_t>(std::bit_cast<double>(base_[cell]) + v);
  } else {
    base_[cell] += n;
  }
}

uint32_t CellArena::Allocate(uint32_t n, Kind kind) {
  CHECK(n > 0 && kind != Kind::kFree);
  absl::MutexLock lock(&mu_);
  uint32_t first;
  auto it = free_by_size_.find(n);
  if (it != free_by_size_.end() && !it->second.empty()) {
    first = it->second.back();
    it->second.pop_back();
  } else {
    CHECK(n <= kMaxCells - next_);
    first = next_;
    next_ += n;
    kinds_.resize(next_, Kind::kFree);
    base_.resize(next_, 0);
  }
  for (uint32_t i = first; i < first + n; ++i) kinds_[i] = kind;
  return first;
}

void CellArena::Free(uint32_t first, uint32_t n) {
  absl::MutexLock lock(&mu_);
  CHECK(first + n <= next_);
  for (uint32_t cell = first; cell < first + n; ++cell) {
    kinds_[cell] = Kind::kFree;
    base_[cell] = 0;
    for (ThreadCells* t : threads_) {
      std::atomic<uint64_t>* chunk = t->chunks[cell >> kChunkBits].load(std::memory_order_acquire);
      if (chunk != nullptr) chunk[cell & kChunkMask].store(0, std::memory_order_relaxed);
    }
  }
  free_by_size_[n].push_back(first);
}

uint64_t CellArena::SumUint(uint32_t cell) const {
  uint64_t sum = 0;
  SumUintRange(cell, 1, &sum);
  return sum;
}

void CellArena::SumUintRange(uint32_t first, uint32_t n, uint64_t* out) const {
  absl::MutexLock lock(&mu_);
  CHECK(first + n <= next_);
  for (uint32_t i = 0; i < n; ++i) out[i] = base_[first + i];
  for (ThreadCells* t : threads_) {
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t cell = first + i;
      std::atomic<uint64_t>* chunk = t->chunks[cell >> kChunkBits].load(std::memory_order_acquire);
      if (chunk != nullptr) out[i] += chunk[cell & kChunkMask].load(std::memory_order_relaxed);
    }
  }
}

double CellArena::SumDouble(uint32_t cell) const {
  absl::MutexLock lock(&mu_);
  CHECK(cell < next_);
  double sum = std::bit_cast<double>(base_[cell]);
  for (ThreadCells* t : threads_) {
    std::atomic<uint64_t>* chunk = t->chunks[cell >> kChunkBits].load(std::memory_order_acquire);
    if (chunk != nullptr) {
      sum += std::bit_cast<double>(chunk[cell & kChunkMask].load(std::memory_order_relaxed));
    }
  }
  return sum;
}

size_t CellArena::ThreadCountForTesting() const {
  absl::MutexLock lock(&mu_);
  return threads_.size();
}

}  // namespace rametcd::metrics::internal
