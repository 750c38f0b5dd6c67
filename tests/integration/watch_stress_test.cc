// Watch stress: writers run random puts, deletes and txns while watchers of every kind (exact
// keys, prefixes, ranges, from-key, all keys; some starting in the past, one reconnecting midway)
// watch. A reference watch on all keys from revision 1 must hold every revision exactly once, in
// order, and replaying it must give the final state; every other watch must have received exactly
// the reference's events for its range from its start on, each revision in one response.
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "support/server_process.h"
#include "support/watch_session.h"

namespace rametcd::testing {
namespace {

const std::string kNul("\0", 1);

struct Spec {
  std::string key, end;
  int64_t start = 0;
};

struct Received {
  std::vector<mvccpb::Event> events;
  int split_revisions = 0;  // revisions whose events came in more than one response
  int64_t last_revision = 0;
};

bool InRange(const Spec& s, const std::string& k) {
  if (s.end.empty()) return k == s.key;
  if (s.end == kNul) return k >= s.key;
  return k >= s.key && k < s.end;
}

std::string KeyOf(int i) {
  static const char* kPrefixes[] = {"/registry/pods/ns/", "/registry/leases/ns/", "a/", "b"};
  return absl::StrCat(kPrefixes[i % 4], i);
}

// Reads responses for the watches of `session` until `watch` has seen revision `until` (or
// nothing arrives for 10 s); responses for other watches of the session are kept too.
void Collect(WatchSession& session, std::map<int64_t, Received>* by_watch, int64_t watch,
             int64_t until) {
  while ((*by_watch)[watch].last_revision < until) {
    auto r = session.Next(absl::Seconds(10));
    if (!r) return;
    if (r->events_size() == 0) continue;
    Received& got = (*by_watch)[r->watch_id()];
    int64_t first = r->events(0).kv().mod_revision();
    if (first == got.last_revision) ++got.split_revisions;
    for (const auto& e : r->events()) {
      got.events.push_back(e);
      got.last_revision = e.kv().mod_revision();
    }
  }
}

TEST(WatchStressTest, EveryWatchSeesExactlyItsEvents) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  constexpr int kWriters = 3, kOpsPerWriter = 1000, kKeys = 40;

  WatchSession reference((*server)->channel());
  etcdserverpb::WatchRequest all = CreateWatch(kNul, kNul, 1);
  all.mutable_create_request()->set_prev_kv(true);
  ASSERT_TRUE(reference.Send(all));
  ASSERT_TRUE(reference.Next().has_value());  // created, id 0

