// Differential Lease tests: every Lease RPC, option and error against a real etcd 3.4 and rametcd.
// Server-chosen IDs and remaining TTLs cannot be equal between two servers: they are checked for
// range and then masked; key and lease lists are compared as sets (etcd's order is a map's).
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "support/differential.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::Lease;

class LeaseDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Differential::Start();
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
    etcd_ = Lease::NewStub(d_->etcd().channel());
    ram_ = Lease::NewStub(d_->rametcd().channel());
  }

  // Calls `method` on both servers; masks what cannot match (via `normalize`) and compares.
  template <typename Req, typename Resp, typename Normalize>
  std::string Both(grpc::Status (Lease::Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                   const Req& req, Normalize normalize, Resp* etcd_out = nullptr,
                   Resp* ram_out = nullptr) {
    Resp want, got;
    grpc::ClientContext c1, c2;
    grpc::Status ws = (etcd_.get()->*method)(&c1, req, &want);
    grpc::Status gs = (ram_.get()->*method)(&c2, req, &got);
    if (etcd_out) *etcd_out = want;
    if (ram_out) *ram_out = got;
    for (Resp* r : {&want, &got}) {
      r->mutable_header()->clear_cluster_id();
      r->mutable_header()->clear_member_id();
      r->mutable_header()->clear_raft_term();
      normalize(r);
    }
    if (ws.error_code() == gs.error_code() && ws.error_message() == gs.error_message() &&
        want.ShortDebugString() == got.ShortDebugString()) {
      return "";
    }
    return "request " + req.ShortDebugString() + "\netcd:    " + std::to_string(ws.error_code()) +
           " " + ws.error_message() + " " + want.ShortDebugString() +
           "\nrametcd: " + std::to_string(gs.error_code()) + " " + gs.error_message() + " " +
           got.ShortDebugString();
  }

  std::string Grant(int64_t id, int64_t ttl) {
    etcdserverpb::LeaseGrantRequest req;
    req.set_id(id);
    req.set_ttl(ttl);
    return Both(&Lease::Stub::LeaseGrant, req, [](etcdserverpb::LeaseGrantResponse*) {});
  }
  std::string Revoke(int64_t id) {
    etcdserverpb::LeaseRevokeRequest req;
    req.set_id(id);
    return Both(&Lease::Stub::LeaseRevoke, req, [](etcdserverpb::LeaseRevokeResponse*) {});
  }
  std::string TimeToLive(int64_t id, bool keys) {
    etcdserverpb::LeaseTimeToLiveRequest req;
    req.set_id(id);
    req.set_keys(keys);
    return Both(&Lease::Stub::LeaseTimeToLive, req, [](etcdserverpb::LeaseTimeToLiveResponse* r) {
      // Remaining TTL: within one second of the granted TTL, then masked.
      if (r->ttl() > 0) {
        EXPECT_GE(r->ttl(), r->grantedttl() - 2);
        EXPECT_LE(r->ttl(), r->grantedttl());
        r->set_ttl(1);
      }
      std::sort(r->mutable_keys()->begin(), r->mutable_keys()->end());
    });
  }
  std::string Leases() {
    return Both(&Lease::Stub::LeaseLeases, etcdserverpb::LeaseLeasesRequest(),
                [](etcdserverpb::LeaseLeasesResponse* r) {
                  std::sort(r->mutable_leases()->begin(), r->mutable_leases()->end(),
                            [](const auto& a, const auto& b) { return a.id() < b.id(); });
                });
  }
  // Keepalives for `ids`, in order, on one fresh stream per server; compares the answers.
  std::string KeepAlive(const std::vector<int64_t>& ids) {
    std::vector<std::string> answers[2];
    std::unique_ptr<Lease::Stub>* stubs[2] = {&etcd_, &ram_};
    for (int i = 0; i < 2; ++i) {
      grpc::ClientContext ctx;
      auto stream = (*stubs[i])->LeaseKeepAlive(&ctx);
      for (int64_t id : ids) {
        etcdserverpb::LeaseKeepAliveRequest req;
        req.set_id(id);
        etcdserverpb::LeaseKeepAliveResponse resp;
        if (!stream->Write(req) || !stream->Read(&resp)) return "keepalive stream failed";
        resp.mutable_header()->clear_cluster_id();
        resp.mutable_header()->clear_member_id();
        resp.mutable_header()->clear_raft_term();
        answers[i].push_back(resp.ShortDebugString());
      }
      stream->WritesDone();
      if (!stream->Finish().ok()) return "keepalive stream did not end cleanly";
    }
    if (answers[0] == answers[1]) return "";
    std::string report;
    for (size_t k = 0; k < ids.size(); ++k) {
      report += "etcd: " + answers[0][k] + "\nrametcd: " + answers[1][k] + "\n";
    }
    return report;
  }
  etcdserverpb::PutRequest PutWithLease(const std::string& key, int64_t lease) {
    etcdserverpb::PutRequest p = Put(key, "v");
    p.set_lease(lease);
    return p;
  }

  std::unique_ptr<Differential> d_;
  std::unique_ptr<Lease::Stub> etcd_, ram_;
};

