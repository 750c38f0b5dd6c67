// libFuzzer target: arbitrary bytes as the files of a data dir's wal/ directory (the format of
// fuzz_inputs.h: a flags byte, then one chunk per file, naming its stream, seq, kind), recovered
// with wal::Recover into an mvcc::Store and a lease::Lessor as the server does on start: the
// directory listing, the file headers, the frame scan (torn tails versus corruption), record
// decoding, checkpoints, incomplete batches, the cuts recovery makes, and the store's
// restore. With the flag kImageFixChecksums every frame gets valid checksums first, so that
// mutated records reach the decoder and the store.
//
// Checks: Recover returns OK or DataLoss, never anything else, a crash, or a hang. After a load:
// every version in the store and every lease in the Lessor comes from a record whose checksums
// hold somewhere in the input files (an independent scan of every offset), and the store's
// revision is one some such record names (or 1); the store's read API and counters agree with
// its versions and the Lessor's leases with the store's (store_check.h); recovering the files
// recovery left behind gives the same state (revision, compaction point, HashAt, every key,
// leases) with nothing left to cut; and the store goes on as the server's would: a put makes the
// next revision, and a compaction at it releases the history, with the checks holding again.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/crc32c.h"
#include "base/logging.h"
#include "fuzz_inputs.h"
#include "fuzz_support.h"
#include "google/protobuf/stubs/logging.h"
#include "lease/lessor.h"
#include "mvcc/store.h"
#include "rametcd/wal/record.pb.h"
#include "store_check.h"
#include "wal/frame.h"
#include "wal/layout.h"
#include "wal/recovery.h"

namespace rametcd::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path& Root() {
  static const fs::path root =
      (fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path()) /
      absl::StrCat("rametcd-wal-recovery-fuzz-", getpid());
  return root;
}

uint32_t LoadU32(std::string_view data, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(data[pos + i]);
  return v;
}

// kImageFixChecksums: the header's crc (when its magic and name length are plausible) and every
// frame that its length fits, rewritten through the writer's own AppendFrame.
std::string FixChecksums(std::string_view file) {
  constexpr size_t kFixed = 28;  // magic, version, kind, seq, name length
  size_t pos = 0;
  std::string out;
  if (file.size() >= kFixed + 4 && file.substr(0, 8) == "RAMETCDW" &&
      LoadU32(file, 24) <= file.size() - kFixed - 4) {
    pos = kFixed + LoadU32(file, 24);
    out.assign(file.substr(0, pos));
    const uint32_t crc = Crc32c(out);
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
    pos += 4;
  }
  while (file.size() - pos >= wal::kFrameHeaderBytes) {
    const uint32_t length = LoadU32(file, pos);
    if (length == 0 || length > file.size() - pos - wal::kFrameHeaderBytes) break;
    wal::AppendFrame(file.substr(pos + wal::kFrameHeaderBytes, length), &out);
    pos += wal::kFrameHeaderBytes + length;
  }
  out.append(file.substr(pos));
  return out;
}

// What the records with valid checksums, wherever they start, say: an upper bound of what a
// recovery may load.
struct Oracle {
  using Version = std::tuple<std::string, int64_t, int64_t, int64_t, int64_t, std::string>;
  std::set<Version> versions;  // key, mod_revision, create_revision, version, lease, value
  std::set<int64_t> leases;
  std::set<int64_t> revisions = {1};

  void Add(std::string_view key, int64_t mod, const mvccpb::KeyValue& kv) {
    versions.emplace(key, mod, kv.create_revision(), kv.version(), kv.lease(), kv.value());
    revisions.insert(mod);
  }

  void Scan(std::string_view data) {
    for (size_t p = 0; p + wal::kFrameHeaderBytes <= data.size(); ++p) {
      if (Crc32c(data.substr(p, 8)) != LoadU32(data, p + 8)) continue;
      const uint32_t length = LoadU32(data, p);
      if (length > data.size() - p - wal::kFrameHeaderBytes) continue;
      const std::string_view payload = data.substr(p + wal::kFrameHeaderBytes, length);
      wal::Record r;
      if (Crc32c(payload) != LoadU32(data, p + 4) ||
          !r.ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
        continue;
      }
      for (const mvccpb::KeyValue& kv : r.txn().changes()) Add(kv.key(), r.txn().revision(), kv);
      for (const mvccpb::KeyValue& kv : r.key_history().versions()) {
        Add(kv.key(), kv.mod_revision(), kv);
      }
      if (r.has_lease_grant()) leases.insert(r.lease_grant().id());
      for (int64_t rev :
           {r.txn().revision(), r.compaction().revision(), r.revision_mark().revision(),
            r.checkpoint_end().covered_revision(), r.checkpoint_end().compacted_revision()}) {
        revisions.insert(rev);
      }
    }
  }

