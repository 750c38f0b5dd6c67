// Differential scenarios: every KV option and error path, sent to a real etcd 3.4 and to rametcd,
// responses compared field by field (tests/support/differential.h).
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "support/differential.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;
using etcdserverpb::TxnRequest;

class KvDiffTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto d = Differential::Start();
    if (!d.ok()) {
      start_error_ = new std::string(d.status().ToString());
      return;
    }
    diff_ = d->release();
  }
  static void TearDownTestSuite() {
    if (diff_ != nullptr) {
      std::printf("differential requests compared: %lld\n",
                  static_cast<long long>(diff_->compared()));
    }
    delete diff_;
    diff_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(diff_, nullptr) << "cannot start the servers: " << *start_error_;
  }

  Differential& d() { return *diff_; }

  // Puts `key`=`value` on both servers and expects identical answers.
  void Seed(const std::string& key, const std::string& value) {
    EXPECT_EQ(d().Put(Put(key, value)), "");
  }

  static Differential* diff_;
  static std::string* start_error_;
};

Differential* KvDiffTest::diff_ = nullptr;
std::string* KvDiffTest::start_error_ = nullptr;

TEST_F(KvDiffTest, FirstCompactionAtZeroIsAcceptedOnce) {
  EXPECT_EQ(d().Compact(CompactTo(0)), "");
  EXPECT_EQ(d().Compact(CompactTo(0)), "");
}

TEST_F(KvDiffTest, PutAndGetSingleKeys) {
  EXPECT_EQ(d().Range(Get("p/missing")), "");
  Seed("p/a", "1");
  Seed("p/a", "2");  // version 2, same create revision
  Seed("p/a", "2");  // identical value still advances the revision
  EXPECT_EQ(d().Range(Get("p/a")), "");
  Seed("p/empty", "");
  EXPECT_EQ(d().Range(Get("p/empty")), "");
  Seed(std::string("p/bin\0\xff\x01", 8), std::string("\0v\xff", 3));
  EXPECT_EQ(d().Range(Get(std::string("p/bin\0\xff\x01", 8))), "");
}

TEST_F(KvDiffTest, PutOptions) {
  auto with_prev = Put("po/k", "v1");
  with_prev.set_prev_kv(true);
  EXPECT_EQ(d().Put(with_prev), "");  // new key: no prev_kv
  with_prev.set_value("v2");
  EXPECT_EQ(d().Put(with_prev), "");  // prev_kv = v1

  auto ignore_value = Put("po/k", "");
  ignore_value.set_ignore_value(true);
  ignore_value.set_prev_kv(true);
  EXPECT_EQ(d().Put(ignore_value), "");
  ignore_value.set_key("po/missing");
  EXPECT_EQ(d().Put(ignore_value), "");  // key not found
  ignore_value.set_value("x");
  EXPECT_EQ(d().Put(ignore_value), "");  // value is provided

  auto ignore_lease = Put("po/k", "v3");
  ignore_lease.set_ignore_lease(true);
  EXPECT_EQ(d().Put(ignore_lease), "");
  ignore_lease.set_key("po/missing");
  EXPECT_EQ(d().Put(ignore_lease), "");  // key not found
  ignore_lease.set_lease(7);
  EXPECT_EQ(d().Put(ignore_lease), "");  // lease is provided

  auto with_lease = Put("po/leased", "v");
  with_lease.set_lease(12345);
  EXPECT_EQ(d().Put(with_lease), "");  // requested lease not found
  with_lease.set_ignore_value(true);
  with_lease.set_value("");
  with_lease.set_key("po/missing");
  EXPECT_EQ(d().Put(with_lease), "");  // lease checked before the key

  EXPECT_EQ(d().Put(Put("", "v")), "");  // key is not provided
  EXPECT_EQ(d().Range(Get("po/", "po0")), "");
}

TEST_F(KvDiffTest, RequestSizeLimit) {
  EXPECT_EQ(d().Put(Put("big/ok", std::string(1024 * 1024, 'x'))), "");
  EXPECT_EQ(d().Put(Put("big/too-large", std::string(1600 * 1024, 'x'))), "");
  TxnRequest txn;
  *txn.add_success() = Op(Put("big/txn", std::string(1600 * 1024, 'y')));
  EXPECT_EQ(d().Txn(txn), "");
  EXPECT_EQ(d().DeleteRange(Delete("big/", "big0")), "");
}

