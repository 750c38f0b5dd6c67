#include "server/request_checks.h"

#include "gtest/gtest.h"

namespace rametcd::server {
namespace {

using etcdserverpb::TxnRequest;

TEST(RequestChecksTest, RangeRefusesEmptyKeyAndUnknownSortTarget) {
  etcdserverpb::RangeRequest r;
  EXPECT_EQ(CheckRangeRequest(r).message(), "etcdserver: key is not provided");
  r.set_key("k");
  EXPECT_TRUE(CheckRangeRequest(r).ok());
  r.set_sort_order(static_cast<etcdserverpb::RangeRequest::SortOrder>(9));
  EXPECT_TRUE(CheckRangeRequest(r).ok());  // unknown order: no sorting, as etcd
  r.set_sort_target(static_cast<etcdserverpb::RangeRequest::SortTarget>(9));
  EXPECT_EQ(CheckRangeRequest(r).message(), "etcdserver: invalid sort option");
}

TEST(RequestChecksTest, PutFlags) {
  etcdserverpb::PutRequest p;
  p.set_key("k");
  p.set_ignore_value(true);
  EXPECT_TRUE(CheckPutRequest(p).ok());
  p.set_value("v");
  EXPECT_EQ(CheckPutRequest(p).message(), "etcdserver: value is provided");
  p.clear_value();
  p.set_ignore_lease(true);
  p.set_lease(5);
  EXPECT_EQ(CheckPutRequest(p).message(), "etcdserver: lease is provided");
}

TEST(RequestChecksTest, TxnOpLimitsIncludingNestedBudget) {
  TxnRequest t;
  for (int i = 0; i < 4; ++i) t.add_success()->mutable_request_range()->set_key("k");
  EXPECT_TRUE(CheckTxnRequest(t, 4).ok());
  EXPECT_EQ(CheckTxnRequest(t, 3).message(), "etcdserver: too many operations in txn request");
  // The nested txn may have max - 4 ops.
  auto* inner = t.add_failure()->mutable_request_txn();
  for (int i = 0; i < 2; ++i) inner->add_success()->mutable_request_range()->set_key("k");
  EXPECT_TRUE(CheckTxnRequest(t, 6).ok());
  EXPECT_EQ(CheckTxnRequest(t, 5).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RequestChecksTest, TxnEmptyOpAndEmptyKeys) {
  TxnRequest t;
  t.add_success();
  EXPECT_EQ(CheckTxnRequest(t, 128).message(), "etcdserver: key not found");
  TxnRequest c;
  c.add_compare();
  EXPECT_EQ(CheckTxnRequest(c, 128).message(), "etcdserver: key is not provided");
}

TEST(RequestChecksTest, DuplicateKeys) {
  auto put = [](TxnRequest* t, const std::string& key, bool success = true) {
    (success ? t->add_success() : t->add_failure())->mutable_request_put()->set_key(key);
  };
  auto del = [](TxnRequest* t, const std::string& key, const std::string& end = "") {
    auto* d = t->add_success()->mutable_request_delete_range();
    d->set_key(key);
    d->set_range_end(end);
  };
  TxnRequest two_puts;
  put(&two_puts, "a");
  put(&two_puts, "a");
  EXPECT_EQ(CheckTxnRequest(two_puts, 128).message(),
            "etcdserver: duplicate key given in txn request");
  TxnRequest then_else;
  put(&then_else, "a");
  put(&then_else, "a", false);
  EXPECT_TRUE(CheckTxnRequest(then_else, 128).ok());
  TxnRequest in_range;
  put(&in_range, "b");
  del(&in_range, "a", "c");
  EXPECT_FALSE(CheckTxnRequest(in_range, 128).ok());
  TxnRequest at_end;
  put(&at_end, "c");
  del(&at_end, "a", "c");
  EXPECT_TRUE(CheckTxnRequest(at_end, 128).ok());
  TxnRequest from_key;  // etcd's interval for range_end "\0" holds nothing
  put(&from_key, "b");
  del(&from_key, "a", std::string("\0", 1));
  EXPECT_TRUE(CheckTxnRequest(from_key, 128).ok());
  TxnRequest nested;
  put(&nested, "a");
  put(nested.add_success()->mutable_request_txn(), "a");
  EXPECT_FALSE(CheckTxnRequest(nested, 128).ok());
}

TEST(RequestChecksTest, WriteTxnDetection) {
  TxnRequest t;
  t.add_success()->mutable_request_range()->set_key("k");
  EXPECT_FALSE(IsWriteTxn(t));
  t.add_failure()->mutable_request_txn()->add_success()->mutable_request_delete_range();
  EXPECT_TRUE(IsWriteTxn(t));
}

TEST(RequestChecksTest, PointTxnDetection) {
  TxnRequest t;
  EXPECT_TRUE(IsPointTxn(t));
  // kube-apiserver's OptimisticPut: put on success, get on failure.
  t.add_success()->mutable_request_put()->set_key("k");
  t.add_failure()->mutable_request_range()->set_key("k");
  t.add_success()->mutable_request_delete_range()->set_key("j");
  EXPECT_TRUE(IsPointTxn(t));
  TxnRequest ranged = t;
  ranged.mutable_failure(0)->mutable_request_range()->set_range_end("l");
  EXPECT_FALSE(IsPointTxn(ranged));
  TxnRequest deletes = t;
  deletes.mutable_success(1)->mutable_request_delete_range()->set_range_end(std::string(1, '\0'));
  EXPECT_FALSE(IsPointTxn(deletes));
  t.add_failure()->mutable_request_txn();
  EXPECT_FALSE(IsPointTxn(t));
}

TEST(RequestChecksTest, ProposalSizeCountsFramingAndHeader) {
  EXPECT_GT(ProposalSize(100), 100);
  EXPECT_LT(ProposalSize(100), 130);
  EXPECT_EQ(ProposalSize(1 << 20) - ProposalSize((1 << 20) - 1), 1);
}

}  // namespace
}  // namespace rametcd::server