  void Check(const mvcc::Store& store, const std::vector<int64_t>& lessor_leases) const {
    store.ForEachKey([&](std::string_view key, const mvcc::KeyEntry& entry) {
      for (const mvcc::KeyVersion& v : entry.versions) {
        Require(versions.contains({std::string(key), v.mod_revision, v.create_revision, v.version,
                                   v.lease, std::string(v.value.view())}),
                absl::StrCat("a loaded version (at ", v.mod_revision,
                             ") is in no record with valid checksums"));
      }
    });
    for (int64_t id : lessor_leases) {
      Require(leases.contains(id), "a loaded lease is in no record with valid checksums");
    }
    Require(revisions.contains(store.revision()),
            absl::StrCat("the store's revision ", store.revision(), " is in no valid record"));
  }
};

// What a recovered store holds, as text: equal texts mean equal states.
struct Loaded {
  wal::RecoverySummary summary;
  std::string state;
};

absl::StatusOr<Loaded> RecoverInto(mvcc::Store& store, lease::Lessor& lessor, bool skip) {
  const std::string wal_dir = (Root() / "wal").string();
  absl::StatusOr<wal::RecoverySummary> summary =
      wal::Recover({wal_dir, skip}, &store, &lessor, absl::UnixEpoch());
  if (!summary.ok()) return summary.status();
  Require(summary->revision == store.revision() && summary->compacted == store.compacted_revision(),
          "the summary's revision or compaction point is not the store's");
  CheckStoreReads(store);
  CheckLeases(store, lessor.Leases());
  absl::StatusOr<std::string> listing = ListAll(store, 0);
  Require(listing.ok(), "range over all keys failed", listing.status());
  const absl::StatusOr<uint32_t> hash = store.HashAt(0);
  Require(hash.ok(), "HashAt(0) failed", hash.status());
  std::string leases;
  for (int64_t id : lessor.Leases()) absl::StrAppend(&leases, id, " ");
  return Loaded{*std::move(summary), absl::StrCat(store.revision(), " ", store.compacted_revision(),
                                                  " ", *hash, " ", leases, "\n", *listing)};
}

void Run(std::string_view data) {
  InputReader in(data);
  const uint8_t flags = in.U8();
  const bool skip = (flags & kImageSkipDamaged) != 0;
  std::map<std::string, std::string> files;  // path under wal/ -> content
  while (!in.empty()) {
    uint8_t tag = 0;
    const std::string_view bytes = in.Chunk(&tag);
    files[ImageFileOfTag(tag).RelativePath()].append(bytes);
  }
  Oracle oracle;
  std::error_code ec;
  fs::remove_all(Root(), ec);
  for (auto& [path, content] : files) {
    if (flags & kImageFixChecksums) content = FixChecksums(content);
    if (!path.ends_with(".tmp")) oracle.Scan(content);
    const fs::path full = Root() / "wal" / path;
    fs::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary) << content;
  }

  mvcc::Store store;
  lease::Lessor lessor({}, &store);
  absl::StatusOr<Loaded> first = RecoverInto(store, lessor, skip);
  if (!first.ok()) {
    RequireOkOrDataLoss(first.status(), "Recover");
    return;
  }
  oracle.Check(store, lessor.Leases());

  // What recovery left on disk loads again into the same state, with nothing more to cut.
  mvcc::Store again_store;
  lease::Lessor again_lessor({}, &again_store);
  absl::StatusOr<Loaded> again = RecoverInto(again_store, again_lessor, skip);
  Require(again.ok(), "recovering what a recovery left failed", again.status());
  Require(again->state == first->state,
          absl::StrCat("a second recovery loads another state:\n", absl::CEscape(first->state),
                       "\nthen:\n", absl::CEscape(again->state)));
  Require(again->summary.incomplete_batches.empty() && (skip || again->summary.torn_tails == 0),
          "a second recovery still cuts something");

  // The server goes on: a write at the next revision, a compaction at it.
  const int64_t revision = store.revision();
  etcdserverpb::PutRequest put;
  put.set_key("/registry/pods/after-recovery");
  put.set_value("v");
  etcdserverpb::PutResponse put_resp;
  const absl::Status put_status = store.Put(put, &put_resp);
  Require(put_status.ok() && put_resp.header().revision() == revision + 1 &&
              store.revision() == revision + 1,
          "a put after recovery does not make the next revision", put_status);
  const absl::Status compacted = store.Compact(store.revision());
  Require(compacted.ok(), "a compaction at the revision after recovery failed", compacted);
  while (!store.CompactSome(64)) {
  }
  CheckStoreReads(store);
  CheckLeases(store, lessor.Leases());
}

}  // namespace
}  // namespace rametcd::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Recovery logs every torn tail and cut, and protobuf every string field that is not UTF-8:
  // damage is what this target feeds them. (A CHECK failure's log line goes too; its stack trace
  // does not.)
  google::protobuf::SetLogHandler(nullptr);
  rametcd::SetLogLevel(
      static_cast<rametcd::LogLevel>(static_cast<int>(rametcd::LogLevel::kError) + 1));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rametcd::fuzz::Run(std::string_view(reinterpret_cast<const char*>(data), size));
  std::error_code ec;
  std::filesystem::remove_all(rametcd::fuzz::Root(), ec);
  return 0;
}