TEST_F(KvDiffTest, RangeEnds) {
  for (const char* k : {"r/a", "r/b", "r/b/c", "r/c", "r\xff", "r\xff\xff", "s"}) Seed(k, k);
  EXPECT_EQ(d().Range(Get("r/", "r0")), "");                                  // prefix
  EXPECT_EQ(d().Range(Get("r/b", std::string("\0", 1))), "");                 // from key
  EXPECT_EQ(d().Range(Get(std::string("\0", 1), std::string("\0", 1))), "");  // all keys
  EXPECT_EQ(d().Range(Get("r/c", "r/a")), "");                                // end < key: empty
  EXPECT_EQ(d().Range(Get("r/b", "r/b")), "");                                // end == key: empty
  EXPECT_EQ(d().Range(Get("r\xff", "s")), "");
  EXPECT_EQ(d().Range(Get("r/a", "r/c")), "");
  EXPECT_EQ(d().Range(Get("")), "");  // key is not provided
  EXPECT_EQ(d().Range(Get("", "z")), "");
}

TEST_F(KvDiffTest, RangeLimitCountAndFlags) {
  for (int i = 0; i < 6; ++i) Seed("l/" + std::to_string(i), std::string(i + 1, 'v'));
  for (int64_t limit : {-1, 0, 1, 3, 6, 7}) {
    auto r = Get("l/", "l0");
    r.set_limit(limit);
    EXPECT_EQ(d().Range(r), "") << "limit " << limit;
    r.set_count_only(true);
    EXPECT_EQ(d().Range(r), "") << "count_only limit " << limit;
    r.set_count_only(false);
    r.set_keys_only(true);
    EXPECT_EQ(d().Range(r), "") << "keys_only limit " << limit;
    r.set_serializable(true);
    EXPECT_EQ(d().Range(r), "") << "serializable limit " << limit;
  }
}

TEST_F(KvDiffTest, PaginatedListAtTheFirstPagesRevision) {
  // Kubernetes lists in pages: each next page asks from the last key + "\0" at the first page's
  // revision, while writes go on. Every page's count is the rest of the list at that revision.
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("pg/" + std::string(i < 10 ? "0" : "") + std::to_string(i));
    Seed(keys.back(), "v");
  }
  const int64_t rev = d().revision();
  for (size_t start = 0; start < keys.size(); start += 4) {
    auto page = Get(start == 0 ? "pg/" : keys[start - 1] + std::string(1, '\0'), "pg0");
    page.set_limit(4);
    page.set_revision(start == 0 ? 0 : rev);
    EXPECT_EQ(d().Range(page), "") << "page from key " << start;
    EXPECT_EQ(d().DeleteRange(Delete(keys[(start + 7) % keys.size()])), "");
    Seed(keys[start] + "x", "new");
  }
}

TEST_F(KvDiffTest, RangeSortAndFilters) {
  // Versions, create and mod revisions, and values in different orders than the keys.
  Seed("s/c", "1");
  Seed("s/a", "3");
  Seed("s/b", "2");
  Seed("s/a", "0");
  Seed("s/d", "2");
  Seed("s/c", "9");
  Seed("s/c", "9");
  const int64_t mid = d().revision() - 3;
  for (int order = 0; order <= 2; ++order) {
    for (int target = 0; target <= 4; ++target) {
      for (int64_t limit : {0, 2}) {
        auto r = Get("s/", "s0");
        r.set_sort_order(static_cast<RangeRequest::SortOrder>(order));
        r.set_sort_target(static_cast<RangeRequest::SortTarget>(target));
        r.set_limit(limit);
        EXPECT_EQ(d().Range(r), "") << order << "/" << target << "/" << limit;
      }
    }
  }
  auto r = Get("s/", "s0");
  r.set_min_mod_revision(mid);
  EXPECT_EQ(d().Range(r), "");
  r.set_limit(1);
  EXPECT_EQ(d().Range(r), "");
  r = Get("s/", "s0");
  r.set_max_mod_revision(mid);
  EXPECT_EQ(d().Range(r), "");
  r = Get("s/", "s0");
  r.set_min_create_revision(mid - 2);
  r.set_max_create_revision(mid);
  r.set_sort_order(RangeRequest::DESCEND);
  r.set_sort_target(RangeRequest::MOD);
  EXPECT_EQ(d().Range(r), "");
  r.set_count_only(true);
  EXPECT_EQ(d().Range(r), "");
}

