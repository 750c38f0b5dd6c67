// WriteStoreSeeds (store_seeds.h): the seeds of request_fuzz, wal_recovery_fuzz and
// history_ring_fuzz (formats: fuzz_inputs.h and history_ring_fuzz.cc), for fuzz_seed_writer.
//   request_fuzz       request sequences covering every request type and option: prefixes,
//                      sorted and limited ranges, nested txns, a txn rolled back half-way,
//                      compactions, leases that expire or are revoked, and small server limits;
//   wal_recovery_fuzz  data dirs written by the real Wal writer (wal/wal.h) from a store, packed
//                      as an image: a plain run, one with a checkpoint and later segments, a torn
//                      tail that leaves a multi-stream txn incomplete, revision marks of a none
//                      stream, and corruption in the middle of a segment (loaded with
//                      --wal-skip-damaged). Each plain image is checked to recover;
//   history_ring_fuzz  operation sequences at tight and loose bounds.
#include "store_seeds.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "etcd/api/etcdserverpb/rpc.pb.h"
#include "fuzz_inputs.h"
#include "fuzz_support.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "wal/checkpoint.h"
#include "wal/io_backend.h"
#include "wal/layout.h"
#include "wal/recovery.h"
#include "wal/wal.h"

namespace rametcd::fuzz {
namespace {

namespace fs = std::filesystem;
using etcdserverpb::Compare;
using etcdserverpb::RangeRequest;

absl::Status WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  std::printf("%s: %zu bytes\n", path.c_str(), bytes.size());
  return absl::OkStatus();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// ---- request_fuzz: a config byte, then one chunk per request.

class Requests {
 public:
  explicit Requests(uint8_t config) { bytes_.push_back(static_cast<char>(config)); }

