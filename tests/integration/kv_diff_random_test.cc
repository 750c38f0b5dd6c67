// Randomized differential test: seeded sequences of puts (some with leases), deletes, txns (with
// compares and nested txns), ranges at random revisions, compactions, lease grants and revokes
// over a small key space spanning two resource prefixes and plain keys, sent to a real etcd 3.4
// and to rametcd; every answer must match.
//
// The key space stays at 10 keys so that sorted results never exceed the size where etcd's sort
// is stable (ties keep key order), which rametcd's stable sort reproduces.
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "support/differential.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::RequestOp;
using etcdserverpb::TxnRequest;

const std::vector<std::string> kKeys = {"/registry/pods/default/a",
                                        "/registry/pods/default/b",
                                        "/registry/pods/kube/c",
                                        "/registry/example.com/foos/ns/x",
                                        "/registry/example.com/foos/ns/y",
                                        "/registry/health",
                                        "a",
                                        "b",
                                        "zz",
                                        std::string("\xff\x01", 2)};

class Generator {
 public:
  Generator(uint32_t seed, const Differential* d) : rng_(seed), d_(d) {}

  int Pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Pick(100) < percent; }
  const std::string& Key() { return kKeys[Pick(static_cast<int>(kKeys.size()))]; }
  std::string Value() { return "v" + std::to_string(Pick(4)); }

  // A revision around the interesting ones: compacted, current, future, zero, negative.
  int64_t Revision() {
    const int64_t current = d_->revision();
    switch (Pick(6)) {
      case 0:
        return 0;
      case 1:
        return -Pick(3);
      case 2:
        return current + Pick(3);
      default:
        return std::max<int64_t>(1, current - Pick(40));
    }
  }

  // (key, range_end): single key, prefix, from-key, all keys, or an arbitrary interval.
  std::pair<std::string, std::string> Span() {
    static const std::string kNul("\0", 1);
    switch (Pick(6)) {
      case 0:
      case 1:
        return {Key(), ""};
      case 2: {
        static const char* kPrefixes[] = {"/registry/pods/", "/registry/example.com/foos/",
                                          "/registry/", "a", "/registry/pods/default/"};
        std::string p = kPrefixes[Pick(5)];
        std::string end = p;
        end.back() = static_cast<char>(end.back() + 1);
        return {p, end};
      }
      case 3:
        return {Key(), kNul};
      case 4:
        return {kNul, kNul};
      default:
        return {Key(), Key()};
    }
  }

  RangeRequest Range() {
    auto [key, end] = Span();
    RangeRequest r = Get(key, end);
    if (Chance(40)) r.set_limit(Pick(5) - 1);
    if (Chance(40)) r.set_revision(Revision());
    if (Chance(25)) {
      r.set_sort_order(static_cast<RangeRequest::SortOrder>(Pick(3)));
      r.set_sort_target(static_cast<RangeRequest::SortTarget>(Pick(5)));
    }
    r.set_keys_only(Chance(15));
    r.set_count_only(Chance(15));
    if (Chance(10)) r.set_min_mod_revision(Revision());
    if (Chance(10)) r.set_max_create_revision(Revision());
    return r;
  }

  // ignore_value / ignore_lease only outside txns: inside one, a put of a key that an earlier
  // nested txn deleted passes etcd's checks and then panics etcd 3.4 (rametcd rejects the txn;
  // see store_test).
  // A lease ID: mostly none, else one of the few the sequence grants, or one never granted.
  int64_t LeaseId() {
    static const int64_t kLeases[] = {1, 2, 3, 99};
    return Chance(60) ? 0 : kLeases[Pick(4)];
  }

  etcdserverpb::PutRequest PutReq(bool top_level) {
    auto p = Put(Key(), Value());
    p.set_prev_kv(Chance(40));
    p.set_lease(LeaseId());
    if (!top_level) return p;
    if (Chance(5)) {
      p.set_ignore_value(true);
      p.clear_value();
    }
    if (Chance(5)) {
      p.set_ignore_lease(true);
      p.clear_lease();
    }
    return p;
  }

  etcdserverpb::DeleteRangeRequest DeleteReq() {
    auto [key, end] = Span();
    auto del = Delete(key, end);
    del.set_prev_kv(Chance(50));
    return del;
  }

  Compare CompareReq() {
    const auto result = static_cast<Compare::CompareResult>(Pick(4));
    Compare c;
    switch (Pick(5)) {
      case 0:
        c = Cmp(Key(), Compare::VERSION, result, Pick(4));
        break;
      case 1:
        c = Cmp(Key(), Compare::CREATE, result, Revision());
        break;
      case 2:
        c = Cmp(Key(), Compare::MOD, result, Revision());
        break;
      case 3:
        c = Cmp(Key(), Compare::LEASE, result, LeaseId());
        break;
      default:
        c = CmpValue(Key(), result, Value());
    }
    if (Chance(15)) c.set_range_end(Span().second);
    return c;
  }

  TxnRequest Txn(int depth) {
    TxnRequest t;
    for (int i = Pick(3); i > 0; --i) *t.add_compare() = CompareReq();
    for (auto* branch : {t.mutable_success(), t.mutable_failure()}) {
      for (int i = Pick(4); i > 0; --i) {
        RequestOp* op = branch->Add();
        switch (Pick(depth < 1 ? 4 : 3)) {
          case 0:
            *op->mutable_request_range() = Range();
            break;
          case 1:
            *op->mutable_request_put() = PutReq(/*top_level=*/false);
            break;
          case 2:
            *op->mutable_request_delete_range() = DeleteReq();
            break;
          default:
            *op->mutable_request_txn() = Txn(depth + 1);
        }
      }
    }
    return t;
  }

 private:
  std::mt19937 rng_;
  const Differential* d_;
};