TEST_F(KvDiffTest, RangeAtRevisions) {
  Seed("h/k", "v1");
  const int64_t first = d().revision();
  Seed("h/k", "v2");
  EXPECT_EQ(d().DeleteRange(Delete("h/k")), "");
  Seed("h/k", "v3");  // recreated: new create revision, version 1
  Seed("h/other", "x");
  const int64_t last = d().revision();
  for (int64_t rev = first - 1; rev <= last + 1; ++rev) {
    for (const auto& r : {Get("h/k"), Get("h/", "h0")}) {
      auto at = r;
      at.set_revision(rev);
      EXPECT_EQ(d().Range(at), "") << "revision " << rev;
      at.set_count_only(true);
      EXPECT_EQ(d().Range(at), "") << "count_only revision " << rev;
    }
  }
  auto negative = Get("h/k");
  negative.set_revision(-3);
  EXPECT_EQ(d().Range(negative), "");
}

TEST_F(KvDiffTest, DeleteRanges) {
  for (const char* k : {"d/a", "d/b", "d/c", "d/d", "e"}) Seed(k, k);
  EXPECT_EQ(d().DeleteRange(Delete("d/missing")), "");  // no revision change
  auto del = Delete("d/a");
  del.set_prev_kv(true);
  EXPECT_EQ(d().DeleteRange(del), "");
  del = Delete("d/b", "d/d");
  del.set_prev_kv(true);
  EXPECT_EQ(d().DeleteRange(del), "");  // one revision for two keys, prev_kvs in key order
  EXPECT_EQ(d().DeleteRange(Delete("d/", "d0")), "");
  EXPECT_EQ(d().DeleteRange(Delete("d/", "d0")), "");    // nothing left
  EXPECT_EQ(d().DeleteRange(Delete("d/z", "d/a")), "");  // empty range
  EXPECT_EQ(d().DeleteRange(Delete("")), "");            // key is not provided
  EXPECT_EQ(d().Range(Get("d/", std::string("\0", 1))), "");
}

TEST_F(KvDiffTest, TxnCompares) {
  Seed("t/a", "10");
  Seed("t/a", "20");
  Seed("t/b", "5");
  const int64_t rev = d().revision();
  const Compare::CompareTarget targets[] = {Compare::VERSION, Compare::CREATE, Compare::MOD,
                                            Compare::LEASE};
  for (const std::string key : {"t/a", "t/missing"}) {
    for (auto target : targets) {
      for (int result = 0; result <= 3; ++result) {
        for (int64_t operand : {int64_t{0}, int64_t{1}, int64_t{2}, rev - 1, rev}) {
          TxnRequest txn;
          *txn.add_compare() =
              Cmp(key, target, static_cast<Compare::CompareResult>(result), operand);
          *txn.add_success() = Op(Get("t/a"));
          *txn.add_failure() = Op(Get("t/b"));
          EXPECT_EQ(d().Txn(txn), "");
        }
      }
    }
    for (int result = 0; result <= 3; ++result) {
      for (const char* value : {"", "10", "20", "3"}) {
        TxnRequest txn;
        *txn.add_compare() = CmpValue(key, static_cast<Compare::CompareResult>(result), value);
        EXPECT_EQ(d().Txn(txn), "");
      }
    }
  }
  // A compare over a range must hold for every key in it.
  for (int64_t version : {1, 2}) {
    TxnRequest txn;
    auto c = Cmp("t/", Compare::VERSION, Compare::GREATER, version - 1);
    c.set_range_end("t0");
    *txn.add_compare() = c;
    EXPECT_EQ(d().Txn(txn), "");
    c.set_range_end(std::string("\0", 1));
    *txn.mutable_compare(0) = c;
    EXPECT_EQ(d().Txn(txn), "");
  }
  // An operand of another kind than the target counts as zero.
  TxnRequest mismatched;
  auto c = Cmp("t/a", Compare::MOD, Compare::GREATER, 0);
  c.set_version(1000000);
  *mismatched.add_compare() = c;
  EXPECT_EQ(d().Txn(mismatched), "");
  // Several compares: all must hold.
  TxnRequest several;
  *several.add_compare() = Cmp("t/a", Compare::VERSION, Compare::EQUAL, 2);
  *several.add_compare() = CmpValue("t/b", Compare::EQUAL, "6");
  *several.add_success() = Op(Put("t/c", "s"));
  *several.add_failure() = Op(Put("t/c", "f"));
  EXPECT_EQ(d().Txn(several), "");
  EXPECT_EQ(d().Range(Get("t/c")), "");
}