  // Live watches on two streams, created before the writes.
  const std::vector<Spec> live = {{KeyOf(1), ""},
                                  {"/registry/pods/", "/registry/pods0"},
                                  {"/registry/", "/registry0"},
                                  {"a/1", "a/3"},
                                  {"b", kNul},
                                  {KeyOf(7), ""}};
  std::vector<std::unique_ptr<WatchSession>> streams;
  for (int s = 0; s < 2; ++s)
    streams.push_back(std::make_unique<WatchSession>((*server)->channel()));
  for (size_t i = 0; i < live.size(); ++i) {
    ASSERT_TRUE(streams[i % 2]->Send(CreateWatch(live[i].key, live[i].end)));
  }
  for (auto& s : streams) {
    for (size_t i = 0; i < live.size() / 2; ++i) ASSERT_TRUE(s->Next().has_value());
  }

  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      std::mt19937 rng(100 + w);
      auto kv = (*server)->NewKvStub();
      for (int i = 0; i < kOpsPerWriter; ++i) {
        grpc::ClientContext ctx;
        int op = rng() % 10;
        if (op < 6) {
          etcdserverpb::PutRequest put;
          put.set_key(KeyOf(rng() % kKeys));
          put.set_value(absl::StrCat("w", w, "-", i));
          etcdserverpb::PutResponse resp;
          ASSERT_TRUE(kv->Put(&ctx, put, &resp).ok());
        } else if (op < 8) {
          etcdserverpb::DeleteRangeRequest del;
          del.set_key(KeyOf(rng() % kKeys));
          if (rng() % 4 == 0) del.set_range_end(del.key() + "~");
          etcdserverpb::DeleteRangeResponse resp;
          ASSERT_TRUE(kv->DeleteRange(&ctx, del, &resp).ok());
        } else {
          etcdserverpb::TxnRequest txn;
          for (int j = 0; j < 3; ++j) {
            auto* put = txn.add_success()->mutable_request_put();
            put->set_key(KeyOf((rng() % (kKeys / 3)) * 3 + j));
            put->set_value(absl::StrCat("t", w, "-", i));
          }
          etcdserverpb::TxnResponse resp;
          ASSERT_TRUE(kv->Txn(&ctx, txn, &resp).ok());
        }
      }
    });
  }
  // Midway: watches that start in the past, and one that reconnects.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  WatchSession late((*server)->channel());
  const std::vector<Spec> past = {{"/registry/", "/registry0", 2}, {KeyOf(2), "", 50}};
  for (const Spec& s : past) ASSERT_TRUE(late.Send(CreateWatch(s.key, s.end, s.start)));
  for (auto& t : writers) t.join();

  auto kv = (*server)->NewKvStub();
  grpc::ClientContext ctx;
  etcdserverpb::RangeRequest everything;
  everything.set_key(kNul);
  everything.set_range_end(kNul);
  etcdserverpb::RangeResponse final_state;
  ASSERT_TRUE(kv->Range(&ctx, everything, &final_state).ok());
  const int64_t final_rev = final_state.header().revision();

  // The reference: every revision 2..final exactly once, in order, never split.
  std::map<int64_t, Received> ref;
  Collect(reference, &ref, 0, final_rev);
  ASSERT_EQ(ref[0].last_revision, final_rev);
  EXPECT_EQ(ref[0].split_revisions, 0);
  int64_t expect_rev = 2;
  std::map<std::string, std::string> replay;
  for (const auto& e : ref[0].events) {
    const int64_t rev = e.kv().mod_revision();
    ASSERT_TRUE(rev == expect_rev || rev == expect_rev + 1) << "gap or reorder at " << rev;
    expect_rev = rev;
    if (e.type() == mvccpb::Event::PUT) {
      replay[e.kv().key()] = e.kv().value();
    } else {
      replay.erase(e.kv().key());
    }
  }
  std::map<std::string, std::string> actual;
  for (const auto& kv_pair : final_state.kvs()) actual[kv_pair.key()] = kv_pair.value();
  EXPECT_EQ(replay, actual);

  // The reference's events for `s`, and the revision of the last one.
  auto expected_for = [&](const Spec& s, int64_t* last) {
    std::vector<std::string> out;
    *last = 0;
    for (const auto& e : ref[0].events) {
      if (InRange(s, e.kv().key()) && e.kv().mod_revision() >= s.start) {
        mvccpb::Event copy = e;
        copy.clear_prev_kv();
        out.push_back(copy.ShortDebugString());
        *last = e.kv().mod_revision();
      }
    }
    return out;
  };
  auto as_strings = [](const std::vector<mvccpb::Event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.ShortDebugString());
    return out;
  };
  int64_t checked = static_cast<int64_t>(ref[0].events.size());
  for (int s = 0; s < 2; ++s) {
    std::map<int64_t, Received> got;
    for (size_t i = s; i < live.size(); i += 2) {
      const int64_t id = static_cast<int64_t>(i / 2);
      int64_t last = 0;
      auto want = expected_for(live[i], &last);
      Collect(*streams[s], &got, id, last);
      EXPECT_EQ(as_strings(got[id].events), want) << "live watch " << i;
      EXPECT_EQ(got[id].split_revisions, 0) << "live watch " << i;
      checked += static_cast<int64_t>(want.size());
    }
  }
  std::map<int64_t, Received> got;
  for (size_t i = 0; i < past.size(); ++i) {
    int64_t last = 0;
    auto want = expected_for(past[i], &last);
    Collect(late, &got, static_cast<int64_t>(i), last);
    EXPECT_EQ(as_strings(got[i].events), want) << "past watch " << i;
    checked += static_cast<int64_t>(want.size());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%zu watches, %lld revisions, %lld events delivered and checked in %.2f s (%.0f/s)\n",
              live.size() + past.size() + 1, static_cast<long long>(final_rev - 1),
              static_cast<long long>(checked), seconds, checked / seconds);
}

TEST(WatchStressTest, ResumingFromTheLastRevisionLosesNothing) {
  auto server = ServerProcess::StartRametcd();
  ASSERT_TRUE(server.ok()) << server.status();
  auto kv = (*server)->NewKvStub();
  auto put = [&](int i) {
    grpc::ClientContext ctx;
    etcdserverpb::PutRequest req;
    req.set_key("r/" + std::to_string(i % 7));
    req.set_value(std::to_string(i));
    etcdserverpb::PutResponse resp;
    ASSERT_TRUE(kv->Put(&ctx, req, &resp).ok());
  };
  std::vector<int64_t> seen;
  int64_t next = 1;
  for (int round = 0; round < 5; ++round) {
    // A new connection each round, resuming from the last revision seen + 1.
    WatchSession s((*server)->channel());
    ASSERT_TRUE(s.Send(CreateWatch("r/", "r0", next)));
    ASSERT_TRUE(s.Next().has_value());
    for (int i = 0; i < 40; ++i) put(round * 40 + i);
    while (seen.size() < static_cast<size_t>((round + 1) * 40)) {
      auto r = s.Next();
      ASSERT_TRUE(r.has_value()) << "round " << round;
      for (const auto& e : r->events()) seen.push_back(e.kv().mod_revision());
    }
    next = seen.back() + 1;
  }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], static_cast<int64_t>(i) + 2);
}

}  // namespace
}  // namespace rametcd::testing