  Requests& Add(RequestOp op, const google::protobuf::Message& req, bool same_batch = false) {
    AppendChunk(op | (same_batch ? kSameBatch : 0), req.SerializeAsString(), &bytes_);
    return *this;
  }
  Requests& Tick(uint16_t seconds) {
    const char b[2] = {static_cast<char>(seconds & 0xff), static_cast<char>(seconds >> 8)};
    AppendChunk(kTick, std::string_view(b, 2), &bytes_);
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

etcdserverpb::PutRequest Put(std::string key, std::string value, int64_t lease = 0) {
  etcdserverpb::PutRequest p;
  p.set_key(std::move(key));
  p.set_value(std::move(value));
  p.set_lease(lease);
  return p;
}

RangeRequest Range(std::string key, std::string end = "") {
  RangeRequest r;
  r.set_key(std::move(key));
  r.set_range_end(std::move(end));
  return r;
}

etcdserverpb::DeleteRangeRequest Delete(std::string key, std::string end = "") {
  etcdserverpb::DeleteRangeRequest d;
  d.set_key(std::move(key));
  d.set_range_end(std::move(end));
  return d;
}

template <typename Msg>
Msg WithId(int64_t id, int64_t ttl = 0) {
  Msg m;
  m.set_id(id);
  if constexpr (std::is_same_v<Msg, etcdserverpb::LeaseGrantRequest>) m.set_ttl(ttl);
  return m;
}

etcdserverpb::CompactionRequest Compaction(int64_t revision) {
  etcdserverpb::CompactionRequest c;
  c.set_revision(revision);
  return c;
}

absl::Status WriteRequestSeeds(const std::string& dir) {
  Requests kv(0);
  kv.Add(kPut, Put("/registry/pods/default/a", "v1"))
      .Add(kPut, Put("/registry/pods/default/b", "v2"))
      .Add(kPut, Put("/registry/coordination.k8s.io/leases/kube-node-lease/n1", "l"))
      .Add(kPut, Put("/other/x", "x"))
      .Add(kRange, Range("/registry/pods/", "/registry/pods0"));
  RangeRequest sorted = Range(std::string(1, '\0'), std::string(1, '\0'));
  sorted.set_limit(2);
  sorted.set_sort_order(RangeRequest::DESCEND);
  sorted.set_sort_target(RangeRequest::MOD);
  kv.Add(kRange, sorted);
  RangeRequest old = Range("/registry/", "/registry0");
  old.set_revision(3);
  old.set_keys_only(true);
  old.set_min_mod_revision(2);
  kv.Add(kRange, old);
  etcdserverpb::TxnRequest txn;
  Compare* cmp = txn.add_compare();
  cmp->set_key("/registry/pods/default/a");
  cmp->set_target(Compare::VALUE);
  cmp->set_value("v1");
  *txn.add_success()->mutable_request_put() = Put("/registry/pods/default/a", "v3");
  *txn.add_success()->mutable_request_delete_range() = Delete("/registry/pods/default/b");
  etcdserverpb::TxnRequest* nested = txn.add_success()->mutable_request_txn();
  Compare* version = nested->add_compare();
  version->set_key("/other/x");
  version->set_target(Compare::VERSION);
  version->set_result(Compare::GREATER);
  version->set_version(0);
  *nested->add_success()->mutable_request_put() = Put("/other/y", "y");
  *nested->add_failure()->mutable_request_range() = Range("/other/", "/other0");
  *txn.add_failure()->mutable_request_range() = Range("/registry/pods/default/a");
  kv.Add(kTxn, txn);
  etcdserverpb::DeleteRangeRequest prefix = Delete("/registry/pods/", "/registry/pods0");
  prefix.set_prev_kv(true);
  kv.Add(kDeleteRange, prefix).Add(kCompaction, Compaction(3));
  RangeRequest compacted = Range("/other/x");
  compacted.set_revision(2);
  kv.Add(kRange, compacted);
  etcdserverpb::PutRequest keep = Put("/other/x", "");
  keep.set_ignore_value(true);
  keep.set_prev_kv(true);
  kv.Add(kPut, keep).Add(kRange, Range(std::string(1, '\0'), std::string(1, '\0')));
  RETURN_IF_ERROR(WriteFile(dir + "kv.bin", kv.bytes()));

  // A txn that fails half-way and is rolled back: a delete from "/a" to the end of the key space
  // (an interval the duplicate-key check sees as empty, as etcd's does) takes "/b" away before
  // its put with ignore_value.
  Requests rollback(0);
  rollback.Add(kPut, Put("/a", "1")).Add(kPut, Put("/b", "2")).Add(kPut, Put("/b", "3"));
  etcdserverpb::TxnRequest failing;
  *failing.add_success()->mutable_request_put() = Put("/a", "4");
  *failing.add_success()->mutable_request_delete_range() = Delete("/a", std::string(1, '\0'));
  etcdserverpb::PutRequest ignore = Put("/b", "");
  ignore.set_ignore_value(true);
  *failing.add_success()->mutable_request_put() = ignore;
  rollback.Add(kTxn, failing).Add(kRange, Range("/", "0"));
  RETURN_IF_ERROR(WriteFile(dir + "txn_rollback.bin", rollback.bytes()));

  Requests leases(0);
  leases.Add(kLeaseGrant, WithId<etcdserverpb::LeaseGrantRequest>(100, 5))
      .Add(kPut, Put("/registry/leases/default/x", "held", 100))
      .Add(kPut, Put("/other/k", "held", 100))
      .Add(kLeaseKeepAlive, WithId<etcdserverpb::LeaseKeepAliveRequest>(100))
      .Tick(3)
      .Add(kRange, Range("/", "0"))
      .Tick(10)
      .Add(kLeaseGrant, WithId<etcdserverpb::LeaseGrantRequest>(0, 60))
      .Add(kLeaseGrant, WithId<etcdserverpb::LeaseGrantRequest>(200, 30))
      .Add(kPut, Put("/registry/pods/ns/p", "v", 200))
      .Add(kLeaseRevoke, WithId<etcdserverpb::LeaseRevokeRequest>(200))
      .Add(kLeaseRevoke, WithId<etcdserverpb::LeaseRevokeRequest>(999))
      .Add(kPut, Put("/other/k", "v", 999));
  etcdserverpb::PutRequest keep_lease = Put("/other/k", "w");
  keep_lease.set_ignore_lease(true);
  leases.Add(kPut, keep_lease);
  RETURN_IF_ERROR(WriteFile(dir + "leases.bin", leases.bytes()));

  // A one-event history ring, compaction steps of one key, 100-byte requests, 2-op txns.
  Requests small(2 | 1 << 2 | 2 << 4 | 2 << 6);
  for (int i = 0; i < 6; ++i) {
    small.Add(kPut, Put(absl::StrCat("/registry/pods/ns/p", i), "v"), /*same_batch=*/i % 2 == 0);
  }
  small.Add(kPut, Put("/registry/pods/ns/p1", std::string(120, 'x')))
      .Add(kCompaction, Compaction(5))
      .Add(kDeleteRange, Delete("/registry/pods/ns/p2", "/registry/pods/ns/p4"))
      .Add(kPut, Put("/registry/pods/ns/p2", "again"));
  etcdserverpb::TxnRequest too_many;
  for (int i = 0; i < 3; ++i) {
    *too_many.add_success()->mutable_request_range() = Range(absl::StrCat("/k", i));
  }
  small.Add(kTxn, too_many).Add(kRange, Range("/registry/pods/", "/registry/pods0"));
  return WriteFile(dir + "small_limits.bin", small.bytes());
}

// ---- wal_recovery_fuzz: data dirs the real Wal writes.

// A store with the Wal attached to a fresh data dir; Finish() stops the Wal.
class WalRun {
 public:
  static absl::StatusOr<std::unique_ptr<WalRun>> Start(const std::string& dir,
                                                       const wal::ModeTable& modes,
                                                       uint64_t segment_bytes) {
    auto run = std::unique_ptr<WalRun>(new WalRun(dir));
    ASSIGN_OR_RETURN(
        wal::RecoverySummary recovered,
        wal::Recover({run->wal_dir_, false}, &run->store_, &run->lessor_, absl::Now()));
    ASSIGN_OR_RETURN(std::unique_ptr<wal::IoBackend> backend,
                     wal::MakeIoBackend(wal::IoKind::kPosix));
    wal::Wal::Options options;
    options.dir = run->wal_dir_;
    options.modes = modes;
    options.segment_bytes = segment_bytes;
    ASSIGN_OR_RETURN(run->wal_, wal::Wal::Start(options, std::move(backend), recovered));
    run->store_.set_change_log(run->wal_.get());
    return run;
  }

  mvcc::Store& store() { return store_; }
  lease::Lessor& lessor() { return lessor_; }
  const std::string& wal_dir() const { return wal_dir_; }

  absl::Status Put(std::string key, std::string value, int64_t lease = 0) {
    etcdserverpb::PutRequest req = fuzz::Put(std::move(key), std::move(value), lease);
    etcdserverpb::PutResponse resp;
    return store_.Put(req, &resp);
  }
  // Waits until the Wal wrote everything so far (fsync mode: the next write starts a new batch,
  // so full segments rotate between writes).
  void Sync() {
    absl::Notification done;
    wal_->AfterDurable([&done](absl::Status) { done.Notify(); });
    done.WaitForNotification();
  }
  void Finish() {
    wal_->Stop();
    store_.set_change_log(nullptr);
  }

 private:
  explicit WalRun(const std::string& dir) : wal_dir_(wal::WalDir(dir)), lessor_({}, &store_) {}

  std::string wal_dir_;
  mvcc::Store store_;
  lease::Lessor lessor_;
  std::unique_ptr<wal::Wal> wal_;
};

// Writes that touch every stream of the image format, leases and a compaction.
absl::Status BasicWrites(WalRun& run) {
  RETURN_IF_ERROR(run.Put("/registry/pods/default/a", "pod a"));
  RETURN_IF_ERROR(run.Put("/registry/coordination.k8s.io/leases/kube-node-lease/n1", "n1"));
  RETURN_IF_ERROR(run.Put("/other/x", "x"));
  RETURN_IF_ERROR(run.Put("/registry/pods/default/a", "pod a v2"));
  ASSIGN_OR_RETURN(lease::Lessor::Granted granted, run.lessor().Grant(77, 60, absl::Now()));
  RETURN_IF_ERROR(run.Put("/registry/pods/default/leased", "l", granted.id));
  RETURN_IF_ERROR(run.lessor().Grant(78, 30, absl::Now()).status());
  RETURN_IF_ERROR(run.lessor().Revoke(granted.id));
  RETURN_IF_ERROR(run.store().Compact(run.store().revision() - 1));
  // A transaction over three streams.
  etcdserverpb::TxnRequest txn;
  *txn.add_success()->mutable_request_put() = Put("/registry/pods/default/b", "pod b");
  *txn.add_success()->mutable_request_put() = Put("/other/y", "y");
  *txn.add_success()->mutable_request_delete_range() =
      Delete("/registry/coordination.k8s.io/leases/", "/registry/coordination.k8s.io/leases0");
  etcdserverpb::TxnResponse resp;
  return run.store().Txn(txn, &resp);
}

// Packs the live and garbage files of the wal dir as an image. `edit(relative path, content)`
// may change a file's content first.
absl::StatusOr<std::string> Pack(
    const std::string& wal_dir, uint8_t flags,
    const std::function<void(const std::string&, std::string*)>& edit = [](const std::string&,
                                                                           std::string*) {}) {
  std::string image(1, static_cast<char>(flags));
  ASSIGN_OR_RETURN(std::vector<wal::StreamFiles> streams, wal::ListStreams(wal_dir));
  for (const wal::StreamFiles& s : streams) {
    std::vector<ImageFile> files;
    if (s.checkpoint) files.push_back({s.stream, *s.checkpoint, true});
    for (uint64_t seq : s.logs) files.push_back({s.stream, seq, false});
    for (const ImageFile& f : files) {
      std::optional<uint8_t> tag = ImageTag(f);
      if (!tag) return absl::InternalError(absl::StrCat("no image tag for ", f.RelativePath()));
      std::string content = ReadFile(fs::path(wal_dir) / f.RelativePath());
      edit(f.RelativePath(), &content);
      AppendChunk(*tag, content, &image);
    }
  }
  return image;
}

// Recovers the image's files as the fuzz target would, to check that a seed loads.
absl::Status CheckRecovers(const std::string& wal_dir, size_t want_torn, size_t want_findings) {
  mvcc::Store store;
  lease::Lessor lessor({}, &store);
  ASSIGN_OR_RETURN(wal::RecoverySummary summary,
                   wal::Recover({wal_dir, false}, &store, &lessor, absl::Now()));
  if (summary.torn_tails != want_torn || summary.incomplete_batches.size() != want_findings) {
    return absl::InternalError(absl::StrCat(wal_dir, ": ", summary.torn_tails, " torn tails, ",
                                            summary.incomplete_batches.size(),
                                            " incomplete-batch findings"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "rametcd-seed-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return absl::InternalError("mkdtemp failed");
  return tmpl;
}

absl::Status WriteWalSeeds(const std::string& dir) {
  // Plain: every stream, buffered; also as an image with fixed checksums.
  ASSIGN_OR_RETURN(std::string plain_dir, TempDir());
  {
    ASSIGN_OR_RETURN(std::unique_ptr<WalRun> run,
                     WalRun::Start(plain_dir, wal::ModeTable(), 64 << 20));
    RETURN_IF_ERROR(BasicWrites(*run));
    run->Finish();
    ASSIGN_OR_RETURN(std::string image, Pack(run->wal_dir(), 0));
    RETURN_IF_ERROR(WriteFile(dir + "basic.img", image));
    ASSIGN_OR_RETURN(image, Pack(run->wal_dir(), kImageFixChecksums));
    RETURN_IF_ERROR(WriteFile(dir + "basic_fixed.img", image));
    // The last record of the pods stream (its batch end) cut short: a torn tail that leaves the
    // last batch, which also wrote _other and the leases stream, incomplete.
    ASSIGN_OR_RETURN(image, Pack(run->wal_dir(), 0, [](const std::string& path, std::string* c) {
                       if (path.starts_with(wal::StreamDirName("/registry/pods/"))) {
                         c->resize(c->size() - 5);
                       }
                     }));
    RETURN_IF_ERROR(WriteFile(dir + "torn_txn.img", image));
    // A flipped byte inside the first record of _other: corruption, skipped with the flag.
    ASSIGN_OR_RETURN(
        image, Pack(run->wal_dir(), kImageSkipDamaged, [](const std::string& path, std::string* c) {
          if (path.starts_with("_other")) (*c)[c->size() / 3] ^= 0x40;
        }));
    RETURN_IF_ERROR(WriteFile(dir + "corrupt_skipped.img", image));
    RETURN_IF_ERROR(CheckRecovers(run->wal_dir(), 0, 0));
  }
  fs::remove_all(plain_dir);

  // Small segments, a checkpoint of the first ones (as rametcd-recover compact writes it) and
  // later segments; events kept in memory only, so _meta gets revision marks.
  ASSIGN_OR_RETURN(std::string ckpt_dir, TempDir());
  {
    wal::ModeTable modes(wal::Mode::kFsync);
    RETURN_IF_ERROR(modes.AddPrefix("/registry/events/=none"));
    ASSIGN_OR_RETURN(std::unique_ptr<WalRun> run, WalRun::Start(ckpt_dir, modes, 200));
    for (int i = 0; i < 4; ++i) {
      RETURN_IF_ERROR(run->Put(absl::StrCat("/registry/pods/ns/p", i), absl::StrCat("v", i)));
      RETURN_IF_ERROR(run->Put(absl::StrCat("/other/o", i % 2), absl::StrCat("o", i)));
      run->Sync();
    }
    RETURN_IF_ERROR(run->Put("/registry/events/ns/e1", "event"));
    RETURN_IF_ERROR(run->store().Compact(4));
    RETURN_IF_ERROR(BasicWrites(*run));
    RETURN_IF_ERROR(run->Put("/registry/events/ns/e2", "event"));
    run->Finish();
    ASSIGN_OR_RETURN(std::vector<wal::StreamFiles> streams, wal::ListStreams(run->wal_dir()));
    for (const wal::StreamFiles& s : streams) {
      if (s.stream != "/registry/pods/" || s.logs.size() < 2) continue;
      ASSIGN_OR_RETURN(wal::StreamState state, wal::ReplayStream(s, s.logs[1], false));
      wal::CompactState(4, &state);
      RETURN_IF_ERROR(wal::WriteCheckpoint(s, s.logs[1], state).status());
    }
    ASSIGN_OR_RETURN(std::string image, Pack(run->wal_dir(), 0));
    RETURN_IF_ERROR(WriteFile(dir + "checkpoint.img", image));
    RETURN_IF_ERROR(CheckRecovers(run->wal_dir(), 0, 0));
  }
  fs::remove_all(ckpt_dir);
  return absl::OkStatus();
}

// ---- history_ring_fuzz: bounds (u8 events, u16 bytes / 4), then operations.

// The operations of history_ring_fuzz.cc, appended to a seed.
struct RingOps {
  std::string bytes;
  RingOps(uint8_t max_events, uint16_t max_bytes_4) {
    bytes = {static_cast<char>(max_events), static_cast<char>(max_bytes_4 & 0xff),
             static_cast<char>(max_bytes_4 >> 8)};
  }
  RingOps& Append(uint8_t step, uint8_t events, uint16_t event_bytes) {
    bytes += {0, static_cast<char>(step), static_cast<char>(events),
              static_cast<char>(event_bytes & 0xff), static_cast<char>(event_bytes >> 8)};
    return *this;
  }
  RingOps& Reset(uint8_t arg) {
    bytes += {1, static_cast<char>(arg)};
    return *this;
  }
  RingOps& Read(int8_t delta) {
    bytes += {2, static_cast<char>(delta)};
    return *this;
  }
  RingOps& Hold() {
    bytes += '\3';
    return *this;
  }
};

absl::Status WriteHistoryRingSeeds(const std::string& dir) {
  RingOps tight(4, 100);  // 4 events, 400 bytes
  tight.Append(0, 2, 50)
      .Hold()
      .Append(1, 3, 100)  // two revisions later
      .Append(0, 1, 200)  // the oldest goes
      .Read(0)            // from covered_from()
      .Read(-1)           // from before it: evicted
      .Reset(6)           // to the next revision
      .Append(0, 0, 256)  // a revision without events
      .Read(1);
  RETURN_IF_ERROR(WriteFile(dir + "tight.bin", tight.bytes));
  RingOps loose(100, 0xffff);
  for (int i = 0; i < 20; ++i) loose.Append(i, i % 8, 10);
  loose.Read(0).Hold().Reset(2).Read(5);
  return WriteFile(dir + "loose.bin", loose.bytes);
}

}  // namespace

absl::Status WriteStoreSeeds(const std::string& corpus) {
  for (std::string_view target : {"request_fuzz", "wal_recovery_fuzz", "history_ring_fuzz"}) {
    fs::create_directories(fs::path(corpus) / target);
  }
  RETURN_IF_ERROR(WriteRequestSeeds(corpus + "/request_fuzz/"));
  RETURN_IF_ERROR(WriteWalSeeds(corpus + "/wal_recovery_fuzz/"));
  return WriteHistoryRingSeeds(corpus + "/history_ring_fuzz/");
}

}  // namespace rametcd::fuzz
