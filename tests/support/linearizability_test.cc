// The linearizability checker on small hand-made histories: ones it must accept (concurrent
// writes in either order, writes with an unknown outcome that did or did not happen, a revision
// reused after a crash lost an unacknowledged write) and ones it must reject (stale and wrong
// reads, duplicated revisions, real-time inversions, inconsistent txn compares, watch gaps, split
// revisions and duplicates, acknowledged writes lost across a restart, answers from the future).
#include "support/linearizability.h"

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace rametcd::testing {
namespace {

using ::testing::HasSubstr;

mvccpb::KeyValue Kv(const std::string& key, const std::string& value, int64_t create, int64_t mod,
                    int64_t version) {
  mvccpb::KeyValue kv;
  kv.set_key(key);
  kv.set_value(value);
  kv.set_create_revision(create);
  kv.set_mod_revision(mod);
  kv.set_version(version);
  return kv;
}

mvccpb::Event PutEvent(const mvccpb::KeyValue& kv) {
  mvccpb::Event e;
  e.set_type(mvccpb::Event::PUT);
  *e.mutable_kv() = kv;
  return e;
}

mvccpb::Event DeleteEvent(const std::string& key, int64_t rev) {
  mvccpb::Event e;
  e.set_type(mvccpb::Event::DELETE);
  e.mutable_kv()->set_key(key);
  e.mutable_kv()->set_mod_revision(rev);
  return e;
}

// Builds a history; times are milliseconds from an arbitrary origin.
class Builder {
 public:
  static LinClock::time_point T(int ms) {
    static const LinClock::time_point origin = LinClock::now();
    return origin + std::chrono::milliseconds(ms);
  }

  KvOperation& Op(int client, int start, int end) {
    KvOperation& op = history_.operations.emplace_back();
    op.client = client;
    op.start = T(start);
    op.end = T(end);
    return op;
  }
  void Put(int client, const std::string& key, const std::string& value, int start, int end,
           int64_t rev) {
    KvOperation& op = Op(client, start, end);
    op.request.mutable_request_put()->set_key(key);
    op.request.mutable_request_put()->set_value(value);
    op.response.mutable_response_put()->mutable_header()->set_revision(rev);
  }
  // A put whose client never learnt the outcome (the server died, the deadline passed).
  void UnknownPut(int client, const std::string& key, const std::string& value, int start,
                  int end) {
    KvOperation& op = Op(client, start, end);
    op.request.mutable_request_put()->set_key(key);
    op.request.mutable_request_put()->set_value(value);
    op.status = absl::UnavailableError("connection reset");
  }
  void Delete(int client, const std::string& key, int start, int end, int64_t rev,
              int64_t deleted) {
    KvOperation& op = Op(client, start, end);
    op.request.mutable_request_delete_range()->set_key(key);
    auto* resp = op.response.mutable_response_delete_range();
    resp->mutable_header()->set_revision(rev);
    resp->set_deleted(deleted);
  }
  // A range over [key, end) ("" end: the key alone) at `at` (0: current), answered at `header`.
  void Range(int client, const std::string& key, const std::string& end, int start, int finish,
             int64_t header, const std::vector<mvccpb::KeyValue>& kvs, int64_t at = 0) {
    KvOperation& op = Op(client, start, finish);
    auto* req = op.request.mutable_request_range();
    req->set_key(key);
    req->set_range_end(end);
    req->set_revision(at);
    auto* resp = op.response.mutable_response_range();
    resp->mutable_header()->set_revision(header);
    for (const auto& kv : kvs) *resp->add_kvs() = kv;
    resp->set_count(static_cast<int64_t>(kvs.size()));
  }
  // if version(key) == version then put key = value else range key.
  void Txn(int client, const std::string& key, int64_t version, const std::string& value, int start,
           int end, int64_t header, bool succeeded,
           const std::vector<mvccpb::KeyValue>& failure_kvs = {}) {
    KvOperation& op = Op(client, start, end);
    auto* txn = op.request.mutable_request_txn();
    auto* cmp = txn->add_compare();
    cmp->set_key(key);
    cmp->set_target(etcdserverpb::Compare::VERSION);
    cmp->set_version(version);
    auto* put = txn->add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    txn->add_failure()->mutable_request_range()->set_key(key);
    auto* resp = op.response.mutable_response_txn();
    resp->mutable_header()->set_revision(header);
    resp->set_succeeded(succeeded);
    if (succeeded) {
      resp->add_responses()->mutable_response_put()->mutable_header();
    } else {
      auto* range = resp->add_responses()->mutable_response_range();
      for (const auto& kv : failure_kvs) *range->add_kvs() = kv;
      range->set_count(static_cast<int64_t>(failure_kvs.size()));
    }
  }

  // A watch on [key, end) from `start_revision`, created at `at` when the server was at `header`.
  WatchRecord& Watch(int client, const std::string& key, const std::string& end,
                     int64_t start_revision, int at, int64_t header) {
    WatchRecord& w = history_.watches.emplace_back();
    w.client = client;
    w.create.set_key(key);
    w.create.set_range_end(end);
    w.create.set_start_revision(start_revision);
    w.start = T(at);
    auto& created = w.received.emplace_back();
    created.at = T(at);
    created.response.set_created(true);
    created.response.mutable_header()->set_revision(header);
    return w;
  }
  static void Deliver(WatchRecord& w, int at, const std::vector<mvccpb::Event>& events) {
    auto& r = w.received.emplace_back();
    r.at = T(at);
    int64_t header = 0;
    for (const auto& e : events) {
      *r.response.add_events() = e;
      header = std::max(header, e.kv().mod_revision());
    }
    r.response.mutable_header()->set_revision(header);
  }
  static void Progress(WatchRecord& w, int at, int64_t header) {
    auto& r = w.received.emplace_back();
    r.at = T(at);
    r.response.set_watch_id(-1);
    r.response.mutable_header()->set_revision(header);
  }

  History& history() { return history_; }
  LinearizabilityReport Check() const { return CheckHistory(history_); }

 private:
  History history_;
};

std::string Violations(const LinearizabilityReport& r) { return absl::StrJoin(r.violations, "\n"); }

void ExpectAccepted(const Builder& b) {
  const LinearizabilityReport r = b.Check();
  EXPECT_TRUE(r.violations.empty()) << Violations(r);
}

void ExpectRejected(const Builder& b, const std::string& because) {
  const LinearizabilityReport r = b.Check();
  EXPECT_THAT(Violations(r), HasSubstr(because)) << r.Summary();
  std::printf("rejected as expected:\n  %s\n", absl::StrJoin(r.violations, "\n  ").c_str());
}

// put a, put b, range, delete a, range at an old revision, a txn each way, a watch of everything.
Builder Sequential() {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.Put(1, "b", "b1", 2, 3, 3);
  b.Range(2, "a", "c", 4, 5, 3, {Kv("a", "a1", 2, 2, 1), Kv("b", "b1", 3, 3, 1)});
  b.Delete(1, "a", 6, 7, 4, 1);
  b.Range(2, "a", "c", 8, 9, 4, {Kv("a", "a1", 2, 2, 1)}, /*at=*/2);
  b.Txn(1, "b", 1, "b2", 10, 11, 5, true);
  b.Txn(1, "b", 1, "b3", 12, 13, 5, false, {Kv("b", "b2", 3, 5, 2)});
  b.Range(2, "a", "", 14, 15, 5, {});
  return b;
}

std::vector<mvccpb::Event> SequentialEvents(int64_t rev) {
  switch (rev) {
    case 2:
      return {PutEvent(Kv("a", "a1", 2, 2, 1))};
    case 3:
      return {PutEvent(Kv("b", "b1", 3, 3, 1))};
    case 4:
      return {DeleteEvent("a", 4)};
    case 5:
      return {PutEvent(Kv("b", "b2", 3, 5, 2))};
  }
  return {};
}

TEST(LinearizabilityCheckerTest, AcceptsASequentialHistoryAndItsWatch) {
  Builder b = Sequential();
  WatchRecord& w = b.Watch(3, std::string(1, '\0'), std::string(1, '\0'), 1, 0, 1);
  for (int rev = 2; rev <= 5; ++rev) Builder::Deliver(w, 2 * rev + 1, SequentialEvents(rev));
  Builder::Progress(w, 20, 5);
  const LinearizabilityReport r = b.Check();
  EXPECT_TRUE(r.violations.empty()) << Violations(r);
  EXPECT_EQ(r.revision, 5);
  EXPECT_EQ(r.watch_events_checked, 4u);
  EXPECT_EQ(r.acknowledged_writes, 5u);
}

TEST(LinearizabilityCheckerTest, AcceptsConcurrentWritesInEitherOrder) {
  Builder b;
  b.Put(1, "a", "first-started", 0, 10, 3);
  b.Put(2, "a", "second-started", 1, 5, 2);
  b.Range(3, "a", "", 11, 12, 3, {Kv("a", "first-started", 2, 3, 2)});
  ExpectAccepted(b);
}

TEST(LinearizabilityCheckerTest, AcceptsUnknownWritesThatDidOrDidNotHappen) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.UnknownPut(2, "a", "happened", 2, 3);
  b.UnknownPut(3, "b", "never-happened", 2, 3);
  b.Range(1, "a", "c", 10, 11, 3, {Kv("a", "happened", 2, 3, 2)});
  const LinearizabilityReport r = b.Check();
  EXPECT_TRUE(r.violations.empty()) << Violations(r);
  EXPECT_EQ(r.unknown_writes, 2u);
  EXPECT_EQ(r.unknown_writes_applied, 1u);
}

TEST(LinearizabilityCheckerTest, AcceptsARevisionReusedAfterACrashLostAnUnacknowledgedWrite) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.UnknownPut(2, "a", "lost-in-the-crash", 2, 3);  // the server was killed
  b.Put(1, "a", "a2", 10, 11, 3);                   // after the restart
  b.Range(3, "a", "", 12, 13, 3, {Kv("a", "a2", 2, 3, 2)});
  ExpectAccepted(b);
}

