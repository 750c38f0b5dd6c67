// Differential tests of the operability RPCs against a real etcd 3.4: Maintenance (Status, Hash,
// HashKV, Alarm, Defragment, MoveLeader), Cluster and Auth with auth disabled. Fields that
// legitimately differ between two servers (versions, sizes, hashes, member IDs and URLs) are
// masked before comparing and checked on rametcd alone instead.
#include <regex>
#include <string>

#include "gtest/gtest.h"
#include "support/differential.h"

namespace rametcd::testing {
namespace {

using etcdserverpb::Auth;
using etcdserverpb::Cluster;
using etcdserverpb::Maintenance;

class MaintenanceDiffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = Differential::Start();
    ASSERT_TRUE(d.ok()) << d.status();
    d_ = std::move(*d);
  }

  // rametcd's own Status, unmasked.
  etcdserverpb::StatusResponse RametcdStatus() {
    auto stub = Maintenance::NewStub(d_->rametcd().channel());
    grpc::ClientContext ctx;
    etcdserverpb::StatusResponse resp;
    EXPECT_TRUE(stub->Status(&ctx, {}, &resp).ok());
    return resp;
  }

  uint64_t MemberId(const ServerProcess& server) {
    auto stub = Maintenance::NewStub(server.channel());
    grpc::ClientContext ctx;
    etcdserverpb::StatusResponse resp;
    EXPECT_TRUE(stub->Status(&ctx, {}, &resp).ok());
    return resp.header().member_id();
  }

  std::unique_ptr<Differential> d_;
};

// Raises or disarms NOSPACE for `member` on `server`.
etcdserverpb::AlarmResponse SetNospace(const ServerProcess& server, uint64_t member,
                                       etcdserverpb::AlarmRequest::AlarmAction action) {
  auto stub = Maintenance::NewStub(server.channel());
  etcdserverpb::AlarmRequest req;
  req.set_action(action);
  req.set_alarm(etcdserverpb::NOSPACE);
  req.set_memberid(member);
  etcdserverpb::AlarmResponse resp;
  grpc::ClientContext ctx;
  EXPECT_TRUE(stub->Alarm(&ctx, req, &resp).ok());
  return resp;
}

void MaskStatus(etcdserverpb::StatusResponse* r) {
  r->clear_version();
  r->clear_dbsize();
  r->clear_dbsizeinuse();
  r->clear_leader();
  r->clear_raftindex();
  r->clear_raftappliedindex();
  r->clear_raftterm();
  for (std::string& e : *r->mutable_errors()) {
    e = std::regex_replace(e, std::regex("memberID:[0-9]+"), "memberID:X");
  }
}

void MaskAlarms(etcdserverpb::AlarmResponse* r) {
  for (auto& a : *r->mutable_alarms()) a.clear_memberid();
}

TEST_F(MaintenanceDiffTest, StatusShape) {
  ASSERT_EQ(d_->Put(Put("a", "1")), "");
  ASSERT_EQ(d_->Put(Put("a", "22")), "");
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Status, etcdserverpb::StatusRequest(),
                      std::function<void(etcdserverpb::StatusResponse*)>(MaskStatus)),
            "");

  etcdserverpb::StatusResponse s = RametcdStatus();
  EXPECT_EQ(s.header().revision(), 3);
  EXPECT_EQ(s.version(), "3.5.13");
  EXPECT_EQ(s.leader(), s.header().member_id());
  EXPECT_NE(s.leader(), 0u);
  EXPECT_EQ(s.raftindex(), 3u);
  EXPECT_EQ(s.raftappliedindex(), s.raftindex());
  EXPECT_EQ(s.raftterm(), s.header().raft_term());
  // Two versions of "a" are retained; one is current.
  EXPECT_GT(s.dbsizeinuse(), 3);
  EXPECT_GT(s.dbsize(), s.dbsizeinuse());
  EXPECT_TRUE(s.errors().empty());
}

