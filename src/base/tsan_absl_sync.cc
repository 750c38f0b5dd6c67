// ThreadSanitizer's view of abseil's synchronization, for the TSan build only
// (RAMETCD_SANITIZE=thread links it into every target: top-level CMakeLists.txt).
//
// Debian's libabsl_synchronization is not built with -fsanitize=thread, so TSan cannot see that
// absl::Mutex, absl::CondVar, absl::Notification and absl::Barrier order memory: every handoff
// through them would be reported as a data race. This file interposes their out-of-line entry
// points (the executable's definitions take precedence over the shared library's), calls the
// library's own implementation through dlsym(RTLD_NEXT), and tells TSan about the ordering it
// provides with __tsan_acquire / __tsan_release on the object's address:
//   - whatever releases a lock (Unlock, ReaderUnlock, the waits that drop it, Notify, Barrier
//     arrival) publishes the caller's prior writes;
//   - whatever (re)acquires it makes them visible;
//   - a Condition (LockWhen, Await) is evaluated by the library under the lock on any thread, so
//     each evaluation is annotated as a critical section of its own.
// gRPC's own absl::Mutex uses go through these too (the library calls them through its PLT).
// It cannot make TSan see orderings that the libraries build from bare atomics (e.g. inside gRPC).
#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

extern "C" {
void __tsan_acquire(void* addr);
void __tsan_release(void* addr);
void AnnotateIgnoreWritesBegin(const char* file, int line);
void AnnotateIgnoreWritesEnd(const char* file, int line);
}

namespace {

#define RAMETCD_TSAN_STR2(x) #x
#define RAMETCD_TSAN_STR(x) RAMETCD_TSAN_STR2(x)

// The library's definition of the function whose Itanium-mangled name is
// _ZN[K]4absl<inline namespace>`suffix`, e.g. Original<void (*)(absl::Mutex*)>("5Mutex4LockEv").
template <typename Fn>
Fn Original(bool is_const, const char* suffix) {
  const std::string ns = RAMETCD_TSAN_STR(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name =
      std::string(is_const ? "_ZNK4absl" : "_ZN4absl") + std::to_string(ns.size()) + ns + suffix;
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) abort();  // the abseil ABI changed: this file must follow it
  return reinterpret_cast<Fn>(fn);
}

void Acquire(const void* object) { __tsan_acquire(const_cast<void*>(object)); }
void Release(const void* object) { __tsan_release(const_cast<void*>(object)); }

// The library evaluates a Condition while it holds the mutex, on whichever thread holds it then,
// inside its uninstrumented code. Wrapping the condition marks each evaluation as a critical
// section of its own (acquire before, release after), which is what it is. The wrapper and the
// Condition pointing at it are built on the waiter's stack and reach the evaluating thread
// through the library's own (uninstrumented) lock, which TSan cannot see: the writes that build
// them are not tracked, or the evaluator's first reads (in abseil's inline header code) would be
// reported (apply_loop_test, about 1 run in 60).
class AnnotatedCondition {
 public:
  AnnotatedCondition(const absl::Mutex* mu, const absl::Condition& cond) {
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    mu_ = mu;
    cond_ = &cond;
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
  }
  absl::Condition get() const {
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
    absl::Condition condition(&Eval, this);
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    return condition;
  }

 private:
  static bool Eval(const AnnotatedCondition* self) {
    Acquire(self->mu_);
    const bool met = self->cond_->Eval();
    Release(self->mu_);
    return met;
  }
  const absl::Mutex* mu_;
  const absl::Condition* cond_;
};

using MutexFn = void (*)(absl::Mutex*);
using MutexTryFn = bool (*)(absl::Mutex*);
using MutexCondFn = void (*)(absl::Mutex*, const absl::Condition&);
using MutexCondTimeoutFn = bool (*)(absl::Mutex*, const absl::Condition&, absl::Duration);
using MutexCondDeadlineFn = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);

}  // namespace