// The unknown delete was cut by the crash, so revision 3 (after the restart) is the unknown put:
// the count-only read cannot tell, the crash can.
TEST(LinearizabilityCheckerTest, AcceptsOnlyWritesFromBeforeACrashUpToItsRecoveredRevision) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  KvOperation& cut = b.Op(2, 2, 5);
  cut.request.mutable_request_delete_range()->set_key("a");
  cut.status = absl::UnavailableError("connection reset");
  b.history().crashes.push_back({Builder::T(4), /*recovered_revision=*/2});
  b.UnknownPut(3, "c", "c1", 10, 11);
  KvOperation& count = b.Op(1, 12, 13);
  count.request.mutable_request_range()->set_key("a");
  count.request.mutable_request_range()->set_range_end("d");
  count.request.mutable_request_range()->set_count_only(true);
  count.response.mutable_response_range()->mutable_header()->set_revision(3);
  count.response.mutable_response_range()->set_count(2);
  const LinearizabilityReport r = b.Check();
  EXPECT_TRUE(r.violations.empty()) << Violations(r);
  EXPECT_EQ(r.unknown_writes_applied, 1u);
}

TEST(LinearizabilityCheckerTest, RejectsAStaleRead) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.Range(2, "a", "", 2, 3, 1, {});
  ExpectRejected(b, "stale answer");
}