TEST_F(MaintenanceDiffTest, HashKVRevisionsAndErrors) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(d_->Put(Put("k" + std::to_string(i % 2), "v")), "");
  ASSERT_EQ(d_->Compact(CompactTo(3)), "");
  auto mask =
      std::function<void(etcdserverpb::HashKVResponse*)>([](etcdserverpb::HashKVResponse* r) {
        r->clear_hash();
        r->clear_hash_revision();  // etcd 3.5+
      });
  for (int64_t rev : {0, 2, 3, 4, 6, 7, 100}) {
    etcdserverpb::HashKVRequest req;
    req.set_revision(rev);
    EXPECT_EQ(d_->Unary(&Maintenance::Stub::HashKV, req, mask), "") << "revision " << rev;
  }
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Hash, etcdserverpb::HashRequest(),
                      std::function<void(etcdserverpb::HashResponse*)>(
                          [](etcdserverpb::HashResponse* r) { r->clear_hash(); })),
            "");
}

// The hash is a function of the MVCC state: the same at the same revision, different after a
// write, and the same again for a read at the older revision.
TEST_F(MaintenanceDiffTest, HashKVFollowsTheState) {
  auto stub = Maintenance::NewStub(d_->rametcd().channel());
  auto hash_at = [&](int64_t rev) {
    etcdserverpb::HashKVRequest req;
    req.set_revision(rev);
    etcdserverpb::HashKVResponse resp;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub->HashKV(&ctx, req, &resp).ok());
    return resp;
  };
  ASSERT_EQ(d_->Put(Put("x", "1")), "");
  const auto first = hash_at(0);
  EXPECT_EQ(first.hash_revision(), 2);
  EXPECT_EQ(hash_at(0).hash(), first.hash());
  ASSERT_EQ(d_->Put(Put("x", "2")), "");
  EXPECT_NE(hash_at(0).hash(), first.hash());
  EXPECT_EQ(hash_at(2).hash(), first.hash());
}

TEST_F(MaintenanceDiffTest, AlarmsRaiseBlockAndDisarm) {
  auto mask = std::function<void(etcdserverpb::AlarmResponse*)>(MaskAlarms);
  etcdserverpb::AlarmRequest get;
  get.set_action(etcdserverpb::AlarmRequest::GET);
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Alarm, get, mask), "");

  // Each server raises NOSPACE for its own member ID.
  const uint64_t etcd_id = MemberId(d_->etcd());
  const uint64_t ram_id = MemberId(d_->rametcd());
  for (auto [server, id] : {std::pair{&d_->etcd(), etcd_id}, std::pair{&d_->rametcd(), ram_id}}) {
    ASSERT_EQ(SetNospace(*server, id, etcdserverpb::AlarmRequest::ACTIVATE).alarms_size(), 1);
  }
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Alarm, get, mask), "");
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Status, etcdserverpb::StatusRequest(),
                      std::function<void(etcdserverpb::StatusResponse*)>(MaskStatus)),
            "");
  EXPECT_EQ(RametcdStatus().errors(0), "memberID:" + std::to_string(ram_id) + " alarm:NOSPACE ");
  // Writes that add data are refused; deletes and compactions go through.
  EXPECT_EQ(d_->Put(Put("a", "1")), "");
  EXPECT_EQ(d_->DeleteRange(Delete("a")), "");
  etcdserverpb::TxnRequest txn;
  *txn.add_success() = Op(Put("b", "1"));
  EXPECT_EQ(d_->Txn(txn), "");

  for (auto [server, id] : {std::pair{&d_->etcd(), etcd_id}, std::pair{&d_->rametcd(), ram_id}}) {
    EXPECT_EQ(SetNospace(*server, id, etcdserverpb::AlarmRequest::DEACTIVATE).alarms_size(), 1);
  }
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Alarm, get, mask), "");
  EXPECT_EQ(d_->Put(Put("a", "1")), "");
}