namespace absl {

void Mutex::Lock() {
  static const auto original = Original<MutexFn>(false, "5Mutex4LockEv");
  original(this);
  Acquire(this);
}
void Mutex::ReaderLock() {
  static const auto original = Original<MutexFn>(false, "5Mutex10ReaderLockEv");
  original(this);
  Acquire(this);
}
bool Mutex::TryLock() {
  static const auto original = Original<MutexTryFn>(false, "5Mutex7TryLockEv");
  const bool locked = original(this);
  if (locked) Acquire(this);
  return locked;
}
bool Mutex::ReaderTryLock() {
  static const auto original = Original<MutexTryFn>(false, "5Mutex13ReaderTryLockEv");
  const bool locked = original(this);
  if (locked) Acquire(this);
  return locked;
}
void Mutex::Unlock() {
  static const auto original = Original<MutexFn>(false, "5Mutex6UnlockEv");
  Release(this);
  original(this);
}
void Mutex::ReaderUnlock() {
  static const auto original = Original<MutexFn>(false, "5Mutex12ReaderUnlockEv");
  Release(this);
  original(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto original = Original<MutexCondFn>(false, "5Mutex8LockWhenERKNS0_9ConditionE");
  original(this, AnnotatedCondition(this, cond).get());
  Acquire(this);
}
void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto original =
      Original<MutexCondFn>(false, "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  original(this, AnnotatedCondition(this, cond).get());
  Acquire(this);
}
bool Mutex::LockWhenWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto original = Original<MutexCondTimeoutFn>(
      false, "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = original(this, AnnotatedCondition(this, cond).get(), timeout);
  Acquire(this);
  return met;
}
bool Mutex::LockWhenWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto original = Original<MutexCondDeadlineFn>(
      false, "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = original(this, AnnotatedCondition(this, cond).get(), deadline);
  Acquire(this);
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const auto original = Original<MutexCondFn>(false, "5Mutex5AwaitERKNS0_9ConditionE");
  Release(this);
  original(this, AnnotatedCondition(this, cond).get());
  Acquire(this);
}
bool Mutex::AwaitWithTimeout(const Condition& cond, absl::Duration timeout) {
  static const auto original = Original<MutexCondTimeoutFn>(
      false, "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);
  const bool met = original(this, AnnotatedCondition(this, cond).get(), timeout);
  Acquire(this);
  return met;
}
bool Mutex::AwaitWithDeadline(const Condition& cond, absl::Time deadline) {
  static const auto original =
      Original<MutexCondDeadlineFn>(false, "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);
  const bool met = original(this, AnnotatedCondition(this, cond).get(), deadline);
  Acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static const auto original =
      Original<void (*)(CondVar*, Mutex*)>(false, "7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  original(this, mu);
  Acquire(mu);
}
bool CondVar::WaitWithTimeout(Mutex* mu, absl::Duration timeout) {
  static const auto original = Original<bool (*)(CondVar*, Mutex*, absl::Duration)>(
      false, "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool timed_out = original(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}
bool CondVar::WaitWithDeadline(Mutex* mu, absl::Time deadline) {
  static const auto original = Original<bool (*)(CondVar*, Mutex*, absl::Time)>(
      false, "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool timed_out = original(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

// A notification's ordering is tied to its flag's address: HasBeenNotified() is inline and loads
// the flag (an instrumented acquire load, which syncs with the release here).
void Notification::Notify() {
  static const auto original = Original<void (*)(Notification*)>(false, "12Notification6NotifyEv");
  Release(&notified_yet_);
  original(this);
}
void Notification::WaitForNotification() const {
  static const auto original =
      Original<void (*)(const Notification*)>(true, "12Notification19WaitForNotificationEv");
  original(this);
  Acquire(&notified_yet_);
}
bool Notification::WaitForNotificationWithTimeout(absl::Duration timeout) const {
  static const auto original = Original<bool (*)(const Notification*, absl::Duration)>(
      true, "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = original(this, timeout);
  if (notified) Acquire(&notified_yet_);
  return notified;
}
bool Notification::WaitForNotificationWithDeadline(absl::Time deadline) const {
  static const auto original = Original<bool (*)(const Notification*, absl::Time)>(
      true, "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = original(this, deadline);
  if (notified) Acquire(&notified_yet_);
  return notified;
}

bool Barrier::Block() {
  static const auto original = Original<bool (*)(Barrier*)>(false, "7Barrier5BlockEv");
  Release(this);
  const bool last = original(this);
  Acquire(this);
  return last;
}

}  // namespace absl