TEST_F(KvDiffTest, TxnWritesAndReadsInOrder) {
  Seed("w/x", "0");
  TxnRequest txn;
  *txn.add_success() = Op(Get("w/", "w0"));  // before any write: header at the old revision
  auto put = Put("w/y", "1");
  put.set_prev_kv(true);
  *txn.add_success() = Op(put);
  *txn.add_success() = Op(Get("w/", "w0"));  // sees the put
  auto del = Delete("w/x");
  del.set_prev_kv(true);
  *txn.add_success() = Op(del);
  *txn.add_success() = Op(Get("w/", "w0"));
  *txn.add_success() = Op(Delete("w/nothing"));
  EXPECT_EQ(d().Txn(txn), "");

  TxnRequest delete_only_missing;
  *delete_only_missing.add_success() = Op(Delete("w/none"));
  EXPECT_EQ(d().Txn(delete_only_missing), "");  // no change: no new revision

  TxnRequest empty;
  EXPECT_EQ(d().Txn(empty), "");
  TxnRequest empty_branch;
  *empty_branch.add_compare() = Cmp("w/y", Compare::VERSION, Compare::EQUAL, 99);
  *empty_branch.add_success() = Op(Put("w/z", "never"));
  EXPECT_EQ(d().Txn(empty_branch), "");

  TxnRequest two_deletes;  // allowed: the second deletes nothing
  *two_deletes.add_success() = Op(Delete("w/y"));
  *two_deletes.add_success() = Op(Delete("w/", "w0"));
  EXPECT_EQ(d().Txn(two_deletes), "");
  EXPECT_EQ(d().Range(Get("w/", "w0")), "");
}

TEST_F(KvDiffTest, TxnStateChecks) {
  Seed("c/k", "v");
  const int64_t rev = d().revision();
  EXPECT_EQ(d().Compact(CompactTo(rev - 1)), "");
  for (int64_t range_rev : {int64_t{-1}, int64_t{0}, rev - 2, rev - 1, rev, rev + 1}) {
    TxnRequest txn;
    auto get = Get("c/k");
    get.set_revision(range_rev);
    *txn.add_success() = Op(get);
    EXPECT_EQ(d().Txn(txn), "") << "range revision " << range_rev;
    // A write before the range: a range at the txn's own new revision is still "future".
    TxnRequest write_first;
    *write_first.add_success() = Op(Put("c/w", "1"));
    *write_first.add_success() = Op(get);
    EXPECT_EQ(d().Txn(write_first), "") << "range revision " << range_rev;
  }
  // Put checks on the chosen path only, and before range checks.
  TxnRequest missing;
  auto ignore = Put("c/missing", "");
  ignore.set_ignore_value(true);
  *missing.add_success() = Op(ignore);
  EXPECT_EQ(d().Txn(missing), "");
  *missing.add_compare() = Cmp("c/k", Compare::VERSION, Compare::EQUAL, 42);
  EXPECT_EQ(d().Txn(missing), "");  // failure branch is empty: fine
  TxnRequest lease;
  auto leased = Put("c/l", "v");
  leased.set_lease(99);
  auto future = Get("c/k");
  future.set_revision(rev + 100);
  *lease.add_success() = Op(future);
  *lease.add_success() = Op(leased);
  EXPECT_EQ(d().Txn(lease), "");  // lease error wins over the future range
  TxnRequest only_future;
  *only_future.add_success() = Op(future);
  EXPECT_EQ(d().Txn(only_future), "");
}