TEST_F(MaintenanceDiffTest, DefragmentMoveLeaderAndMembers) {
  ASSERT_EQ(d_->Put(Put("a", "1")), "");
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::Defragment, etcdserverpb::DefragmentRequest()), "");
  etcdserverpb::MoveLeaderRequest move;
  move.set_targetid(12345);
  EXPECT_EQ(d_->Unary(&Maintenance::Stub::MoveLeader, move), "");
  // To itself: both succeed.
  for (const ServerProcess* server : {&d_->etcd(), &d_->rametcd()}) {
    auto stub = Maintenance::NewStub(server->channel());
    move.set_targetid(MemberId(*server));
    etcdserverpb::MoveLeaderResponse resp;
    grpc::ClientContext ctx;
    grpc::Status status = stub->MoveLeader(&ctx, move, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }

  auto mask_members = std::function<void(etcdserverpb::MemberListResponse*)>(
      [](etcdserverpb::MemberListResponse* r) {
        for (auto& m : *r->mutable_members()) {
          m.clear_id();
          m.clear_name();
          m.clear_peerurls();
          m.clear_clienturls();
        }
      });
  EXPECT_EQ(d_->Unary(&Cluster::Stub::MemberList, etcdserverpb::MemberListRequest(), mask_members),
            "");
  etcdserverpb::MemberRemoveRequest remove;
  remove.set_id(42);
  EXPECT_EQ(d_->Unary(&Cluster::Stub::MemberRemove, remove), "");
  etcdserverpb::MemberPromoteRequest promote;
  promote.set_id(42);
  EXPECT_EQ(d_->Unary(&Cluster::Stub::MemberPromote, promote), "");

  auto cluster = Cluster::NewStub(d_->rametcd().channel());
  grpc::ClientContext ctx;
  etcdserverpb::MemberListResponse members;
  ASSERT_TRUE(cluster->MemberList(&ctx, {}, &members).ok());
  ASSERT_EQ(members.members_size(), 1);
  const auto& me = members.members(0);
  EXPECT_EQ(me.id(), members.header().member_id());
  EXPECT_EQ(me.name(), "default");
  ASSERT_EQ(me.clienturls_size(), 1);
  EXPECT_EQ(me.clienturls(0), "http://" + d_->rametcd().endpoint());
  ASSERT_EQ(me.peerurls_size(), 1);

  // Membership changes of this member are refused, clearly.
  etcdserverpb::MemberAddRequest add;
  add.add_peerurls("http://127.0.0.1:1");
  grpc::ClientContext add_ctx;
  etcdserverpb::MemberAddResponse add_resp;
  grpc::Status refused = cluster->MemberAdd(&add_ctx, add, &add_resp);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("single-member"), std::string::npos);
}

TEST_F(MaintenanceDiffTest, AuthAnswersAsEtcdWithAuthDisabled) {
  ASSERT_EQ(d_->Put(Put("a", "1")), "");
  etcdserverpb::AuthenticateRequest login;
  login.set_name("root");
  login.set_password("pw");
  EXPECT_EQ(d_->Unary(&Auth::Stub::Authenticate, login), "");
  EXPECT_EQ(d_->Unary(&Auth::Stub::AuthEnable, etcdserverpb::AuthEnableRequest()), "");
  EXPECT_EQ(d_->Unary(&Auth::Stub::AuthDisable, etcdserverpb::AuthDisableRequest()), "");
  EXPECT_EQ(d_->Unary(&Auth::Stub::UserList, etcdserverpb::AuthUserListRequest()), "");
  EXPECT_EQ(d_->Unary(&Auth::Stub::RoleList, etcdserverpb::AuthRoleListRequest()), "");
  for (const char* name : {"root", ""}) {
    etcdserverpb::AuthUserGetRequest user_get;
    user_get.set_name(name);
    EXPECT_EQ(d_->Unary(&Auth::Stub::UserGet, user_get), "");
    etcdserverpb::AuthUserDeleteRequest user_delete;
    user_delete.set_name(name);
    EXPECT_EQ(d_->Unary(&Auth::Stub::UserDelete, user_delete), "");
    etcdserverpb::AuthRoleGetRequest role_get;
    role_get.set_role(name);
    EXPECT_EQ(d_->Unary(&Auth::Stub::RoleGet, role_get), "");
    etcdserverpb::AuthRoleDeleteRequest role_delete;
    role_delete.set_role(name);
    EXPECT_EQ(d_->Unary(&Auth::Stub::RoleDelete, role_delete), "");
  }
  etcdserverpb::AuthUserGrantRoleRequest grant;
  grant.set_user("bob");
  grant.set_role("root");
  EXPECT_EQ(d_->Unary(&Auth::Stub::UserGrantRole, grant), "");
  etcdserverpb::AuthRoleGrantPermissionRequest perm;
  perm.set_name("reader");
  EXPECT_EQ(d_->Unary(&Auth::Stub::RoleGrantPermission, perm), "");
  etcdserverpb::AuthUserAddRequest add_empty;
  EXPECT_EQ(d_->Unary(&Auth::Stub::UserAdd, add_empty), "");
  etcdserverpb::AuthRoleAddRequest role_empty;
  EXPECT_EQ(d_->Unary(&Auth::Stub::RoleAdd, role_empty), "");
}

}  // namespace
}  // namespace rametcd::testing
