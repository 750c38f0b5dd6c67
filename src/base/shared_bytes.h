// SharedBytes: an immutable byte string shared by reference count.
//
// The store keeps each key and each value once, in a SharedBytes; the history ring's events,
// and through them the WAL writer and watch delivery, hold references to the same bytes instead
// of copies. One allocation holds the count, the length and the bytes (8 bytes of header, so a
// 1 KiB value lands in the same malloc size class as a std::string's); an empty string
// allocates nothing.
//
// Thread safety: the bytes never change after construction and the count is atomic, so owners
// on different threads may copy and drop their references concurrently (the last one frees).
#ifndef RAMETCD_BASE_SHARED_BYTES_H_
#define RAMETCD_BASE_SHARED_BYTES_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

#include "base/logging.h"

namespace rametcd {

class SharedBytes {
 public:
  SharedBytes() = default;
  explicit SharedBytes(std::string_view bytes) {
    if (bytes.empty()) return;
    CHECK(bytes.size() <= UINT32_MAX);
    rep_ = static_cast<Rep*>(::operator new(sizeof(Rep) + bytes.size()));
    new (rep_) Rep{1, static_cast<uint32_t>(bytes.size())};
    std::memcpy(static_cast<void*>(rep_ + 1), bytes.data(), bytes.size());
  }
  SharedBytes(const SharedBytes& other) noexcept : rep_(other.rep_) {
    if (rep_ != nullptr) rep_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  SharedBytes(SharedBytes&& other) noexcept : rep_(std::exchange(other.rep_, nullptr)) {}
  SharedBytes& operator=(SharedBytes other) noexcept {
    std::swap(rep_, other.rep_);
    return *this;
  }
  ~SharedBytes() {
    if (rep_ != nullptr && rep_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      rep_->~Rep();
      ::operator delete(rep_);
    }
  }

  const char* data() const {
    return rep_ != nullptr ? reinterpret_cast<const char*>(rep_ + 1) : kEmpty;
  }
  size_t size() const { return rep_ != nullptr ? rep_->size : 0; }
  bool empty() const { return rep_ == nullptr; }
  std::string_view view() const { return std::string_view(data(), size()); }
  // Reads like a std::string_view (comparisons, hashing, heterogeneous lookups).
  operator std::string_view() const { return view(); }  // NOLINT(google-explicit-constructor)

 private:
  struct Rep {
    std::atomic<uint32_t> refs;
    uint32_t size;
  };
  static_assert(sizeof(Rep) == 8);
  static constexpr char kEmpty[1] = "";

  Rep* rep_ = nullptr;
};

}  // namespace rametcd

#endif  // RAMETCD_BASE_SHARED_BYTES_H_
