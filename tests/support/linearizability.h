// Test support: a recorded history of concurrent etcd KV and Watch requests, and a checker that
// says whether a single etcd member behaved linearizably in it.
//
// Clients record every request with the steady-clock time before it was sent and after its answer
// came back, its gRPC status and its response; watch clients record the create request and every
// response of their stream with the time it was received. CheckHistory() then rebuilds the state at
// every revision from the writes and checks every answer against it:
//  - Revisions: every write that changed something has its own revision; every revision from 2 up
//    to the newest one the history shows was made by exactly one write. A write whose outcome is
//    unknown (deadline, unavailable, cut by kill -9) may or may not have happened: a revision no
//    acknowledged write holds is given to the unknown write whose effect at that revision matches
//    what reads and watches saw at it (values should be unique and a watch should cover every key,
//    so that this is decided), and which started early enough (before that revision was seen, and
//    before the crash that cut it if it was cut: recorded Crashes).
//  - Crashes: a restarted server comes back at least at every revision seen before the crash.
//  - Effects: each acknowledged write, applied to the state at its revision - 1, gives exactly its
//    response (prev_kv, deleted count, the txn branch taken by its compares, every range inside
//    it, reads inside a txn seeing its earlier writes); a write that changed nothing gives its
//    response at its header revision.
//  - Real time: an operation that started after another one ended (or after a watch response was
//    received) sees at least that revision, and a write gets a greater one; no revision is seen
//    before the write that made it started.
//  - Reads: a range answers exactly the state at its header revision, or at the revision it asked
//    for (which must not be above the header), with create/mod revision, version, count and more.
//  - Watches: each watch's events are ordered, without gaps or duplicates against the rebuilt
//    history of its key range (from its start revision to the last event or progress
//    notification received), each revision's events in one response, equal to the writes' (with
//    prev_kv when asked for); a progress notification at revision R comes after every event <= R.
//
// Acknowledged writes are assumed durable: after a crash (kill -9) the history continues on the
// same revision numbers, so a lost acknowledged write shows up as a stale read, a reused revision
// or a read that does not match. That holds for `--wal-default fsync`, or a run without crashes;
// it does not for buffered mode.
//
// Not modeled (reported as violations so that nobody relies on them): sorted ranges, min/max
// revision filters, ignore_value/ignore_lease, compaction, leases that expire.
//
// Thread safety: the types are plain values; CheckHistory() is a pure function.
// RunKvOperation() may be called from many threads (gRPC stubs are thread-safe).
#ifndef RAMETCD_TESTS_SUPPORT_LINEARIZABILITY_H_
#define RAMETCD_TESTS_SUPPORT_LINEARIZABILITY_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etcd/api/etcdserverpb/rpc.grpc.pb.h"

namespace rametcd::testing {

using LinClock = std::chrono::steady_clock;

// One KV request as its client saw it.
struct KvOperation {
  int client = 0;                     // who sent it, for messages
  etcdserverpb::RequestOp request;    // a range, put, delete_range or txn
  LinClock::time_point start, end;    // before it was sent; after its answer (or failure) came
  absl::Status status;                // the gRPC status (its codes are absl's)
  etcdserverpb::ResponseOp response;  // when status is OK
};

// One Watch RPC carrying one watch, as its client saw it. A client that reconnects (e.g. after a
// restart, from its last revision + 1) starts a new record.
struct WatchRecord {
  int client = 0;
  etcdserverpb::WatchCreateRequest create;
  LinClock::time_point start;  // before the create request was sent
  struct Received {
    LinClock::time_point at;  // when the client had it (no earlier than its arrival)
    etcdserverpb::WatchResponse response;
  };
  std::vector<Received> received;  // every response of the stream, in order (created first)
};

// The server was killed (kill -9) at `at` and came back at `recovered_revision`: a request in
// flight then took effect before the crash (at a revision <= recovered_revision) or never.
struct Crash {
  LinClock::time_point at;  // no earlier than the process's death
  int64_t recovered_revision = 0;
};

struct History {
  std::vector<KvOperation> operations;
  std::vector<WatchRecord> watches;
  std::vector<Crash> crashes;
};

struct LinearizabilityReport {
  std::vector<std::string> violations;  // empty: the history checks
  size_t violations_not_shown = 0;      // past the first 200
  int64_t revision = 0;                 // the newest revision the history shows
  size_t acknowledged_writes = 0;       // successful puts, deletes and txns
  size_t unknown_writes = 0;            // writes whose outcome is unknown
  size_t unknown_writes_applied = 0;    // of those, how many hold a revision
  size_t ambiguous_revisions = 0;       // revisions given to an unknown write without evidence
  size_t reads_checked = 0;             // ranges and writes that changed nothing
  size_t watch_events_checked = 0;
  std::string Summary() const;
};

LinearizabilityReport CheckHistory(const History& history);

// A failure after which the request may still have taken effect (deadline, unavailable,
// cancelled, unknown, internal, aborted) rather than one that was refused.
bool OutcomeUnknown(const absl::Status& status);

// Sends `request` as the matching KV RPC with a deadline of `timeout` and records it.
KvOperation RunKvOperation(etcdserverpb::KV::Stub& kv, int client,
                           const etcdserverpb::RequestOp& request, absl::Duration timeout);

}  // namespace rametcd::testing

#endif  // RAMETCD_TESTS_SUPPORT_LINEARIZABILITY_H_