TEST_F(LeaseDiffTest, GrantErrorsAndMinimumTtl) {
  EXPECT_EQ(Grant(100, 100), "");
  EXPECT_EQ(Grant(100, 50), "");          // lease already exists
  EXPECT_EQ(Grant(101, 1), "");           // raised to the minimum
  EXPECT_EQ(Grant(102, 9000000001), "");  // too large lease TTL
  EXPECT_EQ(Grant(103, 9000000000), "");  // the largest allowed
  EXPECT_EQ(Leases(), "");
  // A server-chosen ID: non-zero on both, then masked.
  etcdserverpb::LeaseGrantRequest req;
  req.set_ttl(30);
  etcdserverpb::LeaseGrantResponse from_etcd, from_ram;
  EXPECT_EQ(Both(
                &Lease::Stub::LeaseGrant, req,
                [](etcdserverpb::LeaseGrantResponse* r) {
                  EXPECT_GT(r->id(), 0);
                  r->clear_id();
                },
                &from_etcd, &from_ram),
            "");
  grpc::ClientContext c1, c2;
  etcdserverpb::LeaseRevokeRequest revoke;
  etcdserverpb::LeaseRevokeResponse ignored;
  revoke.set_id(from_etcd.id());
  ASSERT_TRUE(etcd_->LeaseRevoke(&c1, revoke, &ignored).ok());
  revoke.set_id(from_ram.id());
  ASSERT_TRUE(ram_->LeaseRevoke(&c2, revoke, &ignored).ok());
  EXPECT_EQ(Leases(), "");
}

TEST_F(LeaseDiffTest, AttachMoveDetachAndRevoke) {
  ASSERT_EQ(Grant(200, 100), "");
  ASSERT_EQ(Grant(201, 100), "");
  ASSERT_EQ(Grant(202, 100), "");
  EXPECT_EQ(d_->Put(PutWithLease("a", 200)), "");
  EXPECT_EQ(d_->Put(PutWithLease("b", 200)), "");
  EXPECT_EQ(d_->Put(PutWithLease("c", 201)), "");
  EXPECT_EQ(d_->Put(PutWithLease("c", 200)), "");  // moves c to lease 200
  EXPECT_EQ(d_->Put(PutWithLease("x", 999)), "");  // requested lease not found
  auto keep = Put("a", "v2");
  keep.set_ignore_lease(true);
  EXPECT_EQ(d_->Put(keep), "");                  // stays attached
  EXPECT_EQ(d_->Put(Put("b", "no-lease")), "");  // detached
  EXPECT_EQ(d_->Put(PutWithLease("d", 202)), "");
  EXPECT_EQ(d_->DeleteRange(Delete("d")), "");  // deleting detaches
  EXPECT_EQ(TimeToLive(200, true), "");
  EXPECT_EQ(TimeToLive(201, true), "");
  EXPECT_EQ(TimeToLive(202, false), "");
  EXPECT_EQ(TimeToLive(999, true), "");  // unknown: TTL -1
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = Cmp("a", etcdserverpb::Compare::LEASE, etcdserverpb::Compare::EQUAL, 200);
  *txn.add_success() = Op(PutWithLease("e", 201));
  *txn.add_failure() = Op(PutWithLease("e", 999));
  EXPECT_EQ(d_->Txn(txn), "");
  EXPECT_EQ(Revoke(200), "");  // deletes a and c in one revision
  EXPECT_EQ(d_->Range(Get("", std::string("\0", 1))), "");
  EXPECT_EQ(d_->Range(Get(std::string("\0", 1), std::string("\0", 1))), "");
  EXPECT_EQ(Revoke(200), "");  // requested lease not found
  EXPECT_EQ(Revoke(202), "");  // nothing attached: no new revision
  EXPECT_EQ(d_->Range(Get("e")), "");
  EXPECT_EQ(Leases(), "");
}

TEST_F(LeaseDiffTest, KeepAlive) {
  ASSERT_EQ(Grant(300, 60), "");
  ASSERT_EQ(Grant(301, 30), "");
  EXPECT_EQ(KeepAlive({300}), "");
  EXPECT_EQ(KeepAlive({12345}), "");                      // unknown: TTL 0, no error
  EXPECT_EQ(KeepAlive({300, 301, 12345, 301, 300}), "");  // many leases on one stream
  EXPECT_EQ(TimeToLive(300, false), "");
}

}  // namespace
}  // namespace rametcd::testing