TEST_F(KvDiffTest, TxnValidation) {
  TxnRequest too_many;
  for (int i = 0; i < 129; ++i) *too_many.add_success() = Op(Get("v/" + std::to_string(i)));
  EXPECT_EQ(d().Txn(too_many), "");
  too_many.mutable_success()->RemoveLast();
  EXPECT_EQ(d().Txn(too_many), "");  // 128 is accepted
  TxnRequest too_many_compares;
  for (int i = 0; i < 129; ++i) {
    *too_many_compares.add_compare() = Cmp("v/k", Compare::VERSION, Compare::EQUAL, 0);
  }
  EXPECT_EQ(d().Txn(too_many_compares), "");
  // A nested txn may use only what its parent leaves.
  TxnRequest nested_budget;
  for (int i = 0; i < 100; ++i) *nested_budget.add_success() = Op(Get("v/" + std::to_string(i)));
  TxnRequest inner;
  for (int i = 0; i < 28; ++i) *inner.add_success() = Op(Get("v/in" + std::to_string(i)));
  *nested_budget.add_failure() = Op(inner);
  EXPECT_EQ(d().Txn(nested_budget), "");
  *inner.add_success() = Op(Get("v/one-more"));
  *nested_budget.mutable_failure(0) = Op(inner);
  EXPECT_EQ(d().Txn(nested_budget), "");

  TxnRequest empty_compare_key;
  *empty_compare_key.add_compare() = Cmp("", Compare::VERSION, Compare::EQUAL, 0);
  EXPECT_EQ(d().Txn(empty_compare_key), "");
  TxnRequest empty_op;
  empty_op.add_success();
  EXPECT_EQ(d().Txn(empty_op), "");
  TxnRequest empty_key_op;
  *empty_key_op.add_failure() = Op(Put("", "v"));
  EXPECT_EQ(d().Txn(empty_key_op), "");
  TxnRequest ignore_with_value;
  auto p = Put("v/k", "v");
  p.set_ignore_value(true);
  *ignore_with_value.add_success() = Op(p);
  EXPECT_EQ(d().Txn(ignore_with_value), "");
  TxnRequest bad_sort;
  auto g = Get("v/k");
  g.set_sort_order(static_cast<RangeRequest::SortOrder>(7));
  *bad_sort.add_success() = Op(g);
  EXPECT_EQ(d().Txn(bad_sort), "");
}

TEST_F(KvDiffTest, TxnDuplicateKeys) {
  auto txn_of = [](std::initializer_list<etcdserverpb::RequestOp> success,
                   std::initializer_list<etcdserverpb::RequestOp> failure = {}) {
    TxnRequest t;
    for (const auto& op : success) *t.add_success() = op;
    for (const auto& op : failure) *t.add_failure() = op;
    return t;
  };
  auto nested = [&](std::initializer_list<etcdserverpb::RequestOp> success,
                    std::initializer_list<etcdserverpb::RequestOp> failure = {}) {
    return Op(txn_of(success, failure));
  };
  const std::string kNul("\0", 1);
  const TxnRequest cases[] = {
      txn_of({Op(Put("u/a", "1")), Op(Put("u/a", "2"))}),            // two puts
      txn_of({Op(Put("u/a", "1")), Op(Delete("u/a"))}),              // put + delete
      txn_of({Op(Delete("u/a")), Op(Put("u/a", "1"))}),              // delete + put
      txn_of({Op(Put("u/b", "1")), Op(Delete("u/a", "u/c"))}),       // put inside a range
      txn_of({Op(Put("u/c", "1")), Op(Delete("u/a", "u/c"))}),       // at the range end
      txn_of({Op(Put("u/b", "1")), Op(Delete("u/a", kNul))}),        // from-key delete
      txn_of({Op(Put("u/a", "1"))}, {Op(Put("u/a", "2"))}),          // then / else: fine
      txn_of({Op(Delete("u/a")), Op(Delete("u/a"))}),                // two deletes: fine
      txn_of({Op(Put("u/a", "1")), nested({Op(Put("u/a", "2"))})}),  // outer vs nested
      txn_of({nested({Op(Put("u/a", "1"))}), Op(Put("u/a", "2"))}),
      txn_of({nested({Op(Put("u/a", "1"))}, {Op(Put("u/a", "2"))})}),  // nested then/else
      txn_of({nested({Op(Put("u/a", "1"))}), nested({Op(Put("u/a", "2"))})}),
      txn_of({nested({Op(Put("u/a", "1"))}), nested({Op(Delete("u/a"))})}),  // allowed in etcd
      txn_of({nested({Op(Delete("u/a"))}), nested({Op(Put("u/a", "1"))})}),
      txn_of({Op(Delete("u/", "u0")), nested({Op(Put("u/x", "1"))})}),
      txn_of({nested({}, {Op(Put("u/a", "1"))}), Op(Delete("u/a"))}),
  };
  Seed("u/a", "0");
  for (const TxnRequest& t : cases) EXPECT_EQ(d().Txn(t), "");
  EXPECT_EQ(d().Range(Get("u/", "u0")), "");
}