TEST(LinearizabilityCheckerTest, RejectsAReadThatIsNotTheStateAtItsRevision) {
  Builder b = Sequential();
  b.Range(2, "b", "", 20, 21, 5, {Kv("b", "b1", 3, 3, 1)});
  ExpectRejected(b, "does not match the state at revision 5");
}

TEST(LinearizabilityCheckerTest, RejectsAWrongVersionAtAnOldRevision) {
  Builder b = Sequential();
  b.Range(2, "b", "", 20, 21, 5, {Kv("b", "b1", 3, 3, 2)}, /*at=*/4);
  ExpectRejected(b, "does not match the state at revision 4");
}

TEST(LinearizabilityCheckerTest, RejectsADuplicatedRevision) {
  Builder b;
  b.Put(1, "a", "a1", 0, 2, 2);
  b.Put(2, "b", "b1", 1, 3, 2);
  ExpectRejected(b, "revision 2 was given to 2 acknowledged writes");
}

TEST(LinearizabilityCheckerTest, RejectsARealTimeInversion) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 3);
  b.Put(2, "b", "b1", 2, 3, 2);
  ExpectRejected(b, "real-time order");
}

TEST(LinearizabilityCheckerTest, RejectsATxnWhoseComparesDisagreeWithItsRevision) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.Txn(1, "a", 5, "a2", 2, 3, 3, /*succeeded=*/true);  // version(a) is 1, not 5
  ExpectRejected(b, "its compares are false at revision 2");
}

TEST(LinearizabilityCheckerTest, RejectsAWatchGap) {
  Builder b = Sequential();
  WatchRecord& w = b.Watch(3, "a", "c", 1, 0, 1);
  for (int rev : {2, 4, 5}) Builder::Deliver(w, 2 * rev + 1, SequentialEvents(rev));
  ExpectRejected(b, "gap: the events of revision 3");
}

TEST(LinearizabilityCheckerTest, RejectsAWatchThatSplitsARevision) {
  Builder b;
  KvOperation& op = b.Op(1, 0, 1);
  auto* txn = op.request.mutable_request_txn();
  for (const char* key : {"a", "b"}) {
    auto* put = txn->add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(std::string(key) + "1");
  }
  op.response.mutable_response_txn()->set_succeeded(true);
  op.response.mutable_response_txn()->mutable_header()->set_revision(2);
  for (int i = 0; i < 2; ++i) {
    op.response.mutable_response_txn()->add_responses()->mutable_response_put();
  }
  WatchRecord& w = b.Watch(3, "a", "c", 0, 0, 1);
  Builder::Deliver(w, 2, {PutEvent(Kv("a", "a1", 2, 2, 1))});
  Builder::Deliver(w, 3, {PutEvent(Kv("b", "b1", 2, 2, 1))});
  ExpectRejected(b, "the events of revision 2 came in more than one response");
}