int SequenceLength() {
  const char* env = std::getenv("RAMETCD_DIFF_OPS");
  return env ? std::atoi(env) : 1500;
}

class KvDiffRandomTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(KvDiffRandomTest, SeededSequenceMatchesEtcd) {
  auto started = Differential::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  Differential& d = **started;
  Generator gen(GetParam(), &d);
  const int ops = SequenceLength();
  int mismatches = 0;
  for (int i = 0; i < ops && mismatches < 5; ++i) {
    std::string diff;
    int kind = gen.Pick(100);
    if (kind < 30) {
      diff = d.Put(gen.PutReq(/*top_level=*/true));
    } else if (kind < 42) {
      diff = d.DeleteRange(gen.DeleteReq());
    } else if (kind < 65) {
      diff = d.Txn(gen.Txn(0));
    } else if (kind < 93) {
      diff = d.Range(gen.Range());
    } else if (kind < 95) {
      diff = d.Compact(CompactTo(d.revision() - gen.Pick(30)));
    } else if (kind < 98) {
      etcdserverpb::LeaseGrantRequest grant;  // often a duplicate: an error on both
      grant.set_id(1 + gen.Pick(3));
      grant.set_ttl(100000);
      diff = d.LeaseGrant(grant);
    } else {
      etcdserverpb::LeaseRevokeRequest revoke;  // deletes the lease's keys in one revision
      revoke.set_id(gen.Chance(80) ? 1 + gen.Pick(3) : 99);
      diff = d.LeaseRevoke(revoke);
    }
    if (!diff.empty()) {
      ++mismatches;
      ADD_FAILURE() << "seed " << GetParam() << " op " << i << "\n" << diff;
    }
  }
  // The final states must agree too, at every retained revision.
  for (int64_t rev = 0; rev <= d.revision(); rev += 7) {
    auto all = Get(std::string("\0", 1), std::string("\0", 1));
    all.set_revision(rev);
    EXPECT_EQ(d.Range(all), "");
  }
  std::printf("seed %u: %lld requests compared, final revision %lld\n", GetParam(),
              static_cast<long long>(d.compared()), static_cast<long long>(d.revision()));
}

INSTANTIATE_TEST_SUITE_P(Seeds, KvDiffRandomTest, ::testing::Values(1u, 2u, 3u, 4u));

}  // namespace
}  // namespace rametcd::testing