TEST_F(KvDiffTest, NestedTxns) {
  Seed("n/a", "1");
  TxnRequest inner_true, inner_false;
  *inner_true.add_compare() = Cmp("n/a", Compare::VERSION, Compare::EQUAL, 1);
  *inner_true.add_success() = Op(Put("n/b", "from-inner"));
  *inner_true.add_success() = Op(Get("n/", "n0"));
  *inner_false.add_compare() = CmpValue("n/a", Compare::EQUAL, "nope");
  *inner_false.add_failure() = Op(Delete("n/a"));
  // The inner compare sees the state before the txn, even after the outer put changed n/a.
  TxnRequest outer;
  *outer.add_success() = Op(Put("n/a", "2"));
  *outer.add_success() = Op(inner_true);
  *outer.add_success() = Op(Get("n/a"));
  *outer.add_failure() = Op(inner_false);
  EXPECT_EQ(d().Txn(outer), "");
  *outer.add_compare() = CmpValue("n/a", Compare::EQUAL, "1");
  EXPECT_EQ(d().Txn(outer), "");  // n/a is "2" now: failure branch
  TxnRequest read_only_nested;
  TxnRequest inner_read;
  *inner_read.add_success() = Op(Get("n/", "n0"));
  *read_only_nested.add_success() = Op(inner_read);
  EXPECT_EQ(d().Txn(read_only_nested), "");
  EXPECT_EQ(d().Range(Get("n/", "n0")), "");
}

TEST_F(KvDiffTest, CompactionErrorsAndHistory) {
  Seed("k/a", "1");
  const int64_t r1 = d().revision();
  Seed("k/a", "2");
  EXPECT_EQ(d().DeleteRange(Delete("k/a")), "");
  Seed("k/b", "1");
  const int64_t r4 = d().revision();
  EXPECT_EQ(d().Compact(CompactTo(r4 + 1)), "");  // future
  EXPECT_EQ(d().Compact(CompactTo(r1 + 1)), "");
  EXPECT_EQ(d().Compact(CompactTo(r1 + 1)), "");  // already compacted
  EXPECT_EQ(d().Compact(CompactTo(r1)), "");
  for (int64_t rev = r1 - 1; rev <= r4 + 1; ++rev) {
    auto r = Get("k/", "k0");
    r.set_revision(rev);
    EXPECT_EQ(d().Range(r), "") << "revision " << rev;
  }
  EXPECT_EQ(d().Compact(CompactTo(r4)), "");  // compact at the current revision
  auto at = Get("k/", "k0");
  at.set_revision(r4);
  EXPECT_EQ(d().Range(at), "");
  auto compacted_physical = CompactTo(r4);
  compacted_physical.set_physical(true);
  EXPECT_EQ(d().Compact(compacted_physical), "");
}

}  // namespace
}  // namespace rametcd::testing