TEST(LinearizabilityCheckerTest, RejectsADuplicatedWatchEvent) {
  Builder b = Sequential();
  WatchRecord& w = b.Watch(3, "a", "", 1, 0, 1);
  Builder::Deliver(w, 4, SequentialEvents(2));
  Builder::Deliver(w, 5, SequentialEvents(2));
  ExpectRejected(b, "revision 2 came again");
}

TEST(LinearizabilityCheckerTest, RejectsAWatchEventThatIsNotTheWrite) {
  Builder b = Sequential();
  WatchRecord& w = b.Watch(3, "b", "", 1, 0, 1);
  Builder::Deliver(w, 6, {PutEvent(Kv("b", "b1", 3, 3, 2))});
  ExpectRejected(b, "revision 3 delivered");
}

TEST(LinearizabilityCheckerTest, RejectsAProgressNotificationBeforeTheEvents) {
  Builder b = Sequential();
  WatchRecord& w = b.Watch(3, "b", "", 1, 0, 1);
  Builder::Progress(w, 16, 5);
  Builder::Deliver(w, 17, SequentialEvents(3));
  ExpectRejected(b, "a progress notification at revision 5");
}

// kill -9 after an acknowledged fsync-mode write, and the restarted server lacks it.
TEST(LinearizabilityCheckerTest, RejectsALostAcknowledgedWriteAfterRestart) {
  {
    Builder b;  // the restarted server answers at the old revision
    b.Put(1, "a", "a1", 0, 1, 2);
    b.Range(2, "a", "", 10, 11, 1, {});
    ExpectRejected(b, "stale answer");
  }
  {
    Builder b;  // ... and numbers the next write with the lost revision
    b.Put(1, "a", "a1", 0, 1, 2);
    b.Put(1, "b", "b1", 10, 11, 2);
    ExpectRejected(b, "revision 2 was given to 2 acknowledged writes");
  }
  {
    Builder b;  // ... which the recorded crash says directly
    b.Put(1, "a", "a1", 0, 1, 2);
    b.history().crashes.push_back({Builder::T(5), /*recovered_revision=*/1});
    ExpectRejected(b, "lost on a crash: the server killed at +0.005000s came back at revision 1");
  }
  {
    Builder b;  // ... or recovered the revision but not the key
    b.Put(1, "a", "a1", 0, 1, 2);
    b.Range(2, "a", "", 10, 11, 2, {});
    ExpectRejected(b, "does not match the state at revision 2");
  }
}

TEST(LinearizabilityCheckerTest, RejectsARevisionNoWriteExplains) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.Range(2, "a", "", 2, 3, 3, {Kv("a", "a1", 2, 2, 1)});
  ExpectRejected(b, "revision 3 is held by no acknowledged write");
}

// What the multi-stream crash leaves: the server came back at revision 3 but a watch of every key
// says nothing changed there, so the unknown put cannot have made it.
TEST(LinearizabilityCheckerTest, RejectsARevisionAWatchSawNothingAt) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.UnknownPut(2, "b", "b1", 2, 5);
  b.history().crashes.push_back({Builder::T(4), /*recovered_revision=*/3});
  WatchRecord& w = b.Watch(3, std::string(1, '\0'), std::string(1, '\0'), 2, 6, 3);
  Builder::Deliver(w, 7, {PutEvent(Kv("a", "a1", 2, 2, 1))});
  Builder::Progress(w, 8, 3);
  ExpectRejected(b, "revision 3 is held by no acknowledged write");
}

TEST(LinearizabilityCheckerTest, RejectsAnAnswerFromTheFuture) {
  Builder b;
  b.Range(2, "a", "", 0, 1, 2, {Kv("a", "a1", 2, 2, 1)});
  b.Put(1, "a", "a1", 5, 6, 2);
  ExpectRejected(b, "answer from the future");
}

TEST(LinearizabilityCheckerTest, RejectsAnUnknownWriteSeenWithTheWrongEffect) {
  Builder b;
  b.Put(1, "a", "a1", 0, 1, 2);
  b.UnknownPut(2, "a", "u", 2, 3);
  b.Range(1, "a", "", 10, 11, 3, {Kv("a", "u", 3, 3, 1)});  // a kept its create revision 2
  ExpectRejected(b, "revision 3 is held by no acknowledged write");
}

}  // namespace
}  // namespace rametcd::testing
